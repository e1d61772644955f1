"""Alembic environment. The URL comes from bot.migrate (config attribute), never alembic.ini,
so that no password is written to a file and `%` in passwords needs no escaping."""
from __future__ import annotations

from alembic import context

from bot.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run `chatops db upgrade`")
run_migrations_online()
