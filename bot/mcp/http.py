"""`chatops mcp --http`: the MCP server over streamable HTTP, one bearer token per client.

The SDK's bearer middleware asks our TokenVerifier (bot/mcp/clients.py) about every request: no
token, or one whose SHA-256 is not in MCP_CLIENTS, gets 401 before the MCP server sees anything;
the SDK also ties each MCP session to the client that opened it.
"""
from __future__ import annotations

import asyncio

from typing import Any

from bot.mcp.clients import TokenVerifier, parse_clients

PATH = "/mcp"


def http_app(server: Any, clients: tuple[str, ...], host: str, port: int) -> Any:
    from mcp.server.auth.settings import AuthSettings

    # The SDK's auth settings are those of an OAuth resource server; we issue no tokens, so the
    # "issuer" is this server itself and no OAuth metadata routes are published.
    auth = AuthSettings(issuer_url=f"http://{_bracket(host)}:{port}", resource_server_url=None)
    return server.streamable_http_app(streamable_http_path=PATH, host=host, auth=auth,
                                      token_verifier=TokenVerifier(parse_clients(clients)))


async def serve_http(server: Any, clients: tuple[str, ...], host: str, port: int) -> None:
    import uvicorn

    app = http_app(server, clients, host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started and not serving.done():  # announce only once the port accepts connections
        await asyncio.sleep(0.05)
    if server.started:
        print(f"chatops MCP server on http://{_bracket(host)}:{port}{PATH} (streamable HTTP, bearer tokens of "
              f"{len(clients)} client(s))", flush=True)
    await serving


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host
