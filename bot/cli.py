"""`chatops` entry point. Each command group lives in bot/commands/ and registers itself.

Exit codes: 0 success, 1 a check found a problem (e.g. a broken audit chain),
2 bad usage or an unusable configuration (one clear line, never a traceback).
"""
from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from bot.cli_util import UserError
from bot.commands import COMMAND_MODULES
from bot.db import DatabaseConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatops", description="ChatOps incident bot for Slack and Microsoft Teams.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from bot.settings import get_settings

        level = "DEBUG" if args.verbose else get_settings().log_level.upper()
        logging.basicConfig(level=getattr(logging, level, logging.INFO),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return int(args.func(args) or 0)
    except (DatabaseConfigError, UserError) as exc:
        print(f"chatops: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        print(f"chatops: error: invalid setting {where.upper()}: {first.get('msg')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
