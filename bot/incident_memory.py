"""Turn incident rows (Incident, Diagnosis, RemediationProposal) into knowledge records.

The workflow calls `remember` when an incident resolves, a remediation succeeds, an action's
outcome is decided or people give feedback on the diagnosis (a corrected cause replaces the
engine's category); `chatops knowledge rebuild` calls `records_from_db` to restore every
remembered incident after the index is wiped.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.feedback import settle, verdicts
from bot.models import Diagnosis, Feedback, Incident, RemediationProposal
from knowledge import IncidentRecord, KnowledgeBase, effectiveness

log = logging.getLogger(__name__)

MAX_ITEMS = 20


def _text(item: Any) -> str:
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, dict):
        for key in ("template", "text", "summary", "description", "message", "detail"):
            if isinstance(item.get(key), str) and item[key].strip():
                return item[key].strip()
    return ""


def _kind(item: Any) -> str:
    if isinstance(item, dict):
        return " ".join(str(item.get(k, "")) for k in ("kind", "type", "source", "tool")).lower()
    return ""


def _evidence(diag: Diagnosis) -> tuple[list[str], list[str]]:
    """(log templates, metric anomalies) from the typed document first, then the evidence list."""
    doc = diag.document or {}
    logs = [t for t in map(_text, doc.get("log_templates") or []) if t]
    metrics = [t for t in map(_text, doc.get("metric_anomalies") or []) if t]
    for item in diag.evidence or []:
        kind, text = _kind(item), _text(item)
        if not text:
            continue
        if "log" in kind or "opensearch" in kind:
            logs.append(text)
        elif "metric" in kind or "prometheus" in kind or "promql" in kind:
            metrics.append(text)
    dedup = lambda xs: list(dict.fromkeys(xs))[:MAX_ITEMS]  # noqa: E731
    return dedup(logs), dedup(metrics)


def _chosen_proposal(session: Session, incident_id: str) -> RemediationProposal | None:
    """The action to learn from: the latest that succeeded, else the latest that failed."""
    rows = session.scalars(select(RemediationProposal).where(
        RemediationProposal.incident_id == incident_id,
        RemediationProposal.state.in_(("succeeded", "failed")))).all()
    for state in ("succeeded", "failed"):
        picked = [r for r in rows if r.state == state]
        if picked:
            return max(picked, key=lambda r: (r.executed_at or r.decided_at or r.created_at))
    return None


def record_from_db(session: Session, incident_id: str, effective_minutes: int) -> IncidentRecord | None:
    """None when the incident does not exist or was never diagnosed (nothing to learn)."""
    inc = session.get(Incident, incident_id)
    if inc is None:
        return None
    diag = session.scalars(select(Diagnosis).where(Diagnosis.incident_id == incident_id)
                           .order_by(Diagnosis.created_at.desc())).first()
    if diag is None:
        return None
    logs, metrics = _evidence(diag)
    prop = _chosen_proposal(session, incident_id)
    action = outcome = None
    effective: bool | None = None
    if prop is not None:
        ns = prop.namespace or inc.namespace
        action = f"{prop.action_type} {prop.target}" + (f" in {ns}" if ns else "")
        outcome = prop.state
        if prop.state != "succeeded":
            effective = False
        elif prop.effective_checked_at is not None:  # decided by bot/remediation/outcome.py (and audited)
            effective = prop.effective
        else:  # not judged yet (rows older than 0008, or a judge still due): the same rule on the same data
            effective = effectiveness(prop.executed_at, inc.resolved_at, effective_minutes)
    alert = inc.alert_name or ""
    labels_summary = (inc.labels or {}).get("summary") or (inc.labels or {}).get("description")
    if inc.title and inc.title != alert:
        alert = f"{alert}: {inc.title}" if alert else inc.title
    if isinstance(labels_summary, str) and labels_summary not in alert:
        alert = f"{alert} — {labels_summary}" if alert else labels_summary
    # People's verdict outranks the engine's answer: a corrected cause becomes the document's category.
    cause = settle(diag.category, verdicts(session, diag.id))
    return IncidentRecord(
        id=inc.id, title=inc.title or inc.alert_name or diag.summary[:120], service=inc.service,
        namespace=inc.namespace, severity=inc.severity, category=cause.category, component=diag.component,
        alert=alert, log_templates=logs, metric_anomalies=metrics, diagnosis=diag.summary,
        action=action, outcome=outcome or "none", effective=effective, resolved_at=inc.resolved_at,
        opened_at=inc.opened_at, feedback=cause.state, engine_category=cause.engine_category if cause.state else None,
        feedback_note=cause.note, confirmed=cause.confirmed, corrected=cause.corrected,
    )


def remember(session: Session, kb: KnowledgeBase, incident_id: str, effective_minutes: int | None = None) -> bool:
    """Upsert the incident into the knowledge base; False when there was nothing to remember."""
    if effective_minutes is None:
        from bot.settings import get_settings

        effective_minutes = get_settings().incident_effective_minutes
    rec = record_from_db(session, incident_id, effective_minutes)
    if rec is None:
        return False
    kb.remember_incident(rec)
    return True


def records_from_db(session: Session, effective_minutes: int) -> Iterable[IncidentRecord]:
    """Every incident worth remembering: resolved, with a remediation that succeeded, or with people's
    verdict on its diagnosis (the workflow remembers those as soon as the verdict is given)."""
    succeeded = select(RemediationProposal.incident_id).where(RemediationProposal.state == "succeeded")
    judged = select(Feedback.incident_id).where(Feedback.incident_id.is_not(None))
    ids = session.scalars(select(Incident.id).where(
        or_(Incident.status == "resolved", Incident.id.in_(succeeded), Incident.id.in_(judged)))
        .order_by(Incident.opened_at)).all()
    for incident_id in ids:
        rec = record_from_db(session, incident_id, effective_minutes)
        if rec is not None:
            yield rec
