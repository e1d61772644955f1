"""`chatops audit verify|export`."""
from __future__ import annotations

import argparse
import sys

from bot.cli_util import require_schema


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify or export the hash-chained audit log")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    v = asub.add_parser("verify", help="walk the chain; exit 1 naming the first bad seq")
    v.set_defaults(func=cmd_verify)
    e = asub.add_parser("export", help="export every audit row")
    e.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    e.add_argument("--output", "-o", help="file to write (default: stdout)")
    e.set_defaults(func=cmd_export)


def cmd_verify(args: argparse.Namespace) -> int:
    from bot import audit
    from bot.context import get_engine, get_sessionmaker

    require_schema(get_engine())
    with get_sessionmaker()() as s:
        result = audit.verify(s)
    if result.ok:
        print(f"audit chain OK: {result.count} rows")
        return 0
    print(f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason}", file=sys.stderr)
    return 1


def cmd_export(args: argparse.Namespace) -> int:
    from bot import audit
    from bot.context import get_engine, get_sessionmaker

    require_schema(get_engine())
    with get_sessionmaker()() as s:
        if args.output:
            with open(args.output, "w", newline="", encoding="utf-8") as fh:
                n = audit.export(s, args.format, fh)
            print(f"exported {n} audit rows to {args.output}", file=sys.stderr)
        else:
            audit.export(s, args.format, sys.stdout)
    return 0
