"""From a proposed action to a stored proposal: catalog, scope, bounds, validation, dry run.

Outcomes of planning: `refused` (outside the catalog or the incident: never stored, only
audited as `proposal.refused`), `blocked` (stored, but validation or the server-side dry run
failed, so no approve button is offered), or offerable.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import transaction
from bot.models import Diagnosis, Incident, RemediationProposal
from bot.remediation.policy import ApprovalPolicy
from bot.remediation.scope import IncidentScope, is_node_action
from bot.remediation.state import audit_safe, load
from bot.remediation.tokens import Signer, new_nonce
from bot.remediation.views import ProposalView, render

log = logging.getLogger(__name__)


@dataclass
class Plan:
    action_type: str
    target: str
    namespace: str | None
    parameters: dict[str, Any]
    rationale: str | None
    risk: str
    text: str = ""
    refused: str | None = None   # not stored
    blocked: str | None = None   # stored, no button


async def safe_call(fn: Callable[[], Awaitable[Any]], what: str):  # noqa: ANN201 (ActionOutcome)
    """The executor promises never to raise; if it does anyway, the result is a failed outcome."""
    from tools.actions import ActionOutcome

    try:
        return await fn()
    except Exception as exc:  # noqa: BLE001 - a bug must become a recorded failure, not a stuck row
        log.exception("%s raised", what)
        return ActionOutcome(ok=False, message=f"{what} raised {type(exc).__name__}: {exc}")


def load_scope(factory: sessionmaker[Session], incident_id: str | None, diagnosis_id: str | None,
               allowlist: tuple[str, ...]) -> IncidentScope:
    with factory() as s:
        inc = s.get(Incident, incident_id) if incident_id else None
        diag = s.get(Diagnosis, diagnosis_id) if diagnosis_id else None
        if incident_id and inc is None:
            return IncidentScope.none(f"unknown incident {incident_id}")
        if diagnosis_id and diag is None:
            return IncidentScope.none(f"unknown diagnosis {diagnosis_id}")
        if inc is not None and diag is not None and diag.incident_id and diag.incident_id != inc.id:
            return IncidentScope.none(f"diagnosis {diagnosis_id} belongs to another incident")
        return IncidentScope.load(inc, diag, allowlist)


def _field(p: Any, name: str, default: Any = None) -> Any:
    return p.get(name, default) if isinstance(p, dict) else getattr(p, name, default)


async def plan_proposal(p: Any, scope: IncidentScope, executor: Any, policy: ApprovalPolicy,
                        risk_overrides: dict[str, str] | None) -> Plan:
    """`p` is a ProposedAction or a dict with the same fields; its `risk` is ignored."""
    from tools.actions import CATALOG, ActionRequest

    action_type = str(_field(p, "action_type", "") or "")
    target = str(_field(p, "target", "") or "")
    namespace = None if is_node_action(action_type) else (_field(p, "namespace") or None)
    params = dict(_field(p, "parameters") or {})
    plan = Plan(action_type, target, namespace, params, _field(p, "rationale"), "CRITICAL")
    spec = CATALOG.get(action_type)
    if spec is None:
        plan.refused = f"{action_type or '(none)'} is not a catalog action"
        return plan
    # Risk comes from the catalog and the namespace floor, never from the proposer.
    plan.risk = policy.risk_for(spec.risk, namespace, risk_overrides)
    plan.refused = scope.refusal(action_type, target, namespace)
    if not plan.refused:
        req = ActionRequest(action_type=action_type, target=target, namespace=namespace, parameters=dict(params))
        await check(plan, req, executor, policy)
    return plan


async def plan_undo(undo_req: Any, executor: Any, policy: ApprovalPolicy) -> Plan:
    from tools.actions import CATALOG

    spec = CATALOG.get(undo_req.action_type)
    plan = Plan(undo_req.action_type, undo_req.target, undo_req.namespace, dict(undo_req.parameters or {}),
                "undo of an executed action", policy.risk_for(spec.risk if spec else "CRITICAL", undo_req.namespace))
    if spec is None:
        plan.refused = f"undo action {undo_req.action_type} is not in the catalog"
    else:
        await check(plan, undo_req, executor, policy)
    return plan


async def check(plan: Plan, req: Any, executor: Any, policy: ApprovalPolicy) -> None:
    """Validation, then the server-side dry run; the dry run fills in the observed current state
    (e.g. from_replicas), so the stored parameters and the text say exactly what will change."""
    plan.blocked = _bounds(req.action_type, req.parameters, policy) or executor.validate(req)
    if plan.blocked is None:
        dry = await safe_call(lambda: executor.dry_run(req), "dry run")
        if not dry.ok:
            plan.blocked = f"dry run failed: {dry.message}"
    plan.parameters = audit_safe(dict(req.parameters or {}))
    try:
        plan.text = req.describe()
    except Exception as exc:  # noqa: BLE001 - malformed parameters can break the description
        plan.text = f"{req.action_type} {req.namespace + '/' if req.namespace else ''}{req.target}"
        plan.blocked = plan.blocked or f"invalid parameters: {exc}"


def _bounds(action_type: str, params: dict[str, Any], policy: ApprovalPolicy) -> str | None:
    if action_type != "scale_deployment" or "replicas" not in params:
        return None
    lo, hi = policy.scale_bounds
    try:
        n = int(params["replicas"])
    except (TypeError, ValueError):
        return f"replicas {params['replicas']!r} is not a number"
    if not lo <= n <= hi:
        return f"replicas {n} is outside the allowed range {lo}..{hi} (SCALE_MIN/SCALE_MAX)"
    return None


def persist(factory: sessionmaker[Session], plans: list[Plan], incident_id: str | None, diagnosis_id: str | None,
            requester: str, policy: ApprovalPolicy, now: datetime, undo_of: str | None = None) -> list[str]:
    """One transaction: each stored proposal with its `proposal.created` row, each refusal audited.
    Returns the ids of the stored ones, in order."""
    platform = requester.split(":", 1)[0] if ":" in requester else "system"
    ids: list[str] = []
    with transaction(factory) as s:
        for plan in plans:
            base = {"incident": incident_id, "diagnosis": diagnosis_id, "action_type": plan.action_type,
                    "target": plan.target, "namespace": plan.namespace, "parameters": audit_safe(plan.parameters),
                    "risk": plan.risk}
            if plan.refused:
                audit.append(s, actor=requester, platform=platform, event="proposal.refused",
                             subject=f"incident/{incident_id or '-'}", payload={**base, "reason": plan.refused})
                continue
            row = RemediationProposal(
                diagnosis_id=diagnosis_id, incident_id=incident_id, action_type=plan.action_type, target=plan.target,
                namespace=plan.namespace, parameters=plan.parameters, rationale=(plan.rationale or None),
                risk=plan.risk, state="proposed", approvals_required=policy.approvals_required(plan.risk),
                requested_by=requester, created_at=now, expires_at=now + policy.ttl, nonce=new_nonce(),
                action_text=plan.text, blocked_reason=plan.blocked, undo_of=undo_of, result={})
            s.add(row)
            s.flush()
            audit.append(s, actor=requester, platform=platform, event="proposal.created", subject=f"proposal/{row.id}",
                         payload={**base, "action": plan.text, "approvals_required": row.approvals_required,
                                  "expires_at": row.expires_at.isoformat(), "blocked": plan.blocked,
                                  "undo_of": undo_of})
            ids.append(row.id)
    return ids


def views_of(factory: sessionmaker[Session], ids: Iterable[str], signer: Signer, now: datetime) -> list[ProposalView]:
    with factory() as s:
        rows = [load(s, i) for i in ids]
        return [render(r, signer, now) for r in rows if r is not None]
