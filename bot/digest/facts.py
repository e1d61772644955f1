"""The rows one digest reads, loaded once per week, and the per-row facts every section shares.

Definitions (the README's Weekly digest section repeats them):
- An incident belongs to the week it was *opened* in (local time of DIGEST_TIMEZONE).
- A diagnosis's verdict comes from the feedback table: each person has one verdict per diagnosis
  (a second click replaces theirs); the majority of right against wrong decides, a tie goes to the
  most recently given verdict, and no feedback at all is "unknown". A wrong verdict's corrected
  category is the one named by the latest "wrong" that named one.
- An incident's category is its latest diagnosis's, replaced by the corrected one when that
  diagnosis was judged wrong and the cause was named; "undiagnosed" without a diagnosis.
- A human action on an incident is an approval or rejection of one of its proposals, or feedback
  on one of its diagnoses (people only: AUTO_APPROVE_LOW writes no approval row).
- A diagnosis is confirmed by an action when its incident has an executed proposal whose alert
  resolved in time afterwards (remediation_proposals.effective is true).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.digest.week import Week
from bot.models import Approval, Diagnosis, Feedback, Incident, RemediationProposal

UNDIAGNOSED = "undiagnosed"
TREND_WEEKS = 8
_CHUNK = 500


def aware(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return ts.replace(tzinfo=timezone.utc) if ts is not None and ts.tzinfo is None else ts


def verdict(rows: Iterable[Feedback]) -> tuple[str, str | None]:
    """("right" | "wrong" | "unknown", corrected category or None) for one diagnosis's feedback."""
    rows = sorted(rows, key=lambda f: (aware(f.updated_at) or aware(f.created_at), f.id))
    if not rows:
        return "unknown", None
    right = sum(f.verdict == "right" for f in rows)
    wrong = sum(f.verdict == "wrong" for f in rows)
    outcome = "right" if right > wrong else "wrong" if wrong > right else rows[-1].verdict
    if outcome != "wrong":
        return outcome, None
    named = [f.category for f in rows if f.verdict == "wrong" and f.category]
    return "wrong", (named[-1] if named else None)


@dataclass
class Facts:
    week: Week
    this_week: list[Incident]
    last_week: list[Incident]
    incidents: dict[str, Incident]
    diagnoses: dict[str, list[Diagnosis]]          # by incident, oldest first
    week_diagnoses: list[Diagnosis]                # created in the week, of an incident
    feedback: dict[str, list[Feedback]]            # by diagnosis
    proposals: dict[str, list[RemediationProposal]]  # by incident
    week_proposals: list[RemediationProposal]      # created in the week
    approvals: dict[str, list[Approval]]           # by proposal
    resolved_in_week: list[Incident]
    succeeded_in_week: list[RemediationProposal]
    corrections: list[Feedback]                    # "wrong" naming a category, given in the week
    trend: list[tuple[datetime, datetime | None]] = field(default_factory=list)  # (opened, resolved)

    def verdict_of(self, d: Diagnosis) -> tuple[str, str | None]:
        return verdict(self.feedback.get(d.id, ()))

    def latest_diagnosis(self, incident_id: str) -> Diagnosis | None:
        ds = self.diagnoses.get(incident_id)
        return ds[-1] if ds else None

    def category_of(self, incident_id: str) -> str:
        d = self.latest_diagnosis(incident_id)
        if d is None:
            return UNDIAGNOSED
        outcome, corrected = self.verdict_of(d)
        return corrected if outcome == "wrong" and corrected else d.category

    def human_actions(self, incident_id: str) -> list[datetime]:
        votes = [aware(a.created_at) for p in self.proposals.get(incident_id, ()) for a in self.approvals.get(p.id, ())]
        said = [aware(f.created_at) for d in self.diagnoses.get(incident_id, ()) for f in self.feedback.get(d.id, ())]
        return sorted(t for t in votes + said if t is not None)

    def confirmed(self, incident_id: str | None) -> bool:
        return bool(incident_id) and any(p.executed_at is not None and p.effective is True
                                         for p in self.proposals.get(incident_id, ()))

    def title(self, incident_id: str | None) -> str:
        inc = self.incidents.get(incident_id or "")
        if inc is None:
            return f"incident {incident_id}" if incident_id else "no incident"
        return inc.title or inc.alert_name or f"incident {inc.id}"


def _in(s: Session, model: Any, column: Any, ids: Iterable[str]) -> list[Any]:
    ids = sorted(set(i for i in ids if i))
    out: list[Any] = []
    for i in range(0, len(ids), _CHUNK):
        out.extend(s.execute(select(model).where(column.in_(ids[i:i + _CHUNK]))).scalars().all())
    return out


def _within(column: Any, lo: datetime, hi: datetime) -> Any:
    return (column >= lo) & (column < hi)


def load(s: Session, week: Week) -> Facts:
    lo, start, end = week.shifted(-1).start_utc, week.start_utc, week.end_utc
    recent = s.execute(select(Incident).where(_within(Incident.opened_at, lo, end))).scalars().all()
    week_diag = s.execute(select(Diagnosis).where(_within(Diagnosis.created_at, start, end),
                                                  Diagnosis.incident_id.is_not(None))).scalars().all()
    resolved = s.execute(select(Incident).where(_within(Incident.resolved_at, start, end),
                                                Incident.status == "resolved")).scalars().all()
    succeeded = s.execute(select(RemediationProposal).where(
        _within(RemediationProposal.executed_at, start, end), RemediationProposal.state == "succeeded")).scalars().all()
    week_props = s.execute(select(RemediationProposal).where(
        _within(RemediationProposal.created_at, start, end))).scalars().all()
    corrections = s.execute(select(Feedback).where(_within(Feedback.updated_at, start, end), Feedback.verdict == "wrong",
                                                   Feedback.category.is_not(None))).scalars().all()
    incidents = {i.id: i for i in [*recent, *resolved]}
    wanted = {d.incident_id for d in week_diag} | {p.incident_id for p in [*succeeded, *week_props]} \
        | {f.incident_id for f in corrections}
    incidents.update({i.id: i for i in _in(s, Incident, Incident.id, wanted - set(incidents))})
    diagnoses: dict[str, list[Diagnosis]] = defaultdict(list)
    diag_rows = {d.id: d for d in [*_in(s, Diagnosis, Diagnosis.incident_id, incidents), *week_diag]}
    for d in sorted(diag_rows.values(), key=lambda d: (aware(d.created_at), d.id)):
        diagnoses[d.incident_id].append(d)
    feedback: dict[str, list[Feedback]] = defaultdict(list)
    for f in _in(s, Feedback, Feedback.diagnosis_id, diag_rows):
        feedback[f.diagnosis_id].append(f)
    prop_rows = {p.id: p for p in [*_in(s, RemediationProposal, RemediationProposal.incident_id, incidents),
                                   *week_props]}
    proposals: dict[str, list[RemediationProposal]] = defaultdict(list)
    for p in prop_rows.values():
        if p.incident_id:
            proposals[p.incident_id].append(p)
    approvals: dict[str, list[Approval]] = defaultdict(list)
    for a in _in(s, Approval, Approval.proposal_id, prop_rows):
        approvals[a.proposal_id].append(a)
    trend_lo = week.shifted(1 - TREND_WEEKS).start_utc
    trend = [(aware(o), aware(r)) for o, r in s.execute(
        select(Incident.opened_at, Incident.resolved_at).where(_within(Incident.opened_at, trend_lo, end))).all()]
    by_open = sorted(recent, key=lambda i: (aware(i.opened_at), i.id))
    return Facts(week=week, this_week=[i for i in by_open if aware(i.opened_at) >= start],
                 last_week=[i for i in by_open if aware(i.opened_at) < start], incidents=incidents,
                 diagnoses=dict(diagnoses), week_diagnoses=sorted(week_diag, key=lambda d: (aware(d.created_at), d.id)),
                 feedback=dict(feedback), proposals=dict(proposals),
                 week_proposals=sorted(week_props, key=lambda p: (aware(p.created_at), p.id)), approvals=dict(approvals),
                 resolved_in_week=sorted(resolved, key=lambda i: (aware(i.resolved_at), i.id)),
                 succeeded_in_week=sorted(succeeded, key=lambda p: (aware(p.executed_at), p.id)),
                 corrections=sorted(corrections, key=lambda f: (aware(f.updated_at), f.id)), trend=trend)


def seconds(a: datetime | None, b: datetime | None) -> float | None:
    """b - a in seconds, never negative (clock skew between processes); None if either is missing."""
    if a is None or b is None:
        return None
    return max((aware(b) - aware(a)) / timedelta(seconds=1), 0.0)
