"""`chatops config`: every setting with its current value (secrets masked)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show every setting (secrets masked)")
    p.add_argument("--markdown", action="store_true", help="print the README configuration table")
    p.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    from bot.settings import get_settings

    settings = get_settings()
    rows = settings.describe()
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
    _mcp_tool_sources(settings)
    return 0


def _mcp_tool_sources(settings) -> None:  # noqa: ANN001
    """What each MCP_SERVERS server offers the agent, and which tools it refused and why."""
    from bot.wiring import mcp_servers
    from tools.mcp_source import McpHub, describe

    specs = mcp_servers(settings)
    if not specs:
        return
    hub = McpHub()
    try:
        lines = describe(hub.inventory(specs, settings.mcp_tool_allowlist, settings.tool_timeout_seconds))
    finally:
        hub.close()
    print("\nMCP tool sources (MCP_SERVERS):")
    for line in lines:
        print(f"  {line}")
