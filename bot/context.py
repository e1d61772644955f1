"""Process-wide wiring from settings: engine and session factory, built lazily once."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, session_factory
from bot.settings import get_settings


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return engine_for(get_settings().sqlalchemy_url())


def get_sessionmaker() -> sessionmaker[Session]:
    return session_factory(get_engine())
