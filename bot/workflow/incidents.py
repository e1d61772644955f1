"""Incidents from alerts: one open incident per alert fingerprint and channel.

A repeat of a firing alert attaches to the open incident (a note, no new session); a resolved
notification closes it. Creation takes a write lock so a storm of duplicates makes one incident.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import take_write_lock, transaction
from bot.models import INCIDENT_SOURCES, Incident
from tools.intake import Alert


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class IntakeResult:
    incident_id: str
    is_new: bool
    thread_ref: str | None
    status: str
    alert_name: str


def _open_for(s: Session, fingerprint: str, channel: str | None) -> Incident | None:
    q = select(Incident).where(Incident.alert_fingerprint == fingerprint, Incident.status != "resolved")
    if channel is not None:
        q = q.where(Incident.channel == channel)
    return s.execute(q.order_by(Incident.opened_at.desc()).limit(1)).scalars().first()


def record_firing(factory: sessionmaker[Session], alert: Alert, *, source: str, platform: str,
                  channel: str | None, actor: str = "alertmanager") -> IntakeResult:
    with transaction(factory) as s:
        take_write_lock(s, f"incident:{alert.fingerprint}")
        inc = _open_for(s, alert.fingerprint, channel)
        if inc is not None:
            audit.append(s, actor=actor, platform=platform, event="incident.repeat", subject=f"incident/{inc.id}",
                         payload={"fingerprint": alert.fingerprint, "alert": alert.name})
            return IntakeResult(inc.id, False, inc.thread_ref, inc.status, alert.name)
        inc = Incident(source=source if source in INCIDENT_SOURCES else "alertmanager", platform=platform, channel=channel, alert_fingerprint=alert.fingerprint,
                       alert_name=alert.name[:200], title=(alert.summary or alert.name)[:2000],
                       service=alert.service, namespace=alert.namespace, severity=alert.severity,
                       status="open", labels=dict(alert.labels))
        s.add(inc)
        s.flush()
        audit.append(s, actor=actor, platform=platform, event="incident.opened", subject=f"incident/{inc.id}",
                     payload={"fingerprint": alert.fingerprint, "alert": alert.name, "severity": alert.severity,
                              "namespace": alert.namespace, "service": alert.service, "channel": channel})
        return IntakeResult(inc.id, True, None, "open", alert.name)


def record_resolved(factory: sessionmaker[Session], alert: Alert, *, platform: str, channel: str | None,
                    actor: str = "alertmanager") -> IntakeResult | None:
    with transaction(factory) as s:
        take_write_lock(s, f"incident:{alert.fingerprint}")
        inc = _open_for(s, alert.fingerprint, channel)
        if inc is None:
            return None
        inc.status, inc.resolved_at = "resolved", utcnow()
        audit.append(s, actor=actor, platform=platform, event="incident.resolved", subject=f"incident/{inc.id}",
                     payload={"fingerprint": alert.fingerprint, "alert": alert.name})
        return IntakeResult(inc.id, False, inc.thread_ref, "resolved", alert.name)


def open_command_incident(factory: sessionmaker[Session], text: str, *, platform: str, channel: str | None,
                          user: str | None, namespace: str | None, service: str | None) -> str:
    with transaction(factory) as s:
        inc = Incident(source="command" if platform != "console" else "console", platform=platform, channel=channel,
                       title=text[:2000], service=service, namespace=namespace, status="open", labels={})
        s.add(inc)
        s.flush()
        audit.append(s, actor=user or "unknown", platform=platform, event="incident.opened",
                     subject=f"incident/{inc.id}", payload={"command": text[:500], "channel": channel})
        return inc.id


def set_thread(factory: sessionmaker[Session], incident_id: str, thread_ref: str) -> None:
    with transaction(factory) as s:
        inc = s.get(Incident, incident_id)
        if inc is not None and not inc.thread_ref:
            inc.thread_ref = thread_ref
