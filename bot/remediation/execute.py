"""Running a claimed proposal: execute, verify, record the outcome, offer the undo.

Only the caller whose `approved -> executing` conditional update matched gets here, so this runs
at most once per proposal. The Kubernetes calls happen outside any database transaction (they
can take minutes); the outcome and its audit row are then written in one transaction. A process
killed in between leaves the proposal `executing`; bot/remediation/reconcile.py settles it later
through the same `record_outcome`.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.db import transaction
from bot.models import RemediationProposal
from bot.remediation.planning import Plan, persist, plan_undo, safe_call, views_of
from bot.remediation.policy import ApprovalPolicy, Identity
from bot.remediation.state import SYSTEM, audit_safe, load, lock_proposal, transition, utcnow
from bot.remediation.tokens import Signer
from bot.remediation.views import ClickResult, ProposalView, render

log = logging.getLogger(__name__)


def to_request(row: RemediationProposal):  # noqa: ANN201 (tools.actions.ActionRequest)
    from tools.actions import ActionRequest

    return ActionRequest(action_type=row.action_type, target=row.target, namespace=row.namespace,
                         parameters=dict(row.parameters or {}))


def outcome_dict(outcome: Any) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {"ok": bool(outcome.ok), "message": str(outcome.message)[:2000],
            "details": audit_safe(getattr(outcome, "details", None) or {})}


async def run_claimed(factory: sessionmaker[Session], executor: Any, proposal_id: str, who: Identity,
                      policy: ApprovalPolicy, signer: Signer, now: datetime | None = None) -> ClickResult:
    """Execute + verify a proposal this caller moved to `executing`, then record the outcome."""
    from tools.actions import CATALOG

    with factory() as s:
        req = to_request(load(s, proposal_id))
    executed = await safe_call(lambda: executor.execute(req), "execute")
    verified = await safe_call(lambda: executor.verify(req), "verify") if executed.ok else None
    ok = bool(executed.ok and verified is not None and verified.ok)
    metrics.execution(req.action_type, "succeeded" if ok else "unverified" if executed.ok else "failed", CATALOG)
    t = now or utcnow()
    result = {"execute": outcome_dict(executed), "verify": outcome_dict(verified), "executed_by": who.key,
              "finished_at": t.isoformat()}
    view, undo_view, _ = await record_outcome(factory, executor, req, proposal_id, who, executed, ok, result,
                                              policy, signer, t)
    if ok:
        message = f"{executed.message}. {verified.message}"
    elif not executed.ok:
        message = executed.message
    else:
        message = f"{executed.message}, but not verified: {verified.message}"
    return ClickResult(ok, "executed" if ok else "failed", message, view, undo_view, executed=bool(executed.ok))


async def record_outcome(factory: sessionmaker[Session], executor: Any, req: Any, proposal_id: str, who: Identity,
                         change: Any, ok: bool, result: dict[str, Any], policy: ApprovalPolicy, signer: Signer,
                         now: datetime, payload: dict[str, Any] | None = None
                         ) -> tuple[ProposalView, ProposalView | None, bool]:
    """`executing` -> succeeded (ok) or failed, with its audit row (`payload` adds to it); if
    `change` (the execution, or the reconciler's observation) says the change is in effect, even
    unverified, a reversible action's exact undo is offered. Used by run_claimed and the reconciler
    (bot/remediation/reconcile.py): whichever records first wins, and the returned bool is False
    for the other one, which then writes nothing, not even the undo."""
    from tools.actions import CATALOG

    undo_plan = None
    spec = CATALOG.get(req.action_type)
    undo_req = getattr(change, "undo", None)
    if change.ok and spec is not None and spec.reversible and undo_req is not None:
        undo_plan = await plan_undo(undo_req, executor, policy)
    view, undo_id, moved = await asyncio.to_thread(_record, factory, proposal_id, who, ok, result, payload or {},
                                                   undo_plan, policy, signer, now)
    undo_view = (await asyncio.to_thread(views_of, factory, [undo_id], signer, now))[0] if undo_id else None
    return view, undo_view, moved


def _record(factory: sessionmaker[Session], proposal_id: str, who: Identity, ok: bool, result: dict[str, Any],
            payload: dict[str, Any], undo_plan: Plan | None, policy: ApprovalPolicy, signer: Signer,
            now: datetime) -> tuple[ProposalView, str | None, bool]:
    with transaction(factory) as s:
        row = lock_proposal(s, proposal_id)
        state = "succeeded" if ok else "failed"
        moved = transition(s, row, "executing", state, actor=who.key, platform=who.platform, result=result,
                           payload={"result": result, **payload})
        if not moved:
            log.warning("proposal %s was no longer executing when %s came to record its outcome (now %s)",
                        proposal_id, who.key, row.state)
        view = render(row, signer, now)
        # Offered on behalf of the original requester, so the same self-approval rule applies to the undo.
        origin = (row.incident_id, row.diagnosis_id, row.requested_by or SYSTEM.key)
    undo_id = None
    if moved and undo_plan is not None and not undo_plan.refused:
        undo_id = persist(factory, [undo_plan], *origin, policy, now, undo_of=proposal_id)[0]
    return view, undo_id, moved


class UnavailableExecutor:
    """Stands in for ActionExecutor when no Kubernetes client can be built: every call fails
    with the configuration error, so an approval is still recorded and then fails cleanly."""

    def __init__(self, reason: str):
        self.reason = reason

    def validate(self, req: Any) -> str | None:
        return None

    async def _fail(self):  # noqa: ANN202
        from tools.actions import ActionOutcome

        return ActionOutcome(ok=False, message=f"Kubernetes unavailable: {self.reason}")

    async def dry_run(self, req: Any):  # noqa: ANN201
        return await self._fail()

    async def execute(self, req: Any):  # noqa: ANN201
        return await self._fail()

    async def verify(self, req: Any, timeout: float | None = None):  # noqa: ANN201
        return await self._fail()

    async def observe(self, req: Any, since: datetime):  # noqa: ANN201
        outcome = await self._fail()
        outcome.details["applied"] = None  # cannot tell: the reconciler leaves the proposal executing
        return outcome


def executor_from_settings(s: Any):  # noqa: ANN201 (bot.settings.Settings -> executor)
    """ActionExecutor on the configured cluster (KUBECONFIG/KUBE_CONTEXT or in-cluster), or an
    UnavailableExecutor saying why not."""
    from bot.wiring import tool_context
    from tools.actions import ActionExecutor
    from tools.k8s import KubeConfigError, make_api_client

    try:
        api = make_api_client(kubeconfig=s.kubeconfig, context=s.kube_context)
    except KubeConfigError as exc:
        return UnavailableExecutor(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return ActionExecutor(api, tool_context(s), scale_bounds=(s.scale_min, s.scale_max),
                          verify_timeout=s.action_verify_timeout_seconds)
