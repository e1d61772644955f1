"""`chatops db upgrade|current`."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema management")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", help="create or migrate every table (idempotent)")
    up.set_defaults(func=cmd_upgrade)
    cur = dsub.add_parser("current", help="show the schema revision")
    cur.set_defaults(func=cmd_current)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from bot import migrate
    from bot.context import get_engine
    from bot.db import safe_url

    engine = get_engine()
    before, after = migrate.upgrade(engine)
    where = safe_url(engine.url)
    if before == after:
        print(f"database {where} already at revision {after}; nothing to do")
    else:
        print(f"database {where} upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from bot import migrate
    from bot.context import get_engine

    engine = get_engine()
    cur, head = migrate.current_revision(engine), migrate.head_revision()
    print(f"current={cur or 'empty'} head={head}")
    return 0 if cur == head else 1
