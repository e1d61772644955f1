"""`chatops db upgrade` on empty SQLite and PostgreSQL, idempotent; clear errors for bad URLs."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect

from bot.cli import main as cli_main
from bot.db import make_engine
from bot.models import Base

TABLES = {"incidents", "agent_sessions", "tool_calls", "diagnoses", "remediation_proposals",
          "approvals", "conversations", "audit_log", "followups"}


def _schema(url):
    eng = make_engine(url)
    insp = inspect(eng)
    snap = {t: sorted((c["name"], str(c["type"])) for c in insp.get_columns(t)) for t in insp.get_table_names()}
    eng.dispose()
    return snap


def test_upgrade_creates_every_table_and_is_idempotent(db_url, cli_env, capsys):
    cli_env(db_url)
    assert cli_main(["db", "upgrade"]) == 0
    assert "upgraded from empty" in capsys.readouterr().out
    first = _schema(db_url)
    assert TABLES <= set(first)
    # Columns match the models exactly (the migration did not drift from bot/models.py).
    for table in TABLES:
        assert {c for c, _ in first[table]} == set(Base.metadata.tables[table].columns.keys()), table
    assert cli_main(["db", "upgrade"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _schema(db_url) == first


def test_default_is_sqlite_in_data_dir(cli_env, tmp_path):
    cli_env(None)
    assert cli_main(["db", "upgrade"]) == 0
    assert (tmp_path / "data" / "chatops.db").exists()


def _run_cli(env_url, *args):
    env = {**os.environ, "DATABASE_URL": env_url}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("url,expect", [
    ("not a url", "not a valid database URL"),
    ("mysql://root@localhost/db", "unsupported backend"),
    ("postgresql://admin:hunter2@127.0.0.1:1/chatops", "cannot connect"),
    ("sqlite:////proc/forbidden/dir/x.db", "database"),
])
def test_bad_database_url_is_one_line_exit_2(url, expect):
    proc = _run_cli(url, "db", "upgrade")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expect in lines[0] and "Traceback" not in proc.stderr
    assert "hunter2" not in proc.stderr


def test_schema_missing_is_clear(cli_env, capsys):
    cli_env(None)
    assert cli_main(["audit", "verify"]) == 2
    assert "chatops db upgrade" in capsys.readouterr().err


def test_jobs_migration_installs_procrastinate_on_postgresql_and_downgrades_clean(db_url):
    """0005 creates the jobs table everywhere and Procrastinate's schema on PostgreSQL; going back
    to 0004 removes both (tables, functions and types), and upgrading again works."""
    from alembic import command
    from sqlalchemy import inspect, text

    from bot import migrate
    from bot.db import make_engine

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    pg = engine.dialect.name == "postgresql"

    def objects() -> tuple[set[str], int]:
        tables = set(inspect(engine).get_table_names())
        if not pg:
            return tables, 0
        with engine.connect() as c:
            funcs = c.execute(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'")).scalar_one()
        return tables, funcs

    tables, funcs = objects()
    assert "jobs" in tables
    assert ("procrastinate_jobs" in tables and funcs > 10) if pg else "procrastinate_jobs" not in tables
    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004_incident_ageing")
    tables, funcs = objects()
    assert "jobs" not in tables and not any(t.startswith("procrastinate") for t in tables) and funcs == 0
    migrate.upgrade(engine)
    assert "jobs" in objects()[0]
    engine.dispose()
