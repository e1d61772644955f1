"""The MCP server (the SDK's low-level Server): who calls, may they, are the arguments valid, then
the call, then its audit row. The same Server runs over stdio and over streamable HTTP
(bot/mcp/http.py puts the bearer-token check in front of it)."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.mcp import auditing
from bot.mcp.catalog import McpTool, definition, tools
from bot.mcp.clients import McpClient, http_client
from bot.mcp.propose import Refused
from bot.mcp.resources import Resources
from bot.mcp.service import McpService
from tools.redact import redact_obj

log = logging.getLogger(__name__)
NAME = "chatops"
NO_APPROVAL = ("Nothing approves, rejects or executes over MCP: a person does that with the buttons in the "
               "incident's chat thread.")


class _Outcome(Exception):
    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome, self.message = outcome, message


def _invalid(args: dict[str, Any], schema: dict[str, Any]) -> str | None:
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(args), key=lambda e: list(e.path))
    if not errors:
        return None
    return "; ".join(f"{'/'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in errors[:3])[:600]


def build_server(service: McpService, resources: Resources, stdio: McpClient | None = None) -> Any:
    """`stdio`: the local client of a stdio server; None: every request must carry an HTTP identity."""
    import mcp.types as types
    from mcp import MCPError
    from mcp.server.lowlevel import Server

    catalog = tools()
    factory = service.workflow.factory

    def client_of(ctx: Any) -> McpClient:
        found = http_client(ctx.request) if ctx.request is not None else stdio
        if found is None:  # the HTTP app refuses unauthenticated requests before this; never serve one
            raise MCPError(types.INVALID_REQUEST, "not authenticated")
        return found

    async def audit(client: McpClient, method: str, name: str, args: Any, outcome: str, detail: str | None,
                    subject: str | None) -> None:
        try:
            await asyncio.to_thread(auditing.record, factory, client, method, name, args, outcome, detail, subject)
        except Exception:  # the call happened; its audit row failing must be loud, not silent
            log.exception("could not audit MCP call %s %s by %s", method, name, client.key)
            raise

    async def run(client: McpClient, tool: McpTool | None, name: str, args: dict[str, Any]) -> dict[str, Any]:
        if tool is None:
            raise _Outcome("unknown_tool", f"Unknown tool: {name}. Tools: {', '.join(catalog)}. {NO_APPROVAL}")
        if not client.may(tool.scope):
            raise _Outcome("denied", f"{client.key} has scope {client.scope_name}; {name} needs "
                                     f"read+propose. {NO_APPROVAL}")
        why = _invalid(args, tool.input_schema)
        if why:
            raise _Outcome("invalid_arguments", f"invalid arguments for {name}: {why}")
        try:
            return await getattr(service, name)(client, **args)
        except Refused as exc:
            raise _Outcome("refused", str(exc)) from None

    async def list_tools(ctx: Any, params: Any) -> Any:
        client = client_of(ctx)
        return types.ListToolsResult(tools=[definition(t) for t in catalog.values() if client.may(t.scope)])

    async def call_tool(ctx: Any, params: Any) -> Any:
        client, name, args = client_of(ctx), params.name, dict(params.arguments or {})
        try:
            data = redact_obj(await run(client, catalog.get(name), name, args))
            outcome = "error" if data.get("status") == "error" else "ok"
            detail = data.get("error") if outcome == "error" else None
        except _Outcome as exc:
            data, outcome, detail = {"error": exc.message}, exc.outcome, exc.message
        except Exception as exc:  # a bug: the client gets its kind, the log the traceback
            log.exception("MCP tool %s failed", name)
            data, outcome, detail = {"error": f"internal error: {type(exc).__name__}"}, "error", repr(exc)
        incident = args.get("incident_id") or data.get("incident_id")
        await audit(client, "tools/call", name, args, outcome, detail,
                    f"incident/{incident}" if isinstance(incident, str) and incident else None)
        text = json.dumps(data, default=str, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data,
                                    is_error=outcome != "ok")

    async def list_resources(ctx: Any, params: Any) -> Any:
        client_of(ctx)
        docs = await asyncio.to_thread(resources.listing)
        return types.ListResourcesResult(resources=[
            types.Resource(uri=d.uri, name=d.name, title=d.title, description=d.description,
                           mime_type="text/markdown") for d in docs])

    async def read_resource(ctx: Any, params: Any) -> Any:
        client, uri = client_of(ctx), str(params.uri)[:500]
        try:
            text = await asyncio.to_thread(resources.read, uri)
        except KeyError:
            await audit(client, "resources/read", uri, {}, "not_found", None, None)
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri} (resources/list names them)") from None
        await audit(client, "resources/read", uri, {}, "ok", None, None)
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, text=text,
                                                                             mime_type="text/markdown")])

    return Server(NAME, version=_version(), instructions=(
        "ChatOps incident bot: start investigations (diagnose), read incidents, diagnoses, runbooks and past "
        f"incidents, and propose remediation actions. {NO_APPROVAL}"),
        on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
        on_read_resource=read_resource)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chatops-incident-bot")
    except PackageNotFoundError:
        return "0"
