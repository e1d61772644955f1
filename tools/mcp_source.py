"""MCP servers as tool sources: their read-only tools join the agent's registry.

MCP_SERVERS is the block MCP clients already use (`{"name": {"command": …, "args": […], "env": {…}}`
or `{"name": {"url": "https://…/mcp", "headers": {…}}}`). A server's tool is offered only when the
server marks it read-only (`readOnlyHint`) or MCP_TOOL_ALLOWLIST names it (`server:tool`); any other
is refused: never registered, so a model naming it gets the registry's unknown-tool error, and
`chatops config` lists it with the reason. Offered tools run under our rules like any backend: the
per-call timeout, the output budget, redaction of the raw text (then again by the registry), and
the namespace allowlist on a `namespace` argument (and on rows that carry a namespace).

One client session per server per process, held by a private event-loop thread (the hub):
registries are built in worker threads, an SDK session's task group must stay in the task that
opened it, and a stdio server is a subprocess that should live as long as the process, not one
diagnosis. A server that cannot be reached is retried after RETRY_AFTER seconds; meanwhile its
tools (the ones listed before, and allowlisted names) answer `error`, and the source is listed
in `unavailable`, like any backend that is down.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tools.base import Tool, ToolContext, ToolResult

log = logging.getLogger(__name__)

RETRY_AFTER = 30.0  # seconds before a server that failed is tried again
SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64  # the Messages API's limit on tool names
MAX_DESCRIPTION = 1024
READ_ONLY_REASON = "not marked read-only by its server (readOnlyHint) and not in MCP_TOOL_ALLOWLIST"


@dataclass(frozen=True)
class McpServerSpec:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        """Where it runs, without credentials (env and headers may hold tokens)."""
        if self.command:
            return f"stdio: {' '.join([self.command, *self.args])}"[:200]
        return re.sub(r"//[^/@]*@", "//", self.url or "")

    def transport(self) -> Any:
        from mcp import StdioServerParameters

        if self.command:
            return StdioServerParameters(command=self.command, args=list(self.args), env=dict(self.env) or None)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        return streamable_http_client(self.url, http_client=create_mcp_http_client(headers=dict(self.headers)))


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{what} must be an object of strings")
    return value


def parse_servers(text: str | None) -> tuple[McpServerSpec, ...]:
    """MCP_SERVERS: a JSON object of name -> {command, args, env} | {url, headers}; also accepted
    wrapped as {"mcpServers": {...}}, as MCP clients store it. Raises ValueError naming the problem."""
    if not text or not text.strip():
        return ()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if isinstance(data, dict) and set(data) == {"mcpServers"}:
        data = data["mcpServers"]
    if not isinstance(data, dict):
        raise ValueError('expected an object like {"name": {"command": "...", "args": [...]}}')
    specs = []
    for name, body in data.items():
        if not SERVER_NAME.match(name):
            raise ValueError(f"server name {name!r}: use 1-32 letters, digits, _ or -")
        if not isinstance(body, dict) or bool(body.get("command")) == bool(body.get("url")):
            raise ValueError(f"server {name}: give either a command (stdio) or a url (streamable HTTP)")
        unknown = set(body) - {"command", "args", "env", "url", "headers", "type"}
        if unknown:
            raise ValueError(f"server {name}: unknown keys {sorted(unknown)}")
        args = body.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"server {name}: args must be a list of strings")
        url = body.get("url")
        if url is not None and not (isinstance(url, str) and re.match(r"^https?://", url)):
            raise ValueError(f"server {name}: url must be http(s)://…")
        specs.append(McpServerSpec(name=name, command=body.get("command"), args=tuple(args),
                                   env=tuple(sorted(_strings(body.get("env"), f"server {name}: env").items())),
                                   url=url, headers=tuple(sorted(_strings(body.get("headers"),
                                                                          f"server {name}: headers").items()))))
    return tuple(specs)


# -- what a server offers --------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteTool:
    server: str
    name: str  # the server's own name for it
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})

    @property
    def local_name(self) -> str:
        """mcp_<server>_<tool>, within the Messages API's tool-name rules (a hash keeps long names apart)."""
        name = TOOL_NAME.sub("_", f"mcp_{self.server}_{self.name}")
        if len(name) > MAX_NAME:
            name = name[:MAX_NAME - 9] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
        return name


@dataclass(frozen=True)
class Refusal:
    server: str
    tool: str
    why: str


@dataclass
class Inventory:
    spec: McpServerSpec
    offered: list[RemoteTool] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    error: str | None = None


def sort_tools(spec: McpServerSpec, listed: list[Any], allowlist: tuple[str, ...]) -> Inventory:
    """Offer the read-only and allowlisted tools of a listing; refuse the rest, saying why."""
    inv = Inventory(spec)
    for t in listed:
        hint = getattr(getattr(t, "annotations", None), "read_only_hint", None)
        remote = RemoteTool(spec.name, t.name, (t.description or "")[:MAX_DESCRIPTION], dict(t.input_schema or {}))
        if hint is not True and f"{spec.name}:{t.name}" not in allowlist:
            inv.refused.append(Refusal(spec.name, t.name, READ_ONLY_REASON))
        else:
            inv.offered.append(remote)
    return inv


def _distinct(inventories: list[Inventory]) -> list[Inventory]:
    """Two tools whose names map to one mcp_<server>_<tool> (say `a.b` and `a_b`): the first keeps it."""
    seen: set[str] = set()
    for inv in inventories:
        kept = []
        for t in inv.offered:
            if t.local_name in seen:
                inv.refused.append(Refusal(inv.spec.name, t.name, f"its name {t.local_name} is taken by another tool"))
            else:
                seen.add(t.local_name)
                kept.append(t)
        inv.offered = kept
    return inventories


# -- the hub: one session per server, on a private loop ---------------------------------------

class ServerDown(RuntimeError):
    pass


def _why(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # anyio task groups wrap the cause
        exc = exc.exceptions[0]
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Connection:
    """One server's client session; everything here runs on the hub's loop."""

    def __init__(self, spec: McpServerSpec):
        self.spec = spec
        self.client: Any = None
        self.listed: list[Any] = []     # the last tool listing (kept while the server is down)
        self.error: str | None = None
        self.failed_at = 0.0
        self._ready: asyncio.Future | None = None  # the current connection attempt
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def ensure(self, timeout: float) -> Any:
        """The open session; concurrent callers share one connection attempt."""
        if self.client is not None:
            return self.client
        if self._ready is None or self._ready.done():
            if self.error and time.monotonic() - self.failed_at < RETRY_AFTER:
                raise ServerDown(self.error)
            self._ready = asyncio.get_running_loop().create_future()
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._hold(self._ready, self._stop, timeout))
        ready, stop, task = self._ready, self._stop, self._task
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.TimeoutError:
            if not ready.done():
                self._fail(f"no answer within {timeout:g}s")
                _settle(ready, ServerDown(self.error))
                stop.set()
                task.cancel()
            raise ServerDown(self.error) from None
        if self.client is None:  # opened, then closed at once
            raise ServerDown(self.error or "the session closed")
        return self.client

    async def _hold(self, ready: asyncio.Future, stop: asyncio.Event, timeout: float) -> None:
        """Open the session, list the tools, and keep the session open until told to stop."""
        from mcp import Client

        client = None
        try:
            async with Client(self.spec.transport(), read_timeout_seconds=timeout) as client:
                self.listed = await _list_all(client)
                self.client, self.error = client, None
                if not ready.done():
                    ready.set_result(None)
                await stop.wait()
        except BaseException as exc:  # noqa: BLE001 - a dead server must become an error, whatever it raised
            if not isinstance(exc, asyncio.CancelledError):  # cancelled: ensure() timed out and said why
                self._fail(_why(exc))
            _settle(ready, ServerDown(self.error or _why(exc)))
        finally:
            if self.client is client:  # not a newer session's
                self.client = None

    def _fail(self, why: str) -> None:
        self.error, self.failed_at, self.client = why, time.monotonic(), None
        log.warning("MCP server %s (%s) unavailable: %s", self.spec.name, self.spec.where, why)

    async def call(self, tool: str, args: dict[str, Any], timeout: float) -> Any:
        from mcp import MCPError

        client = await self.ensure(timeout)
        try:
            return await client.call_tool(tool, args, read_timeout_seconds=timeout)
        except (MCPError, asyncio.CancelledError):  # the server answered (an error), or our timeout hit
            raise
        except BaseException as exc:  # the session broke: the next call or registry build reconnects
            self._fail(_why(exc))
            self.close()
            raise

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()


def _settle(ready: asyncio.Future, exc: Exception) -> None:
    """Fail a connection attempt; marked as retrieved, since every waiter may already have given up."""
    if not ready.done():
        ready.set_exception(exc)
        ready.exception()


async def _list_all(client: Any) -> list[Any]:
    tools, cursor = [], None
    for _ in range(50):  # pages; a server that pages forever is cut off
        page = await client.list_tools(cursor=cursor) if cursor else await client.list_tools()
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


class McpHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[McpServerSpec, _Connection] = {}

    def _submit(self, coro: Any) -> concurrent.futures.Future:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-hub", daemon=True)
                self._thread.start()
            return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _conn(self, spec: McpServerSpec) -> _Connection:
        with self._lock:
            return self._conns.setdefault(spec, _Connection(spec))

    def inventory(self, specs: tuple[McpServerSpec, ...], allowlist: tuple[str, ...],
                  timeout: float) -> list[Inventory]:
        """Connect (or reuse the sessions), list and sort every server's tools. Blocking: call it from
        a worker thread or a command, never from an event loop."""
        conns = [self._conn(s) for s in specs]

        async def each(conn: _Connection) -> Inventory:
            try:
                await conn.ensure(timeout)
                return sort_tools(conn.spec, conn.listed, allowlist)
            except ServerDown as exc:
                return _down(conn, allowlist, str(exc))

        async def gather() -> list[Inventory]:
            return _distinct(list(await asyncio.gather(*(each(c) for c in conns))))

        return self._submit(gather()).result(timeout + 5)

    async def call(self, spec: McpServerSpec, tool: str, args: dict[str, Any], timeout: float) -> Any:
        """From any event loop: the call runs on the hub's loop; cancelling this cancels it there."""
        return await asyncio.wrap_future(self._submit(self._conn(spec).call(tool, args, timeout)))

    def close(self) -> None:
        """End every session (stdio servers exit) and the hub's thread."""
        with self._lock:
            loop, thread, conns = self._loop, self._thread, list(self._conns.values())
            self._loop, self._thread, self._conns = None, None, {}
        if loop is None:
            return

        async def shut() -> None:
            for c in conns:
                c.close()
            tasks = [c._task for c in conns if c._task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        try:
            asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        except Exception:  # closing is best effort
            log.debug("closing MCP sessions failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)


def _down(conn: _Connection, allowlist: tuple[str, ...], why: str) -> Inventory:
    """A server that is down: the tools it listed before (and allowlisted names) stay, answering error."""
    inv = sort_tools(conn.spec, conn.listed, allowlist)
    known = {t.name for t in conn.listed}
    prefix = f"{conn.spec.name}:"
    inv.offered += [RemoteTool(conn.spec.name, a[len(prefix):]) for a in allowlist
                    if a.startswith(prefix) and a[len(prefix):] not in known]
    inv.error = why
    return inv


_hub: McpHub | None = None
_hub_lock = threading.Lock()


def hub() -> McpHub:
    """The process's hub; its sessions end at exit."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = McpHub()
            atexit.register(_hub.close)
        return _hub


# -- offered tools as our Tools -----------------------------------------------------------------

def mcp_tools(specs: tuple[McpServerSpec, ...], allowlist: tuple[str, ...], ctx: ToolContext,
              the_hub: McpHub | None = None) -> tuple[list[Tool], dict[str, str]]:
    """(tools to register, unavailable sources) for the configured servers."""
    if not specs:
        return [], {}
    h = the_hub or hub()
    tools, unavailable = [], {}
    for inv in h.inventory(specs, allowlist, ctx.timeout):
        if inv.error:
            unavailable[f"mcp:{inv.spec.name}"] = f"MCP server {inv.spec.name} ({inv.spec.where}): {inv.error}"
        tools += [_tool(h, inv.spec, t, ctx) for t in inv.offered]
    return tools, unavailable


def _tool(h: McpHub, spec: McpServerSpec, remote: RemoteTool, ctx: ToolContext) -> Tool:
    source = f"mcp:{spec.name}"
    confined = "namespace" in (remote.input_schema.get("properties") or {})

    async def handler(**args: Any) -> ToolResult:
        query = f"{spec.name}/{remote.name}({json.dumps(args, sort_keys=True, default=str)})"
        why = _namespace_refusal(args, ctx) if confined else None
        if why:
            return ToolResult.fail(query, why, source)
        try:
            res = await h.call(spec, remote.name, args, ctx.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return ToolResult.fail(query, f"MCP server {spec.name}: {_why(exc)}", source)
        return to_result(res, query, source, ctx)

    schema = remote.input_schema if remote.input_schema.get("type") == "object" else {"type": "object"}
    return Tool(name=remote.local_name, description=f"[MCP server {spec.name}] {remote.description}".strip(),
                input_schema=schema, handler=handler, read_only=True, source=source, timeout=ctx.timeout)


def _namespace_refusal(args: dict[str, Any], ctx: ToolContext) -> str | None:
    if not ctx.namespace_allowlist:
        return None
    ns = args.get("namespace")
    if not isinstance(ns, str) or not ns:
        return f"namespace is required: reads are confined to {', '.join(ctx.namespace_allowlist)}"
    if not ctx.namespace_allowed(ns):
        return f"namespace {ns!r} is not in the allowlist ({', '.join(ctx.namespace_allowlist)})"
    return None


def _drop_foreign(obj: Any, ctx: ToolContext) -> Any:
    """Rows labelled with a namespace outside the allowlist are dropped, as the other tools do."""
    if not ctx.namespace_allowlist:
        return obj
    if isinstance(obj, list):
        return [_drop_foreign(x, ctx) for x in obj
                if not (isinstance(x, dict) and isinstance(x.get("namespace"), str)
                        and not ctx.namespace_allowed(x["namespace"]))]
    if isinstance(obj, dict):
        return {k: _drop_foreign(v, ctx) for k, v in obj.items()}
    return obj


def to_result(res: Any, query: str, source: str, ctx: ToolContext) -> ToolResult:
    """An MCP CallToolResult as our ToolResult; raw text is masked before anything else reads it."""
    scrub = ctx.scrub
    blocks = list(getattr(res, "content", None) or [])
    text = scrub.redact("\n".join(b.text for b in blocks if getattr(b, "type", "") == "text"))
    other = sorted({getattr(b, "type", "?") for b in blocks if getattr(b, "type", "") != "text"})
    if getattr(res, "is_error", False):
        return ToolResult.fail(query, text[:1000] or "the MCP tool reported an error", source)
    structured = getattr(res, "structured_content", None)
    if structured is not None:
        data = _drop_foreign(scrub.redact_obj(structured), ctx)
    elif text:
        data = _drop_foreign(_maybe_json(text), ctx)
    else:
        data = None
    if data in (None, "", [], {}):
        return ToolResult(status="no_data", query=query, source=source,
                          summary="the MCP tool returned nothing" + (f" but {', '.join(other)}" if other else ""))
    first = data.strip().splitlines()[0][:200] if isinstance(data, str) else f"structured result of {query[:120]}"
    summary = first + (f" (left out: {', '.join(other)} content)" if other else "")
    return ToolResult(status="ok", data=data, summary=summary, query=query, source=source)


def _maybe_json(text: str) -> Any:
    """Servers built on the SDK send a tool's dict as JSON text; parsed, it can be reduced and filtered."""
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def describe(inventories: list[Inventory]) -> list[str]:
    """`chatops config` lines: each server, what it offers and what it refused, and why."""
    lines = []
    for inv in inventories:
        head = f"{inv.spec.name} ({inv.spec.where})"
        lines.append(f"{head}: unavailable: {inv.error}" if inv.error else f"{head}: connected")
        lines += [f"  offered {t.local_name} (its {t.name})" for t in inv.offered]
        lines += [f"  refused {r.tool}: {r.why}" for r in inv.refused]
    return lines
