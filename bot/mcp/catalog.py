"""The MCP server's tools: names, input schemas, annotations and the scope each needs.

There is deliberately no tool that approves, rejects or executes: those are a person's click in
chat. Every schema forbids extra properties, so no argument (a "token", a "state") can ride along
into a call, and arguments are validated against the schema before any tool runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.mcp.clients import PROPOSE, READ

MAX_TARGET = 500  # as /diagnose


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


_INCIDENT = {"type": "string", "minLength": 1, "maxLength": 32, "description": "incident id (from diagnose)"}


@dataclass(frozen=True)
class McpTool:
    name: str
    scope: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = True


def tools() -> dict[str, McpTool]:
    from knowledge.tool import knowledge_tools
    from tools.actions import CATALOG
    from tools.base import ToolContext

    search = knowledge_tools(None, ToolContext())[0]
    actions = "; ".join(f"{name}: {spec.description}" for name, spec in CATALOG.items())
    listed = [
        McpTool("diagnose", READ, (
            "Start an investigation, like /diagnose in chat: target is a service, namespace/pod or alert text. "
            "Returns an incident id at once; the diagnosis runs as a durable job. Poll get_incident until its "
            "status is diagnosed (or failed), then read get_diagnosis. channel (slack:<id> or teams:<id>, one the "
            "bot is configured for) is where the investigation's thread is opened; default: the configured one."),
            _schema({"target": {"type": "string", "minLength": 1, "maxLength": MAX_TARGET},
                     "channel": {"type": "string", "maxLength": 300}}, ("target",)), read_only=False),
        McpTool("get_incident", READ, "An incident: status (queued, running, diagnosed, failed), headline of its "
                "diagnosis, its chat thread and its proposals with their states.",
                _schema({"incident_id": _INCIDENT}, ("incident_id",))),
        McpTool("list_incidents", READ, "Recent incidents, newest first.",
                _schema({"status": {"type": "string", "enum": ["open", "acknowledged", "resolved", "expired"]},
                         "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20}})),
        McpTool("get_diagnosis", READ, "The incident's latest diagnosis: category, component, summary, "
                "confidence, evidence with exact queries, timeline, similar incidents, the action scope computed "
                "from the trigger, and its proposals.",
                _schema({"incident_id": _INCIDENT}, ("incident_id",))),
        McpTool("search_knowledge", READ, search.description, search.input_schema),
        McpTool("propose_action", PROPOSE, (
            "Propose a catalog action for an incident. It passes the same gates as the bot's own proposals "
            "(the incident's action scope, the catalog, parameter bounds, a server-side dry run, the risk policy) "
            "and its approve/reject buttons are posted in the incident's chat thread, where a person decides. "
            "Returns the proposal's id, state, risk and approvals needed. This tool cannot approve or execute "
            f"anything. Actions: {actions}."),
            _schema({"incident_id": _INCIDENT,
                     "action_type": {"type": "string", "enum": sorted(CATALOG)},
                     "target": {"type": "string", "minLength": 1, "maxLength": 300,
                                "description": "deployment, pod or node name"},
                     "namespace": {"type": "string", "maxLength": 200, "description": "omit for node actions"},
                     "parameters": {"type": "object", "description": "the action's parameters, e.g. "
                                    "{\"container\": \"cart\", \"memory_limit\": \"1Gi\"}"},
                     "rationale": {"type": "string", "maxLength": 1000}},
                    ("incident_id", "action_type", "target")), read_only=False),
    ]
    return {t.name: t for t in listed}


def definition(tool: McpTool) -> Any:
    import mcp.types as types

    return types.Tool(name=tool.name, description=tool.description, input_schema=tool.input_schema,
                      annotations=types.ToolAnnotations(read_only_hint=tool.read_only, destructive_hint=False,
                                                        open_world_hint=not tool.read_only))
