"""Shared fixtures. `db_url` runs a test on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import os

import pytest

from tests.pgserver import PostgresServer, pg_bin_dir
from tests.support import need


@pytest.fixture(scope="session")
def pg_server():
    need(pg_bin_dir() is not None, "PostgreSQL not installed (apt-get install postgresql; .ci/run does)")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatops.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database()


@pytest.fixture
def pg_url(pg_server):
    return pg_server.create_database()


@pytest.fixture
def migrated(db_url):
    """(engine, sessionmaker) on an upgraded empty database."""
    from bot import migrate
    from bot.db import make_engine, session_factory

    engine = make_engine(db_url)
    migrate.upgrade(engine)
    yield engine, session_factory(engine)
    engine.dispose()


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    """Run `chatops` in-process against a given DATABASE_URL with fresh settings."""
    from bot import context
    from bot.settings import get_settings

    def use(url: str | None) -> None:
        if url is None:
            monkeypatch.delenv("DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        get_settings.cache_clear()
        context.engine_for.cache_clear()

    monkeypatch.chdir(tmp_path)
    yield use
    get_settings.cache_clear()
    context.engine_for.cache_clear()
