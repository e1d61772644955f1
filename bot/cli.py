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

# Only what builds the parser is imported here: `chatops --help` must not load pydantic,
# SQLAlchemy or any SDK (tests/test_startup_imports.py). A command imports what it runs.
from bot import cli_logging
from bot.cli_util import UserError
from bot.commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatops", description="ChatOps incident bot for Slack and Microsoft Teams.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


class _Version(argparse._VersionAction):
    """--version, looked up only when asked: reading the package metadata costs every other run ~50 ms."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001, ANN204
        self.version = f"%(prog)s {_version()}"
        super().__call__(parser, namespace, values, option_string)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

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
    from pydantic import ValidationError  # after parsing: --help and usage errors never load them

    from bot.db import DatabaseConfigError

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
