"""`chatops config`: every setting with its current value (secrets masked)."""
from __future__ import annotations

import argparse

from bot.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show every setting (secrets masked)")
    p.add_argument("--markdown", action="store_true", help="print the README configuration table")
    p.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    rows = get_settings().describe()
    if args.markdown:
        print("| Variable | Default | Meaning |\n| --- | --- | --- |")
        from bot.settings import Settings
        defaults = {r[0]: r[1] for r in Settings.model_construct().describe()}
        for name, _, desc in rows:
            print(f"| `{name}` | `{defaults.get(name, '')}` | {desc} |".replace("``", ""))
        return 0
    width = max(len(r[0]) for r in rows)
    for name, value, _ in rows:
        print(f"{name.ljust(width)}  {value}")
    return 0
