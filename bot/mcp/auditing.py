"""Every MCP call is audited: `mcp.call`, with the client's identity, the tool (or resource), its
arguments (redacted and bounded) and the outcome, in the hash chain like every other event."""
from __future__ import annotations

from typing import Any

from bot import audit
from bot.db import transaction
from bot.mcp.clients import PLATFORM, McpClient
from tools.redact import redact, redact_obj

MAX_ARGUMENTS = 2000  # characters of canonical JSON kept per call


def bounded(args: Any) -> Any:
    masked = redact_obj(args)
    text = audit.canonical_json(masked)
    if len(text) <= MAX_ARGUMENTS:
        return masked
    return {"_cut": f"{text[:MAX_ARGUMENTS]}…[+{len(text) - MAX_ARGUMENTS} chars]"}


def record(factory: Any, client: McpClient, method: str, name: str, args: Any, outcome: str,
           detail: str | None = None, subject: str | None = None) -> None:
    payload = {"client": client.name, "transport": client.transport, "scope": client.scope_name,
               "method": method, "name": name[:200], "arguments": bounded(args), "outcome": outcome}
    if detail:
        payload["detail"] = redact(detail)[:500]
    with transaction(factory) as s:
        audit.append(s, actor=client.key, platform=PLATFORM, event="mcp.call",
                     subject=(subject or f"{method}/{name}")[:300], payload=payload)
