"""`chatops` entry point. Each command group lives in bot/commands/ and registers itself.

Exit codes: 0 success, 1 a check found a problem (e.g. a broken audit chain),
2 bad usage or an unusable configuration (one clear line, never a traceback),
141 the reader of stdout went away (`chatops ... | head`), like a Unix tool killed by SIGPIPE.
"""
from __future__ import annotations

import argparse
import os
import select
import sys
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from bot import cli_logging
from bot.cli_util import UserError
from bot.commands import COMMAND_MODULES
from bot.db import DatabaseConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatops", description="ChatOps incident bot for Slack and Microsoft Teams.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _version() -> str:
    try:
        return version("chatops-incident-bot")
    except PackageNotFoundError:  # run from a checkout that was never pip-installed
        return "unknown (not installed)"


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has gone (POLLERR), not some socket's broken pipe."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() here, or stdout is not a file
        return False


def _quiet_exit() -> int:
    """Point stdout at /dev/null so the interpreter's final flush does not print a second
    BrokenPipeError, and exit with the shell's SIGPIPE status."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 128 + 13


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from bot.settings import get_settings

        cli_logging.configure("DEBUG" if args.verbose else get_settings().log_level)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return code
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        return _quiet_exit()
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
