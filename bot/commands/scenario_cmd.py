"""`chatops scenario check DIR` and `chatops scenario tool DIR NAME [--args JSON]`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.cli_util import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenario", help="validate and replay incident scenario bundles")
    ssub = p.add_subparsers(dest="scenario_command", metavar="ACTION")
    ssub.required = True
    c = ssub.add_parser("check", help="validate a bundle (or a folder of bundles) and say what each source holds")
    c.add_argument("path", type=Path)
    c.add_argument("--deep", action="store_true", help="also backfill metrics with promtool into a temporary TSDB")
    c.set_defaults(func=cmd_check)
    t = ssub.add_parser("tool", help="replay a bundle's backends and run one tool against them")
    t.add_argument("path", type=Path)
    t.add_argument("tool", nargs="?", help="tool name (omit to list tools)")
    t.add_argument("--args", default="{}", help="tool arguments as a JSON object")
    t.set_defaults(func=cmd_tool)


def cmd_check(args: argparse.Namespace) -> int:
    from tools.scenario.check import check_many, render

    if not args.path.exists():
        raise UserError(f"{args.path} does not exist")
    reports = check_many(args.path, deep=args.deep)
    if not reports:
        raise UserError(f"no scenario.yaml found under {args.path}")
    for rep in reports:
        print(render(rep))
    bad = [r for r in reports if not r.ok]
    print(f"{len(reports) - len(bad)}/{len(reports)} bundles OK")
    return 1 if bad else 0


def cmd_tool(args: argparse.Namespace) -> int:
    from tools.scenario.backends import ScenarioBackends
    from tools.scenario.bundle import ScenarioError, load_scenario

    try:
        tool_args = json.loads(args.args)
        scenario = load_scenario(args.path)
    except json.JSONDecodeError as exc:
        raise UserError(f"--args is not JSON: {exc}") from None
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    with ScenarioBackends(scenario) as backends:
        sources = backends.sources()
        try:
            for src, why in sorted(sources.unavailable.items()):
                print(f"unavailable: {src}: {why}", file=sys.stderr)
            if not args.tool:
                for name in sources.registry.names():
                    print(name)
                return 0
            result = asyncio.run(sources.registry.run(args.tool, tool_args))
            print(json.dumps(result.to_dict(), indent=2, default=str))
            return 0 if result.status != "error" else 1
        finally:
            sources.close()
