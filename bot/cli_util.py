"""Small checks shared by CLI commands."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every command imports this module: SQLAlchemy and Alembic load only when used
    from sqlalchemy import Engine


class UserError(Exception):
    """An error the user can fix; printed as one line with exit code 2."""


def require_schema(engine: Engine) -> None:
    from bot import migrate
    from bot.db import DatabaseConfigError, safe_url

    if migrate.current_revision(engine) is None:
        raise DatabaseConfigError(f"database {safe_url(engine.url)} has no schema; run `chatops db upgrade` first")


def ensure_schema(engine: Engine) -> None:
    """The embedded SQLite default migrates itself (zero set-up); PostgreSQL must be upgraded
    explicitly (`chatops db upgrade`, the Procfile's release step), never by every process at once."""
    if engine.dialect.name == "sqlite":
        from bot import migrate

        migrate.upgrade(engine)
    else:
        require_schema(engine)


def engine_for_cli(settings, engine: str | None):  # noqa: ANN001, ANN201 (Settings -> EngineSettings)
    """Engine settings for a CLI command; asking for a model that is not configured is a usage error."""
    from bot.wiring import engine_settings

    eng = engine_settings(settings, engine)
    if eng.chosen() == "anthropic" and not eng.api_key:
        raise UserError("--engine anthropic needs ANTHROPIC_API_KEY")
    if eng.chosen() == "openai" and not (eng.model and (eng.base_url or eng.api_key)):
        raise UserError("--engine openai needs LLM_MODEL and LLM_BASE_URL (or OPENAI_API_KEY for api.openai.com)")
    return eng
