"""Database primitives of the state machine: the row lock and the conditional transition.

Every remediation transaction takes the proposal's row lock before the audit chain's lock, so
the two are always acquired in the same order and cannot deadlock.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from bot import audit
from bot.models import RemediationProposal
from bot.remediation.policy import Identity

SYSTEM = Identity("system", "bot", display="chatops bot")
AUTO = Identity("system", "auto-approve", display="AUTO_APPROVE_LOW")
CLOCK = Identity("system", "clock", display="expiry sweep")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def load(session: Session, proposal_id: str) -> RemediationProposal | None:
    return session.execute(select(RemediationProposal).where(RemediationProposal.id == proposal_id)
                           .options(selectinload(RemediationProposal.approvals))).scalars().first()


def lock_proposal(session: Session, proposal_id: str) -> RemediationProposal | None:
    """SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers."""
    stmt = (select(RemediationProposal).where(RemediationProposal.id == proposal_id)
            .options(selectinload(RemediationProposal.approvals)).with_for_update(of=RemediationProposal))
    return session.execute(stmt).scalars().first()


def transition(session: Session, row: RemediationProposal, from_state: str, to_state: str, *, actor: str,
               platform: str, payload: dict[str, Any] | None = None, **values: Any) -> bool:
    """Conditional state change + its audit row; False (nothing written) if the state moved on."""
    res = session.execute(update(RemediationProposal)
                          .where(RemediationProposal.id == row.id, RemediationProposal.state == from_state)
                          .values(state=to_state, **values).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        return False
    session.refresh(row)
    audit.append(session, actor=actor, platform=platform, event=f"proposal.{to_state}",
                 subject=f"proposal/{row.id}",
                 payload={"from": from_state, "action": row.action_text, "risk": row.risk, **(payload or {})})
    return True


def audit_safe(obj: Any) -> Any:
    """JSON-storable copy (datetimes and other objects as text)."""
    return json.loads(json.dumps(obj, default=str))
