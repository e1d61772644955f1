"""Run Alembic migrations programmatically (the `chatops db upgrade` command)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations

SCRIPT_LOCATION = str(Path(migrations.__file__).resolve().parent)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(SCRIPT_LOCATION).get_current_head()


def is_newer(revision: str | None) -> bool:
    """True when the database carries a revision this code does not know: a later release migrated it."""
    if not revision:
        return False
    try:
        return ScriptDirectory(SCRIPT_LOCATION).get_revision(revision) is None
    except Exception:  # alembic raises for an unknown id
        return True


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Returns (before, after) revisions; equal when there was nothing to do."""
    before = current_revision(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(engine)
