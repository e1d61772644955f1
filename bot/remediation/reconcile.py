"""Recovery after a crash: proposals left `executing` are settled by reading the cluster.

`approved -> executing` commits before the Kubernetes call and the outcome commits after it
(bot/remediation/execute.py), so a process killed in between leaves a proposal `executing` with
no record of whether its write reached the API server. A sweep takes those that went executing
longer ago than a live execution can take (the caller passes e.g. 2 x ACTION_VERIFY_TIMEOUT_SECONDS
+ 60 s), asks the executor whether the change is in effect (a read: it never executes again)
and records, as `system:reconciler` with `reconciled: true` in the audit payload:
- applied: verified once, then succeeded, or failed "applied, but not verified" as run_claimed
  would; a reversible change gets its undo offered;
- not applied: failed, "propose it again";
- cannot tell (API unreachable, object gone): left executing for the next sweep, with an audited
  note each time the reason changes (not one per sweep).
Outcomes go through run_claimed's conditional `executing -> ...` update, so concurrent sweeps, or
a sweep racing a late execution, record exactly one outcome.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import transaction
from bot.models import RemediationProposal
from bot.remediation.execute import outcome_dict, record_outcome, to_request
from bot.remediation.planning import safe_call
from bot.remediation.policy import ApprovalPolicy, Identity
from bot.remediation.service import _defaults
from bot.remediation.state import lock_proposal, utcnow
from bot.remediation.tokens import Signer
from bot.remediation.views import ProposalView, aware

RECONCILER = Identity("system", "reconciler", display="crash recovery")
DEFERRED = "proposal.reconcile_deferred"


@dataclass(frozen=True)
class ReconcileResult:
    proposal_id: str
    action: str
    # succeeded | failed | unknown (left executing) | skipped (another process recorded an outcome first)
    outcome: str
    message: str
    undo: ProposalView | None = None


@dataclass(frozen=True)
class _Stale:
    proposal_id: str
    request: Any  # tools.actions.ActionRequest
    since: datetime
    text: str


async def reconcile_executing(factory: sessionmaker[Session], executor: Any, *, older_than: timedelta,
                              now: datetime | None = None, policy: ApprovalPolicy | None = None,
                              signer: Signer | None = None) -> list[ReconcileResult]:
    """Settle every proposal that went `executing` more than `older_than` before `now`."""
    policy, signer = _defaults(policy, signer)
    now = now or utcnow()
    stale = await asyncio.to_thread(_stale, factory, now - older_than)
    return [await _settle(factory, executor, one, policy, signer, now) for one in stale]


def _stale(factory: sessionmaker[Session], cutoff: datetime) -> list[_Stale]:
    with factory() as s:
        rows = s.execute(select(RemediationProposal)
                         .where(RemediationProposal.state == "executing", RemediationProposal.executed_at <= cutoff)
                         .order_by(RemediationProposal.executed_at, RemediationProposal.id)).scalars().all()
        return [_Stale(r.id, to_request(r), aware(r.executed_at), r.action_text or f"{r.action_type} {r.target}")
                for r in rows]


async def _settle(factory: sessionmaker[Session], executor: Any, stale: _Stale, policy: ApprovalPolicy,
                  signer: Signer, now: datetime) -> ReconcileResult:
    req, pid, text = stale.request, stale.proposal_id, stale.text
    observed = await safe_call(lambda: executor.observe(req, stale.since), "observe")
    applied = (getattr(observed, "details", None) or {}).get("applied")
    if applied is None:
        noted = await asyncio.to_thread(_note, factory, pid, observed, now)
        return ReconcileResult(pid, text, "unknown" if noted else "skipped", observed.message)
    # One look, no waiting: the sweep runs long after any rollout of this change should have finished.
    verified = await safe_call(lambda: executor.verify(req, timeout=0), "verify") if applied else None
    ok = bool(applied and verified is not None and verified.ok)
    if ok:
        message = f"{text}: the executing process stopped; {observed.message}. {verified.message}"
    elif applied:
        message = f"{text}: the executing process stopped; {observed.message}, but not verified: {verified.message}"
    else:
        message = (f"{text}: the executing process stopped; {observed.message}. Nothing more will be done: "
                   "propose it again if it is still needed")
    result = {"observed": outcome_dict(observed), "verify": outcome_dict(verified), "reconciled": True,
              "reconciled_by": RECONCILER.key, "message": message, "finished_at": now.isoformat()}
    view, undo, moved = await record_outcome(factory, executor, req, pid, RECONCILER, observed, ok, result, policy,
                                             signer, now, payload={"reconciled": True})
    if not moved:
        return ReconcileResult(pid, text, "skipped", f"{text}: already {view.state}")
    return ReconcileResult(pid, text, view.state, message, undo)


def _note(factory: sessionmaker[Session], proposal_id: str, observed: Any, now: datetime) -> bool:
    """Record a sweep that could not tell; False if the proposal is no longer executing."""
    with transaction(factory) as s:
        row = lock_proposal(s, proposal_id)
        if row is None or row.state != "executing":
            return False
        last = (row.result or {}).get("reconcile") or {}
        note = {"attempts": int(last.get("attempts") or 0) + 1, "last_attempt": now.isoformat(),
                "note": str(observed.message)[:2000]}
        row.result = {**(row.result or {}), "reconcile": note}
        if last.get("note") != note["note"]:
            audit.append(s, actor=RECONCILER.key, platform=RECONCILER.platform, event=DEFERRED,
                         subject=f"proposal/{proposal_id}",
                         payload={"reconciled": False, "observed": outcome_dict(observed),
                                  "attempts": note["attempts"]})
        return True
