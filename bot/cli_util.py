"""Small checks shared by CLI commands."""
from __future__ import annotations

from sqlalchemy import Engine

from bot import migrate
from bot.db import DatabaseConfigError, safe_url


class UserError(Exception):
    """An error the user can fix; printed as one line with exit code 2."""


def require_schema(engine: Engine) -> None:
    if migrate.current_revision(engine) is None:
        raise DatabaseConfigError(f"database {safe_url(engine.url)} has no schema; run `chatops db upgrade` first")


def ensure_schema(engine: Engine) -> None:
    """The embedded SQLite default migrates itself (zero set-up); PostgreSQL must be upgraded
    explicitly (`chatops db upgrade`, the Procfile's release step), never by every process at once."""
    if engine.dialect.name == "sqlite":
        migrate.upgrade(engine)
    else:
        require_schema(engine)
