"""`chatops mcp [--stdio | --http [--host H] [--port P]]`: the investigation as an MCP server.

--stdio (the default) serves the one local client that started this process (an IDE or coding
agent; identity mcp:stdio:<OS user>, scope MCP_STDIO_SCOPE); stdout is the protocol, everything
else goes to stderr. --http serves streamable HTTP at http://HOST:MCP_PORT/mcp to the clients of
MCP_CLIENTS, each with its own bearer token and scope.
"""
from __future__ import annotations

import argparse
import asyncio

from bot.cli_util import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", help="serve the investigation to MCP clients (coding agents, IDE assistants)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="serve the local client on stdin/stdout (default)")
    mode.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp (bearer tokens: MCP_CLIENTS)")
    p.add_argument("--host", default=None, help="with --http: listen address (default HOST)")
    p.add_argument("--port", type=int, default=None, help="with --http: listen port (default MCP_PORT, 3001)")
    p.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    from bot.settings import get_settings

    settings = get_settings()
    if not args.http and (args.host or args.port is not None):
        raise UserError("--host and --port go with --http")
    if args.http and not settings.mcp_clients:
        raise UserError("chatops mcp --http needs MCP_CLIENTS (name:scope:sha256 of each client's bearer token)")
    if args.http:
        return asyncio.run(_http(settings, args.host or settings.host,
                                 args.port if args.port is not None else settings.mcp_port))
    return asyncio.run(_stdio(settings))


async def _stdio(settings) -> int:  # noqa: ANN001
    from mcp.server.stdio import stdio_server

    from bot.mcp.app import open_app

    # Claimed first: while serving, fd 1 points at stderr, so start-up chatter (migrations, knowledge
    # ingestion, libraries) cannot corrupt the protocol on the real stdout.
    async with stdio_server() as (read, write):
        app = await open_app(settings, stdio=True)
        try:
            await app.server.run(read, write, app.server.create_initialization_options())
        finally:
            await app.close()
    return 0


async def _http(settings, host: str, port: int) -> int:  # noqa: ANN001
    from bot.mcp.app import open_app
    from bot.mcp.http import serve_http

    app = await open_app(settings, stdio=False)
    try:
        await serve_http(app.server, settings.mcp_clients, host, port)
    finally:
        await app.close()
    return 0
