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


def engine_for_cli(settings, engine: str | None):  # noqa: ANN001, ANN201 (Settings -> EngineSettings)
    """Engine settings for a CLI command; asking for Anthropic without a key is a usage error."""
    from bot.wiring import engine_settings

    eng = engine_settings(settings, engine)
    if eng.chosen() == "anthropic" and not eng.api_key:
        raise UserError("--engine anthropic needs ANTHROPIC_API_KEY")
    return eng
