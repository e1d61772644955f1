"""What the MCP tools do, on the same Workflow a worker builds.

`diagnose` is `/diagnose`: Workflow.on_command records the incident and enqueues the usual durable
job in one transaction, and returns at once; a unique request id (stored under the incidents'
unique request key, as Slack's trigger_id is) finds the incident it opened. The reads return only
what the namespace allowlist admits. Every method returns a JSON-able dict or raises Refused.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from agents.trigger import Trigger
from bot.mcp.clients import McpClient
from bot.mcp.propose import Refused, propose_action, public_view
from bot.models import AgentSession, Diagnosis, Incident
from bot.remediation import list_proposals
from bot.workflow.incidents import request_key
from bot.workflow.nochat import NO_CHAT
from tools.base import ToolRegistry
from tools.redact import redact

MAX_LIST = 50


@dataclass
class McpService:
    workflow: Any                 # bot.workflow.service.Workflow
    knowledge: ToolRegistry       # search_knowledge, under the registry's redaction
    channels: dict[str, set[str]] = field(default_factory=dict)  # platform -> channels diagnose may post in
    default_channel: tuple[str, str] | None = None               # (platform, channel); None: no chat thread

    @property
    def allowlist(self) -> tuple[str, ...]:
        return self.workflow.allowlist

    def _check_namespace(self, namespace: str | None, what: str) -> None:
        if namespace and self.allowlist and namespace not in self.allowlist:
            raise Refused(f"{what} is in namespace {namespace}, outside KUBE_NAMESPACE_ALLOWLIST "
                          f"({', '.join(self.allowlist)})")

    # -- diagnose --------------------------------------------------------------------------
    def _channel(self, channel: str | None) -> tuple[str, str]:
        if not channel:
            return self.default_channel or (NO_CHAT, "mcp")
        platform, sep, ident = channel.partition(":")
        if not sep or platform not in ("slack", "teams"):  # a bare id: wherever it is configured
            platform, ident = next((p for p, cs in self.channels.items() if channel in cs), ""), channel
        if ident not in self.channels.get(platform, set()):
            known = ", ".join(f"{p}:{c}" for p, cs in sorted(self.channels.items()) for c in sorted(cs)) or "none"
            raise Refused(f"channel {channel!r} is not one this bot is configured for (known: {known})")
        return platform, ident

    async def diagnose(self, client: McpClient, target: str, channel: str | None = None) -> dict[str, Any]:
        trigger = Trigger.from_text(redact(target or ""))
        self._check_namespace(trigger.namespace, f"target {redact(target)[:200]!r}")
        platform, chan = self._channel(channel)
        request = f"mcp-{uuid.uuid4().hex}"
        reply = await self.workflow.on_command(target, platform=platform, channel=chan, user=client.key,
                                               request_id=request)
        if reply:  # the same usage errors /diagnose gives
            raise Refused(reply)

        def opened() -> str | None:
            with self.workflow.factory() as s:
                return s.execute(select(Incident.id).where(Incident.request_key == request_key(platform, request))
                                 ).scalar()

        incident_id = await asyncio.to_thread(opened)
        return {"incident_id": incident_id, "status": "queued",
                "chat": None if platform == NO_CHAT else {"platform": platform, "channel": chan},
                "next": "poll get_incident until status is diagnosed (or failed), then get_diagnosis"}

    # -- reads -----------------------------------------------------------------------------
    def _incident(self, s: Any, incident_id: str) -> Incident:
        inc = s.get(Incident, str(incident_id)[:32])
        if inc is None:
            raise Refused(f"no incident {incident_id}")
        self._check_namespace(inc.namespace, f"incident {inc.id}")
        return inc

    def _state(self, s: Any, inc: Incident) -> tuple[str, Diagnosis | None, str | None]:
        diag = s.execute(select(Diagnosis).where(Diagnosis.incident_id == inc.id)
                         .order_by(Diagnosis.created_at.desc()).limit(1)).scalars().first()
        if diag is not None:
            return "diagnosed", diag, None
        sess = s.execute(select(AgentSession).where(AgentSession.incident_id == inc.id)
                         .order_by(AgentSession.started_at.desc()).limit(1)).scalars().first()
        if sess is None:
            return "queued", None, None
        return ("running" if sess.status == "running" else sess.status), None, sess.error

    def _proposals(self, incident_id: str) -> list[dict[str, Any]]:
        views = list_proposals(self.workflow.factory, self.workflow.signer, incident_id=incident_id)
        return [public_view(v) for v in reversed(views)]

    def _incident_view(self, s: Any, inc: Incident) -> dict[str, Any]:
        status, diag, error = self._state(s, inc)
        out = {"incident_id": inc.id, "title": inc.title, "status": status, "incident_status": inc.status,
               "namespace": inc.namespace, "service": inc.service, "severity": inc.severity,
               "source": inc.source, "opened_at": _iso(inc.opened_at), "resolved_at": _iso(inc.resolved_at),
               "chat": None if inc.platform == NO_CHAT else {"platform": inc.platform, "channel": inc.channel,
                                                             "thread": inc.thread_ref}}
        if error:
            out["error"] = error[:500]
        if diag is not None:
            out["diagnosis"] = {"category": diag.category, "component": diag.component,
                                "confidence": diag.confidence, "summary": diag.summary}
        return out

    async def get_incident(self, client: McpClient, incident_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with self.workflow.factory() as s:
                out = self._incident_view(s, self._incident(s, incident_id))
            out["proposals"] = self._proposals(out["incident_id"])
            return out
        return await asyncio.to_thread(read)

    async def list_incidents(self, client: McpClient, status: str | None = None, limit: int = 20) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            q = select(Incident)
            if status:
                q = q.where(Incident.status == status)
            if self.allowlist:
                q = q.where(or_(Incident.namespace.is_(None), Incident.namespace.in_(self.allowlist)))
            with self.workflow.factory() as s:
                rows = s.execute(q.order_by(Incident.opened_at.desc()).limit(max(1, min(MAX_LIST, limit))))
                return {"incidents": [self._incident_view(s, inc) for inc in rows.scalars()]}
        return await asyncio.to_thread(read)

    async def get_diagnosis(self, client: McpClient, incident_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with self.workflow.factory() as s:
                inc = self._incident(s, incident_id)
                status, diag, error = self._state(s, inc)
                out: dict[str, Any] = {"incident_id": inc.id, "status": status}
                if error:
                    out["error"] = error[:500]
                if diag is not None:
                    out.update(diagnosis_id=diag.id, session_id=diag.session_id, diagnosis=diag.document,
                               action_scope=diag.scope)
            if diag is not None:
                out["proposals"] = self._proposals(out["incident_id"])
            return out
        return await asyncio.to_thread(read)

    async def search_knowledge(self, client: McpClient, **args: Any) -> dict[str, Any]:
        return (await self.knowledge.run("search_knowledge", args)).to_dict()

    async def propose_action(self, client: McpClient, **args: Any) -> dict[str, Any]:
        return await propose_action(self.workflow, client, **args)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None
