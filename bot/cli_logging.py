"""Logging for `chatops` commands: a command prints its own output, not its libraries' chatter.

Alembic logs two INFO lines per connection (so every readiness probe), opensearch-py one per
request, Drain3 one per template miner. Below WARNING only the project's own loggers pass;
LOG_LEVEL=DEBUG (or -v) lets everything through.
"""
from __future__ import annotations

import logging

OWN_PACKAGES = frozenset({"bot", "agents", "tools", "knowledge", "migrations", "__main__"})
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LibraryQuiet(logging.Filter):
    """On the handler, not on the loggers: a library that sets its own logger level is still held back."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.partition(".")[0] in OWN_PACKAGES


def configure(level_name: str) -> None:
    root = logging.getLogger()
    if root.handlers:  # the embedding process (e.g. pytest running main() in-process) owns logging
        return
    level = logging.getLevelName(level_name.upper())
    level = level if isinstance(level, int) else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    if level > logging.DEBUG:
        handler.addFilter(LibraryQuiet())
    root.addHandler(handler)
    root.setLevel(level)
