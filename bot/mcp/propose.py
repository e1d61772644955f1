"""propose_action over MCP: the workflow's own gates, then buttons in the incident's chat thread.

The proposal goes through bot.remediation.propose exactly as the workflow's do: the action scope
stored with the incident's latest diagnosis, the catalog and its parameter validation, the bounds,
the namespace allowlist, the server-side dry run and the risk policy; refusals are audited as
`proposal.refused` there. Auto-approval is off for these (AUTO_APPROVE_LOW applies to the bot's
own proposals only): no machine approves what a machine proposed. The caller gets the proposal's
state and where its buttons were posted, never a button token; approving or rejecting is a click
in chat (or `chatops approve` by an operator), not something any MCP tool can do.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from sqlalchemy import select

from bot.mcp.clients import McpClient
from bot.models import Diagnosis, Incident
from bot.remediation import propose
from bot.workflow.expiry import remember_messages
from bot.workflow.nochat import NO_CHAT

log = logging.getLogger(__name__)


class Refused(Exception):
    """Refused before anything happened (unknown incident, allowlist, no chat thread, scope)."""


@dataclasses.dataclass(frozen=True)
class Where:
    incident_id: str
    diagnosis_id: str
    platform: str
    channel: str
    thread: str


def public_view(view: Any) -> dict[str, Any]:
    """What an MCP client may see of a proposal: everything but the button token."""
    return {"proposal_id": view.proposal_id or None, "state": view.state, "action": view.action_text,
            "action_type": view.action_type, "target": view.target, "namespace": view.namespace,
            "parameters": view.parameters, "risk": view.risk, "approvals_required": view.approvals_required,
            "approvals_received": view.approvals_received, "offered": view.offerable, "reason": view.reason,
            "expires_at": view.expires_at.isoformat() if view.expires_at else None,
            "requested_by": view.requested_by}


def locate(factory: Any, incident_id: str, allowlist: tuple[str, ...], surfaces: dict[str, Any]) -> Where:
    with factory() as s:
        inc = s.get(Incident, str(incident_id)[:32])
        if inc is None:
            raise Refused(f"no incident {incident_id}")
        if allowlist and inc.namespace and inc.namespace not in allowlist:
            raise Refused(f"incident {inc.id} is in namespace {inc.namespace}, outside KUBE_NAMESPACE_ALLOWLIST")
        diag = s.execute(select(Diagnosis.id).where(Diagnosis.incident_id == inc.id)
                         .order_by(Diagnosis.created_at.desc()).limit(1)).scalar()
        found, platform, channel, thread = inc.id, inc.platform, inc.channel, inc.thread_ref
    if diag is None:
        raise Refused(f"incident {incident_id} has no diagnosis yet (poll get_incident): proposals are scoped by it")
    if platform == NO_CHAT or not channel or not thread:
        raise Refused(f"incident {incident_id} has no chat thread, so no person could approve a proposal; "
                      "diagnose with a chat channel to propose actions")
    if platform not in surfaces:
        raise Refused(f"this server cannot post to {platform} (its credentials are not set here), where incident "
                      f"{incident_id}'s thread is")
    return Where(found, diag, platform, channel, thread)


def _settings_policy() -> Any:
    from bot.remediation import ApprovalPolicy
    from bot.settings import get_settings

    return ApprovalPolicy.from_settings(get_settings())


async def propose_action(workflow: Any, client: McpClient, incident_id: str, action_type: str, target: str,
                         namespace: str | None = None, parameters: dict[str, Any] | None = None,
                         rationale: str | None = None) -> dict[str, Any]:
    allowlist = workflow.allowlist
    if namespace and allowlist and namespace not in allowlist:
        raise Refused(f"namespace {namespace} is outside KUBE_NAMESPACE_ALLOWLIST ({', '.join(allowlist)})")
    where = await asyncio.to_thread(locate, workflow.factory, incident_id, allowlist, workflow.surfaces)
    policy = dataclasses.replace(workflow.policy or _settings_policy(), auto_approve_low=False)
    action = {"action_type": action_type, "target": target, "namespace": namespace,
              "parameters": dict(parameters or {}), "rationale": rationale}
    [view] = await propose(workflow.factory, workflow.executor, where.incident_id, where.diagnosis_id, [action],
                           requested_by=client.identity, namespace_allowlist=allowlist,
                           risk_overrides=workflow.risk_overrides, policy=policy, signer=workflow.signer)
    out = public_view(view)
    if not view.proposal_id:  # refused by the gates: stored nowhere, audited as proposal.refused
        out["posted"] = None
        return out
    surface = workflow.surfaces[where.platform]
    note = f"Proposed by {client.identity.display} ({client.key}); a person approves or rejects it here"
    ref = await surface.post_proposal(where.channel, where.thread, view, note)
    try:
        await asyncio.to_thread(remember_messages, workflow.factory, [view.proposal_id], where.platform, ref)
    except Exception:  # the buttons are out; only the later expiry edit of that message would miss
        log.warning("could not record the message of proposal %s", view.proposal_id, exc_info=True)
    out["posted"] = {"platform": where.platform, "channel": where.channel, "thread": where.thread,
                     "message": ref.ts}
    return out
