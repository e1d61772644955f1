"""Database engine creation with clear errors, and SQLite tuned for concurrent writers.

SQLite is the embedded default; PostgreSQL is production. Both run the same code:
the only dialect-specific parts are how a writer takes the lock (BEGIN IMMEDIATE on
SQLite, an advisory transaction lock on PostgreSQL) and the append-only triggers.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


class DatabaseConfigError(Exception):
    """A one-line, secret-free explanation of why the database can't be used."""


def normalize_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseConfigError(f"DATABASE_URL is not a valid database URL ({exc.__class__.__name__}); "
                                  "expected e.g. postgresql://user:pass@host:5432/db or sqlite:///path.db") from None
    # Plain postgresql:// would pick psycopg2, which we do not ship; psycopg 3 is the driver.
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseConfigError(f"DATABASE_URL uses unsupported backend {url.get_backend_name()!r}; "
                                  "use sqlite or postgresql")
    return url


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def make_engine(raw_url: str, *, check: bool = True) -> Engine:
    url = normalize_url(raw_url)
    kwargs: dict = {"future": True}
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        if db and db != ":memory:":
            try:
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseConfigError(f"cannot create the database directory for {db}: {exc.strerror}") from None
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseConfigError(f"cannot use DATABASE_URL {safe_url(url)}: {exc}") from None
    if url.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
            raise DatabaseConfigError(f"cannot connect to database {safe_url(url)}: {reason}") from None
        except SQLAlchemyError as exc:
            raise DatabaseConfigError(f"database {safe_url(url)} is unusable: {exc.__class__.__name__}") from None
    return engine


def _tune_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and would let two writers both read
    # the audit chain head before either writes; BEGIN IMMEDIATE serialises writers instead.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session:
        with session.begin():
            yield session


def take_write_lock(session: Session, key: str) -> None:
    """Serialise writers that must see each other's rows (audit chain head, proposal states)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
    # SQLite: BEGIN IMMEDIATE already holds the database's single write lock.
