"""Did an executed action work? Its incident's alert must resolve within INCIDENT_EFFECTIVE_MINUTES.

The answer comes from the incident as the Alertmanager resolve left it (status `resolved`,
`resolved_at`, bot/workflow/incidents.record_resolved) against the proposal's `executed_at`, never
from a guess, and is decided once, where it can be decided:
- when the resolve arrives (the workflow judges that incident's actions at once), and
- by the periodic `outcomes` task, for actions whose window passed without a resolve (False),
  or whose resolve was handled by a process that died before judging.
Each decision is a conditional update of `effective`/`effective_checked_at` (still unset) with its
audit row (`proposal.effective`) in the same transaction, so two processes never decide twice.
An incident with no alert (a /diagnose) can never be resolved by one: its actions are marked
checked with `effective` left unknown once the window passed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import transaction
from bot.models import Incident, RemediationProposal
from bot.remediation.policy import Identity
from bot.remediation.state import lock_proposal, utcnow
from bot.remediation.views import aware

OUTCOME = Identity("system", "outcome", display="outcome check")


@dataclass(frozen=True)
class Judged:
    proposal_id: str
    incident_id: str | None
    effective: bool | None
    reason: str


def decide(executed_at: datetime, incident: Incident | None, minutes: int,
           now: datetime) -> tuple[bool | None, str] | None:
    """(effective, why) once it can be told, else None (the window is still open)."""
    executed, window = aware(executed_at), timedelta(minutes=minutes)
    resolved = aware(incident.resolved_at) if incident is not None and incident.status == "resolved" else None
    if resolved is not None:
        after = (resolved - executed).total_seconds() / 60
        if resolved < executed:
            return False, f"the alert had resolved {-after:.1f} min before the action ran"
        if resolved <= executed + window:
            return True, f"the alert resolved {after:.1f} min after the action (window {minutes} min)"
        return False, f"the alert resolved {after:.1f} min after the action, past the {minutes}-min window"
    if now < executed + window:
        return None
    if incident is None or not incident.alert_fingerprint:
        return None, "no alert belongs to this incident, so no resolve can tell whether the action worked"
    return False, f"the alert did not resolve within {minutes} min of the action"


def judge_outcomes(factory: sessionmaker[Session], minutes: int, now: datetime | None = None,
                   incident_id: str | None = None) -> list[Judged]:
    """Decide every executed (succeeded) action not decided yet, of one incident or all."""
    now = now or utcnow()
    with factory() as s:
        q = select(RemediationProposal.id).where(RemediationProposal.state == "succeeded",
                                                 RemediationProposal.executed_at.is_not(None),
                                                 RemediationProposal.effective_checked_at.is_(None))
        if incident_id is not None:
            q = q.where(RemediationProposal.incident_id == incident_id)
        due = s.execute(q.order_by(RemediationProposal.executed_at, RemediationProposal.id)).scalars().all()
    out = []
    for pid in due:  # one short transaction each, as the expiry sweep does
        with transaction(factory) as s:
            row = lock_proposal(s, pid)
            incident = s.get(Incident, row.incident_id) if row is not None and row.incident_id else None
            decided = decide(row.executed_at, incident, minutes, now) if row is not None else None
            if decided is None:
                continue
            effective, why = decided
            moved = s.execute(update(RemediationProposal)
                              .where(RemediationProposal.id == pid, RemediationProposal.effective_checked_at.is_(None))
                              .values(effective=effective, effective_checked_at=now)
                              .execution_options(synchronize_session=False)).rowcount
            if moved != 1:
                continue
            audit.append(s, actor=OUTCOME.key, platform=OUTCOME.platform, event="proposal.effective",
                         subject=f"proposal/{pid}",
                         payload={"effective": effective, "reason": why, "minutes": minutes,
                                  "executed_at": aware(row.executed_at).isoformat(), "incident": row.incident_id,
                                  "resolved_at": aware(incident.resolved_at).isoformat()
                                  if incident is not None and incident.resolved_at else None})
            out.append(Judged(pid, row.incident_id, effective, why))
    return out
