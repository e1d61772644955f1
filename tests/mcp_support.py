"""`chatops mcp` as a real process, driven by the official MCP client, over a scenario's fakes.

One SQLite database and signing key shared by every process of the deployment (as
tests/deployment_support.py sets up for serve and worker); the Slack fake, and the scenario's
Kubernetes and OpenSearch fakes, run in the test process.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, AsyncIterator

from tests.deployment_support import Deployment, Proc, wait_for
from tests.support import free_port

OPS_TOKEN = "mcp-ops-" + "k3J9x" * 6
VIEWER_TOKEN = "mcp-viewer-" + "Qw7Lp" * 6


def clients_setting() -> str:
    digest = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    return f"ops-agent:read+propose:{digest(OPS_TOKEN)},viewer:read:{digest(VIEWER_TOKEN)}"


@contextlib.asynccontextmanager
async def stdio_session(dep: Deployment, name: str = "mcp-stdio", **env: str) -> AsyncIterator[Any]:
    """The real client spawning `python -m bot.cli mcp --stdio`; its stderr goes to <name>.log."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    dep.env(name)  # creates its data dir, where the process runs
    params = StdioServerParameters(command=sys.executable, args=["-m", "bot.cli", "mcp", "--stdio"],
                                   env=dep.env(name, **env), cwd=str(dep.root / name))
    with open(dep.root / f"{name}.log", "a") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=120) as client:
            yield client


def start_http(dep: Deployment, name: str = "mcp-http", **env: str) -> Proc:
    port = free_port()
    dep.env(name)
    proc = dep.start(name, "mcp", "--http", "--host", "127.0.0.1", "--port", str(port), **env)
    proc.port = port
    wait_for(lambda: "chatops MCP server on" in proc.text(), 120, proc)
    return proc


@contextlib.asynccontextmanager
async def http_session(proc: Proc, token: str) -> AsyncIterator[Any]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(f"http://127.0.0.1:{proc.port}/mcp", http_client=http),
                          read_timeout_seconds=120) as client:
            yield client


async def call(client: Any, tool: str, **args: Any) -> tuple[bool, dict]:
    """(ok, the structured answer) of one tool call."""
    res = await client.call_tool(tool, args)
    data = res.structured_content if res.structured_content is not None else json.loads(res.content[0].text)
    return not res.is_error, data


async def diagnosed(client: Any, incident_id: str, timeout: float = 180) -> dict:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok, inc = await call(client, "get_incident", incident_id=incident_id)
        assert ok, inc
        if inc["status"] in ("diagnosed", "failed"):
            return inc
        await asyncio.sleep(0.5)
    raise AssertionError(f"incident {incident_id} not diagnosed within {timeout}s: {inc}")


def buttons_in_thread(slack: Any, channel: str, thread: str, proposal_id: str) -> list[dict]:
    """The approve/reject buttons of a proposal in a Slack thread of the fake."""
    found = []
    for m in slack.thread(channel, thread):
        for block in m.get("blocks") or []:
            for el in block.get("elements") or []:
                if el.get("type") == "button" and str(el.get("value", "")).startswith(proposal_id + "|"):
                    found.append(el)
    return found


def log_of(dep: Deployment, name: str) -> str:
    path = Path(dep.root / f"{name}.log")
    return path.read_text(errors="replace") if path.exists() else ""
