"""Recording a person's verdict on a diagnosis: who may, the token, the row and its audit row.

The same identity rules as approvals: the clicker's Identity is resolved by the platform exactly as
for an approval click (Slack user and user groups, Teams Entra object id and Graph groups, console
name), and feedback may come from anyone the approval policy lists as an approver at any level
(APPROVERS_MEDIUM|HIGH|CRITICAL, users and groups, on the clicker's own platform), plus the person
who asked for the diagnosis (/diagnose). Why this rule: the verdict rewrites what the bot
remembers about the incident and steers later diagnoses, so it needs the people trusted to act on
the incident; and whoever asked knows what they were looking at. Everyone else is refused with
the reason, and the refusal is audited.

Feedback buttons carry the diagnosis id and an HMAC token of purpose "feedback" (Signer.sign_for):
a forged token, or one copied from another diagnosis, is refused and audited as `token.rejected`,
and neither kind of token can pass for the other. The row (unique per diagnosis and person: a
second click replaces the verdict) and its audit row are written in one transaction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import take_write_lock, transaction
from bot.feedback.view import PURPOSE, FeedbackForm, FeedbackView, view_of
from bot.models import AuditEntry, Diagnosis, Feedback, Incident
from bot.remediation.policy import ApprovalPolicy, Identity, same_person
from tools.redact import redact
from tools.taxonomy import CATEGORIES, category_label

VERDICTS = ("right", "wrong")
MAX_NOTE = 300
COMMAND_SOURCES = ("command", "console")  # incidents a person asked for (/diagnose); alerts have no requester
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass
class FeedbackResult:
    ok: bool
    status: str  # recorded | replaced | unchanged | form | denied | invalid_token | not_found | invalid
    message: str
    view: FeedbackView | None = None
    form: FeedbackForm | None = None
    incident_id: str | None = None


def clean_note(note: str | None) -> str | None:
    """One line of at most MAX_NOTE characters, secrets masked first (a person may paste one, and a
    cut must not split a secret past recognition), control characters and runs of spaces folded."""
    if not note:
        return None
    text = " ".join(_CONTROL.sub(" ", redact(str(note))).split())
    if len(text) > MAX_NOTE:
        text = text[:MAX_NOTE - 1].rstrip() + "…"
    return text or None


def requester(session: Session, incident: Incident | None) -> str | None:
    """platform:user of whoever asked for the incident (/diagnose), from its audited opening; None for
    alert incidents (their opener is the alert's sender, not a person)."""
    if incident is None or incident.source not in COMMAND_SOURCES:
        return None
    return session.execute(select(AuditEntry.actor).where(AuditEntry.event == "incident.opened",
                                                          AuditEntry.subject == f"incident/{incident.id}")
                           .order_by(AuditEntry.seq).limit(1)).scalar()


def denial(policy: ApprovalPolicy, who: Identity, requested_by: str | None) -> str | None:
    """None if `who` may give feedback on a diagnosis of an incident `requested_by` asked for."""
    if policy.allowed_at("MEDIUM").allows(who) or same_person(who, requested_by):
        return None
    return (f"{who.label} may not give feedback on this diagnosis: only approvers (APPROVERS_*) and the person "
            "who asked for it may")


def _refuse(s: Session, event: str, who: Identity, diagnosis_id: str, status: str, message: str,
            **payload: Any) -> FeedbackResult:
    audit.append(s, actor=who.key, platform=who.platform, event=event, subject=f"diagnosis/{diagnosis_id}"[:300],
                 payload={"display": who.display, "reason": message, "purpose": PURPOSE, **payload})
    return FeedbackResult(False, status, message)


def _gate(s: Session, diagnosis_id: str, token: str | None, who: Identity, policy: ApprovalPolicy,
          signer: Any, verdict: str) -> tuple[Diagnosis, Incident | None] | FeedbackResult:
    """The diagnosis and its incident, or the audited refusal: unknown diagnosis, bad token, not allowed."""
    row = s.get(Diagnosis, diagnosis_id)
    if row is None:
        return _refuse(s, "token.rejected", who, diagnosis_id, "not_found", "no such diagnosis",
                       kind="unknown_diagnosis", verdict=verdict)
    if not signer.verify_for(PURPOSE, token, diagnosis_id):
        return _refuse(s, "token.rejected", who, diagnosis_id, "invalid_token",
                       "the feedback token is not valid for this diagnosis", kind="forged", verdict=verdict)
    incident = s.get(Incident, row.incident_id) if row.incident_id else None
    why = denial(policy, who, requester(s, incident))
    if why:
        return _refuse(s, "feedback.denied", who, diagnosis_id, "denied", why, verdict=verdict)
    return row, incident


def open_form(factory: sessionmaker[Session], diagnosis_id: str, token: str | None, who: Identity, *,
              policy: ApprovalPolicy, signer: Any) -> FeedbackResult:
    """Before the "Wrong cause" form is shown: the same checks as recording it (refusals audited), so
    nobody fills in a form only to be refused; an allowed clicker gets the form's choices."""
    with transaction(factory) as s:
        gated = _gate(s, str(diagnosis_id)[:64], token, who, policy, signer, "wrong")
        if isinstance(gated, FeedbackResult):
            return gated
        row, _ = gated
        return FeedbackResult(True, "form", "", form=FeedbackForm(row.id, token or "", row.category),
                              incident_id=row.incident_id)


def record_feedback(factory: sessionmaker[Session], diagnosis_id: str, token: str | None, identity: Identity,
                    verdict: str, category: str | None = None, note: str | None = None, *,
                    policy: ApprovalPolicy, signer: Any, now: datetime | None = None) -> FeedbackResult:
    """Store one person's verdict (replacing their earlier one) with its audit row. Never raises for a
    bad click or bad input: the result says why nothing was recorded."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
    now = now or datetime.now(timezone.utc)
    diagnosis_id = str(diagnosis_id)[:64]
    note = clean_note(note)
    with transaction(factory) as s:
        take_write_lock(s, f"feedback:{diagnosis_id}")  # one writer per diagnosis: the upsert cannot race
        gated = _gate(s, diagnosis_id, token, identity, policy, signer, verdict)
        if isinstance(gated, FeedbackResult):
            return gated
        row, _ = gated
        category = category if verdict == "wrong" else None
        problem = _invalid(verdict, category, row.category)
        if problem:
            return _refuse(s, "feedback.invalid", identity, diagnosis_id, "invalid", problem, verdict=verdict,
                           category=str(category)[:60] if category else None)
        mine = s.execute(select(Feedback).where(Feedback.diagnosis_id == row.id, Feedback.actor == identity.key)
                         ).scalars().first()
        before = (mine.verdict, mine.category, mine.note) if mine is not None else None
        payload = {"display": identity.display, "verdict": verdict, "category": category, "note": note,
                   "engine_category": row.category, "incident": row.incident_id}
        if before == (verdict, category, note):
            audit.append(s, actor=identity.key, platform=identity.platform, event="feedback.unchanged",
                         subject=f"diagnosis/{row.id}", payload=payload)
            status, message = "unchanged", "you had already said this; nothing changed"
        else:
            if mine is None:
                s.add(Feedback(diagnosis_id=row.id, incident_id=row.incident_id, actor=identity.key[:200],
                               platform=identity.platform[:20], verdict=verdict, category=category, note=note,
                               created_at=now, updated_at=now))
            else:
                mine.verdict, mine.category, mine.note, mine.updated_at = verdict, category, note, now
            s.flush()
            if before is not None:
                payload["replaced"] = {"verdict": before[0], "category": before[1]}
            audit.append(s, actor=identity.key, platform=identity.platform, event="feedback.recorded",
                         subject=f"diagnosis/{row.id}", payload=payload)
            status = "replaced" if before is not None else "recorded"
            message = ("right cause" if verdict == "right"
                       else f"wrong cause; the real cause is {category_label(category or '')}")
        return FeedbackResult(True, status, message, view=view_of(s, row, signer), incident_id=row.incident_id)


def _invalid(verdict: str, category: str | None, engine_category: str) -> str | None:
    if verdict != "wrong":
        return None
    if not category:
        return "Wrong cause needs the real cause: pick one of the categories."
    if category not in CATEGORIES:
        return f"{str(category)[:60]!r} is not a category; pick one of: {', '.join(CATEGORIES)}."
    if category == engine_category:
        return (f"{category_label(category)} is what the diagnosis said; pick the real cause, or press "
                "Right cause.")
    return None
