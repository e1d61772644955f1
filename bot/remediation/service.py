"""The approval state machine: propose, click (approve/reject), execute once, expire.

States: proposed -> approved -> executing -> succeeded | failed; proposed -> rejected | expired.
Every change is a conditional UPDATE (`... WHERE id=:id AND state=:from`, rowcount must be 1)
made while holding the proposal's row lock, and writes its audit row in the same transaction.
Any number of concurrent clicks, from any process sharing the database, therefore move a
proposal to `executing` once, and only that click executes it.

A proposal whose validation or server-side dry run failed is stored in state `proposed` with
`blocked_reason` set: its view has offerable=False and the reason, and clicks on it are refused.
Proposals outside the catalog or the incident's scope are not stored at all: they are audited
(`proposal.refused`) and returned as views with state "refused".

Database work runs in worker threads (asyncio.to_thread) so a chat web process's event loop
is never blocked by a lock wait.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot import audit, metrics
from bot.db import transaction
from bot.models import Approval, RemediationProposal
from bot.remediation.execute import run_claimed
from bot.remediation.planning import Plan, load_scope, persist, plan_proposal, views_of
from bot.remediation.policy import ApprovalPolicy, Identity
from bot.remediation.state import AUTO, CLOCK, SYSTEM, load, lock_proposal, transition, utcnow
from bot.remediation.tokens import Signer
from bot.remediation.views import ClickResult, ProposalView, aware, refused, render

DECISIONS = ("approve", "reject")


def _defaults(policy: ApprovalPolicy | None, signer: Signer | None) -> tuple[ApprovalPolicy, Signer]:
    if policy is not None and signer is not None:
        return policy, signer
    from bot.remediation.tokens import signer_from_settings
    from bot.settings import get_settings

    s = get_settings()
    return policy or ApprovalPolicy.from_settings(s), signer or signer_from_settings(s)


def _requester_key(requested_by: Identity | str | None) -> str:
    if isinstance(requested_by, Identity):
        return requested_by.key
    return requested_by or SYSTEM.key


# -- propose --------------------------------------------------------------------------------

async def propose(factory: sessionmaker[Session], executor: Any, incident_id: str | None, diagnosis_id: str | None,
                  proposals: list[Any], requested_by: Identity | str | None = None,
                  namespace_allowlist: tuple[str, ...] = (), risk_overrides: dict[str, str] | None = None, *,
                  policy: ApprovalPolicy | None = None, signer: Signer | None = None,
                  now: datetime | None = None) -> list[ProposalView]:
    """Validate, dry-run and store proposals; returns one view per input proposal, in order."""
    policy, signer = _defaults(policy, signer)
    now = now or utcnow()
    requester = _requester_key(requested_by)
    scope = await asyncio.to_thread(load_scope, factory, incident_id, diagnosis_id, tuple(namespace_allowlist))
    plans: list[Plan] = []
    seen: set[tuple] = set()
    for p in proposals:
        plan = await plan_proposal(p, scope, executor, policy, risk_overrides)
        key = (plan.action_type, plan.target, plan.namespace, audit.canonical_json(plan.parameters))
        if not plan.refused and key in seen:
            plan.refused = "duplicate proposal"
        seen.add(key)
        plans.append(plan)
    ids = iter(await asyncio.to_thread(persist, factory, plans, incident_id, diagnosis_id, requester, policy, now))
    stored = {}
    for plan in plans:
        if not plan.refused:
            stored[id(plan)] = next(ids)
    views_by_id = {v.proposal_id: v for v in await asyncio.to_thread(views_of, factory, stored.values(), signer, now)}
    out: list[ProposalView] = []
    for plan in plans:
        if plan.refused:
            out.append(refused(plan.action_type, plan.target, plan.namespace, plan.parameters, plan.risk,
                               plan.refused, incident_id, plan.rationale))
            continue
        view = views_by_id[stored[id(plan)]]
        if view.offerable and policy.auto_approves(view.risk):
            result = await _auto_approve(factory, executor, view.proposal_id, policy, signer, now)
            view = result.view or view
        out.append(view)
    return out


# -- click ----------------------------------------------------------------------------------

@dataclass
class _Decided:
    result: ClickResult
    claimed: bool = False


def _deny(s: Session, event: str, who: Identity, proposal_id: str, status: str, message: str,
          row: RemediationProposal | None, signer: Signer, now: datetime, **payload: Any) -> _Decided:
    audit.append(s, actor=who.key, platform=who.platform, event=event, subject=f"proposal/{proposal_id}"[:300],
                 payload={"display": who.display, "reason": message, **payload})
    return _Decided(ClickResult(False, status, message, render(row, signer, now) if row is not None else None))


def _decide(factory: sessionmaker[Session], proposal_id: str, token: str | None, who: Identity, decision: str,
            policy: ApprovalPolicy, signer: Signer, now: datetime) -> _Decided:
    with transaction(factory) as s:
        row = lock_proposal(s, proposal_id)
        if row is None:
            return _deny(s, "token.rejected", who, proposal_id, "not_found", "no such proposal", None, signer, now,
                         kind="unknown_proposal", decision=decision)
        if not signer.verify(row, token):
            return _deny(s, "token.rejected", who, proposal_id, "invalid_token",
                         "the approval token is not valid for this proposal", row, signer, now,
                         kind="forged", decision=decision)
        if row.state != "proposed":
            return _deny(s, "token.rejected", who, proposal_id, "already_decided",
                         f"this proposal is already {row.state}", row, signer, now, kind="replayed",
                         decision=decision, state=row.state)
        if aware(row.expires_at) is not None and now >= aware(row.expires_at):
            transition(s, row, "proposed", "expired", actor=who.key, platform=who.platform, decided_at=now,
                       payload={"expires_at": aware(row.expires_at).isoformat(), "on_click": decision})
            return _Decided(ClickResult(False, "expired", "this proposal has expired", render(row, signer, now)))
        if row.blocked_reason:
            return _deny(s, "approval.denied", who, proposal_id, "not_offerable",
                         f"this proposal cannot be approved: {row.blocked_reason}", row, signer, now, decision=decision)
        why = policy.denial(who, row.risk, row.requested_by, decision)
        if why:
            return _deny(s, "approval.denied", who, proposal_id, "denied", why, row, signer, now, decision=decision,
                         risk=row.risk)
        return _reject(s, row, who, signer, now) if decision == "reject" else _approve(s, row, who, signer, now)


def _vote(s: Session, row: RemediationProposal, who: Identity, decision: str, now: datetime) -> bool:
    """Record one vote per person; False if this person already voted (counts once)."""
    existing = next((a for a in row.approvals if a.approver == who.user_id and a.platform == who.platform), None)
    if existing is not None:
        if decision == "reject" and existing.decision != "reject":
            existing.decision = "reject"
            s.flush()
            return True
        return False
    try:
        with s.begin_nested():
            s.add(Approval(proposal_id=row.id, approver=who.user_id[:200], platform=who.platform[:20],
                           decision=decision, created_at=now))
    except IntegrityError:  # unique (proposal, approver, platform): a concurrent duplicate
        return False
    s.expire(row, ["approvals"])
    return True


def _reject(s: Session, row: RemediationProposal, who: Identity, signer: Signer, now: datetime) -> _Decided:
    _vote(s, row, who, "reject", now)
    transition(s, row, "proposed", "rejected", actor=who.key, platform=who.platform, decided_at=now,
               payload={"display": who.display})
    return _Decided(ClickResult(True, "rejected", f"rejected by {who.label}", render(row, signer, now)))


def _approve(s: Session, row: RemediationProposal, who: Identity, signer: Signer, now: datetime) -> _Decided:
    if not _vote(s, row, who, "approve", now):
        audit.append(s, actor=who.key, platform=who.platform, event="approval.duplicate", subject=f"proposal/{row.id}",
                     payload={"display": who.display})
        return _Decided(ClickResult(False, "duplicate", "you already approved this; a second click counts once",
                                    render(row, signer, now)))
    voters = {(a.platform, a.approver) for a in row.approvals if a.decision == "approve"}
    audit.append(s, actor=who.key, platform=who.platform, event="approval.recorded", subject=f"proposal/{row.id}",
                 payload={"display": who.display, "received": len(voters), "required": row.approvals_required})
    if len(voters) < row.approvals_required:
        missing = row.approvals_required - len(voters)
        return _Decided(ClickResult(True, "recorded", f"approval recorded; {missing} more needed",
                                    render(row, signer, now)))
    return _claim(s, row, who, signer, now, approvers=sorted(f"{p}:{u}" for p, u in voters))


def _claim(s: Session, row: RemediationProposal, who: Identity, signer: Signer, now: datetime,
           approvers: list[str]) -> _Decided:
    if not transition(s, row, "proposed", "approved", actor=who.key, platform=who.platform, decided_at=now,
                      payload={"approvers": approvers}):
        return _Decided(ClickResult(False, "already_decided", f"this proposal is already {row.state}",
                                    render(row, signer, now)))
    # The claim: only the transaction whose conditional update matched executes.
    if not transition(s, row, "approved", "executing", actor=who.key, platform=who.platform, executed_at=now):
        return _Decided(ClickResult(False, "already_decided", f"this proposal is already {row.state}",
                                    render(row, signer, now)))
    return _Decided(ClickResult(True, "executing", "approved; executing", render(row, signer, now)), claimed=True)


async def click(factory: sessionmaker[Session], executor: Any, proposal_id: str, token: str | None, identity: Identity,
                decision: str, *, policy: ApprovalPolicy | None = None, signer: Signer | None = None,
                now: datetime | None = None) -> ClickResult:
    """One approve/reject click. Never raises for a bad click: the result says why it did nothing."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
    policy, signer = _defaults(policy, signer)
    now = now or utcnow()
    decided = await asyncio.to_thread(_decide, factory, str(proposal_id)[:64], token, identity, decision,
                                      policy, signer, now)
    metrics.approval("approved" if decided.claimed else decided.result.status)
    if not decided.claimed:
        return decided.result
    return await run_claimed(factory, executor, proposal_id, identity, policy, signer, now)


def _auto_claim(factory: sessionmaker[Session], proposal_id: str, signer: Signer, now: datetime) -> _Decided:
    with transaction(factory) as s:
        row = lock_proposal(s, proposal_id)
        return _claim(s, row, AUTO, signer, now, approvers=[AUTO.key])


async def _auto_approve(factory: sessionmaker[Session], executor: Any, proposal_id: str, policy: ApprovalPolicy,
                        signer: Signer, now: datetime) -> ClickResult:
    decided = await asyncio.to_thread(_auto_claim, factory, proposal_id, signer, now)
    metrics.approval("auto_approved" if decided.claimed else decided.result.status)
    if not decided.claimed:
        return decided.result
    return await run_claimed(factory, executor, proposal_id, AUTO, policy, signer, now)


# -- expiry & reads -------------------------------------------------------------------------

# message_ref[PENDING] == "expired": the proposal's chat message still shows live buttons and is owed
# an edit (bot/workflow/expiry.py makes it). Written in the expiring transaction, so neither a crash
# nor a failed chat call loses it; a click that expires a proposal edits its own message instead.
PENDING = "pending"


def expire_due(factory: sessionmaker[Session], now: datetime | None = None) -> list[str]:
    """Move every overdue `proposed` proposal to `expired` (audited). Returns their ids."""
    now = now or utcnow()
    with factory() as s:
        due = s.execute(select(RemediationProposal.id)
                        .where(RemediationProposal.state == "proposed", RemediationProposal.expires_at <= now)
                        .order_by(RemediationProposal.id)).scalars().all()
    expired: list[str] = []
    for pid in due:  # one short transaction each: a sweep never holds many row locks
        with transaction(factory) as s:
            row = lock_proposal(s, pid)
            if row is None or row.state != "proposed" or now < aware(row.expires_at):
                continue
            owed = {"message_ref": {**row.message_ref, PENDING: "expired"}} if row.message_ref else {}
            if transition(s, row, "proposed", "expired", actor=CLOCK.key, platform=CLOCK.platform, decided_at=now,
                          payload={"expires_at": aware(row.expires_at).isoformat()}, **owed):
                expired.append(pid)
    return expired


def list_proposals(factory: sessionmaker[Session], signer: Signer, state: str | None = None, limit: int = 50,
                   incident_id: str | None = None, now: datetime | None = None) -> list[ProposalView]:
    with factory() as s:
        q = select(RemediationProposal).options(selectinload(RemediationProposal.approvals))
        if state:
            q = q.where(RemediationProposal.state == state)
        if incident_id:
            q = q.where(RemediationProposal.incident_id == incident_id)
        rows = s.execute(q.order_by(RemediationProposal.created_at.desc()).limit(limit)).scalars().all()
        return [render(r, signer, now) for r in rows]


def get_view(factory: sessionmaker[Session], proposal_id: str, signer: Signer,
             now: datetime | None = None) -> ProposalView | None:
    with factory() as s:
        row = load(s, proposal_id)
        return render(row, signer, now) if row is not None else None
