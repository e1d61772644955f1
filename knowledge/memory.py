"""Incident memory: a resolved incident becomes one searchable document.

The document holds what a responder would want next time — the alert, the log
templates and metric anomalies seen, the diagnosis, and the action taken with its
outcome and whether the alert resolved soon enough afterwards to credit the action.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from knowledge.chunks import Chunk

MAX_LIST_ITEMS = 20
OUTCOMES = ("succeeded", "failed", "none")


@dataclass
class IncidentRecord:
    id: str
    title: str
    service: str | None = None
    namespace: str | None = None
    severity: str | None = None
    category: str = "unknown"
    component: str | None = None
    alert: str = ""
    log_templates: list[str] = field(default_factory=list)
    metric_anomalies: list[str] = field(default_factory=list)
    diagnosis: str = ""
    action: str | None = None  # "<action type> <target>", e.g. "rollback deployment/checkout"
    outcome: str = "none"  # succeeded | failed | none
    effective: bool | None = None
    resolved_at: datetime | None = None
    opened_at: datetime | None = None
    # People's verdict on the diagnosis: "confirmed", or "corrected" (then `category` is their answer
    # and `engine_category` what the engine said), or "" (nobody answered).
    feedback: str = ""
    engine_category: str | None = None
    feedback_note: str | None = None
    confirmed: int = 0
    corrected: int = 0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "IncidentRecord":
        """Build from YAML/JSON; unknown keys are ignored, timestamps may be ISO strings."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("resolved_at", "opened_at"):
            kwargs[key] = _as_datetime(kwargs.get(key))
        for key in ("log_templates", "metric_anomalies"):
            v = kwargs.get(key) or []
            kwargs[key] = [str(x) for x in ([v] if isinstance(v, str) else v)]
        kwargs["id"] = str(kwargs["id"])
        if kwargs.get("outcome") not in OUTCOMES:
            kwargs["outcome"] = "none"
        return cls(**kwargs)

    @property
    def doc_id(self) -> str:
        return f"incident:{self.id}"


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def effectiveness(action_at: datetime | None, resolved_at: datetime | None, minutes: int) -> bool | None:
    """True when the alert resolved within `minutes` after the action; None when unknowable
    (no action time, or not resolved yet); False when it resolved too late or before the
    action, i.e. something else fixed it."""
    if action_at is None or resolved_at is None:
        return None
    action_at, resolved_at = _as_datetime(action_at), _as_datetime(resolved_at)
    assert action_at is not None and resolved_at is not None
    return action_at <= resolved_at <= action_at + timedelta(minutes=minutes)


def _describe_effect(rec: IncidentRecord) -> str:
    if not rec.action:
        return "No remediation action was taken."
    verdict = {True: "the alert resolved shortly after, so it worked",
               False: "the alert did not resolve in time afterwards",
               None: "effect unknown"}[rec.effective]
    return f"Action: {rec.action} — outcome {rec.outcome}; {verdict}."


def _describe_feedback(rec: IncidentRecord) -> str:
    note = f" ({rec.feedback_note})" if rec.feedback_note else ""
    if rec.feedback == "corrected":
        return (f"Cause corrected by people: the engine said {rec.engine_category}, people corrected it to "
                f"{rec.category}{note}.")
    if rec.feedback == "confirmed":
        return f"Cause confirmed by people{note}."
    return ""


def incident_text(rec: IncidentRecord) -> str:
    where = ", ".join(f"{k} {v}" for k, v in (("service", rec.service), ("namespace", rec.namespace),
                                                 ("severity", rec.severity), ("component", rec.component)) if v)
    lines = [f"# Incident: {rec.title}"]
    if rec.alert:
        lines.append(f"Alert: {rec.alert}")
    if where:
        lines.append(f"Scope: {where}")
    lines.append(f"Category: {rec.category}")
    verdict = _describe_feedback(rec)
    if verdict:
        lines.append(verdict)
    if rec.diagnosis:
        lines.append(f"Diagnosis: {rec.diagnosis}")
    lines.append(_describe_effect(rec))
    if rec.log_templates:
        lines.append("Log templates:")
        lines.extend(f"- {t}" for t in rec.log_templates[:MAX_LIST_ITEMS])
    if rec.metric_anomalies:
        lines.append("Metric anomalies:")
        lines.extend(f"- {m}" for m in rec.metric_anomalies[:MAX_LIST_ITEMS])
    return "\n".join(lines)


def incident_chunk(rec: IncidentRecord) -> Chunk:
    text = incident_text(rec)
    digest = hashlib.sha256(text.encode()).hexdigest()
    when = rec.resolved_at or rec.opened_at
    return Chunk(
        id=f"{rec.doc_id}#0@{digest[:12]}", doc_id=rec.doc_id, text=text, title=rec.title, section="incident",
        doc_type="incident", services=(rec.service,) if rec.service else (),
        categories=(rec.category,) if rec.category else (), severity=(rec.severity,) if rec.severity else (),
        source=rec.doc_id, corpus="", content_hash=digest,
        updated=when.isoformat() if when else "",
        extra={"action": rec.action or "", "outcome": rec.outcome,
               "effective": "" if rec.effective is None else str(rec.effective).lower(),
               "namespace": rec.namespace or "", "component": rec.component or "",
               "feedback": rec.feedback, "engine_category": rec.engine_category or ""},
    )
