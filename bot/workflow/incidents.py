"""Incidents from alerts: one open incident per alert fingerprint and channel.

A repeat of a firing alert attaches to the open incident (a note, no new session); a resolved
notification closes it; an incident past the ageing rule (bot/workflow/ageing.py) expires and the
firing opens a new one. Creation takes a write lock so a storm of duplicates makes one incident.
Every value passes tools.storable.fit_row: a NUL byte or an overlong label must not make
PostgreSQL refuse the row (SQLite would have taken it).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import audit, metrics
from bot.db import take_write_lock, transaction
from bot.models import INCIDENT_OPEN, INCIDENT_SOURCES, Incident
from bot.workflow.ageing import AgeingRule, Expired, expire
from tools.intake import Alert
from tools.storable import fit_row, storable

MAX_TITLE = 2000
# Runs inside the transaction that opens an incident: the workflow enqueues its diagnosis job there,
# so the incident and its job commit together or not at all.
OnOpen = Callable[[Session, Incident], None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class IntakeResult:
    incident_id: str | None  # None: deferred (no open incident, and none may be opened now)
    is_new: bool
    thread_ref: str | None
    status: str
    alert_name: str
    expired: Expired | None = None  # the aged incident this firing closed before opening anew


def _open_for(s: Session, fingerprint: str, channel: str | None) -> Incident | None:
    q = select(Incident).where(Incident.alert_fingerprint == fingerprint, Incident.status.in_(INCIDENT_OPEN))
    if channel is not None:
        q = q.where(Incident.channel == channel)
    return s.execute(q.order_by(Incident.opened_at.desc()).limit(1)).scalars().first()


def _locked_open(s: Session, alert: Alert, channel: str | None) -> tuple[str, Incident | None]:
    """(fingerprint as stored, the alert's open incident) under the fingerprint's write lock. The lock
    key and lookup use the storable value the row holds: PostgreSQL refuses a NUL even in a parameter."""
    fp = fit_row(Incident, alert_fingerprint=alert.fingerprint)["alert_fingerprint"]
    take_write_lock(s, f"incident:{fp}")
    return fp, _open_for(s, fp, channel)


def record_firing(factory: sessionmaker[Session], alert: Alert, *, source: str, platform: str,
                  channel: str | None, actor: str = "alertmanager", rule: AgeingRule | None = None,
                  may_open: bool = True, now: datetime | None = None, on_open: OnOpen | None = None,
                  thread_ref: str | None = None) -> IntakeResult:
    """Attach the firing to its open incident, or open one (unless may_open is False: deferred)."""
    metrics.alert_received(alert.source, alert.status)
    now, rule = now or utcnow(), rule or AgeingRule()
    with transaction(factory) as s:
        fp, inc = _locked_open(s, alert, channel)
        reason = rule.reason(inc, now) if inc is not None else None
        expired = expire(s, inc, reason, actor=actor) if reason else None
        if inc is not None and expired is None:
            inc.last_seen_at = now
            audit.append(s, actor=actor, platform=platform, event="incident.repeat", subject=f"incident/{inc.id}",
                         payload={"fingerprint": fp, "alert": alert.name})
            return IntakeResult(inc.id, False, inc.thread_ref, inc.status, alert.name)
        if not may_open:
            return IntakeResult(None, False, None, "deferred", alert.name, expired)
        inc = Incident(**fit_row(
            Incident, source=source if source in INCIDENT_SOURCES else "alertmanager", platform=platform,
            channel=channel, alert_fingerprint=fp, alert_name=alert.name,
            title=storable(alert.summary or alert.name, MAX_TITLE), service=alert.service,
            namespace=alert.namespace, severity=alert.severity, status="open", labels=dict(alert.labels),
            opened_at=now, last_seen_at=now, thread_ref=thread_ref))
        s.add(inc)
        s.flush()
        if on_open is not None:
            on_open(s, inc)
        audit.append(s, actor=actor, platform=platform, event="incident.opened", subject=f"incident/{inc.id}",
                     payload={"fingerprint": fp, "alert": alert.name, "severity": alert.severity,
                              "namespace": inc.namespace, "service": inc.service, "channel": channel,
                              **({"replaces": expired.incident_id} if expired else {})})
        opened = IntakeResult(inc.id, True, thread_ref, "open", alert.name, expired)
    metrics.incident_opened(inc.source)  # once committed
    return opened


def record_resolved(factory: sessionmaker[Session], alert: Alert, *, platform: str, channel: str | None,
                    actor: str = "alertmanager") -> IntakeResult | None:
    metrics.alert_received(alert.source, alert.status)
    with transaction(factory) as s:
        fp, inc = _locked_open(s, alert, channel)
        if inc is None:
            return None
        inc.status, inc.resolved_at = "resolved", utcnow()
        audit.append(s, actor=actor, platform=platform, event="incident.resolved", subject=f"incident/{inc.id}",
                     payload={"fingerprint": fp, "alert": alert.name})
        return IntakeResult(inc.id, False, inc.thread_ref, "resolved", alert.name)


def request_key(platform: str, request_id: str) -> str:
    """The durable identity of one chat request (Slack trigger_id); long ids are hashed, never cut,
    so two different requests cannot collide on a shortened key."""
    key = f"{platform}:{request_id}"
    if len(key) > Incident.__table__.c.request_key.type.length or storable(key) != key:
        key = f"{platform}:sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return key


def open_command_incident(factory: sessionmaker[Session], text: str, *, platform: str, channel: str | None,
                          user: str | None, namespace: str | None, service: str | None,
                          request: str | None = None, on_open: OnOpen | None = None) -> str | None:
    """The incident a /diagnose opens; None when `request` (a request_key) already opened one."""
    try:
        with transaction(factory) as s:
            if request is not None:
                take_write_lock(s, f"request:{request}")
                if s.scalar(select(Incident.id).where(Incident.request_key == request)) is not None:
                    return None
            now = utcnow()
            inc = Incident(**fit_row(
                Incident, source="command" if platform != "console" else "console", platform=platform,
                channel=channel, title=storable(text, MAX_TITLE), service=service, namespace=namespace,
                status="open", labels={}, request_key=request, opened_at=now, last_seen_at=now))
            s.add(inc)
            s.flush()
            audit.append(s, actor=user or "unknown", platform=platform, event="incident.opened",
                         subject=f"incident/{inc.id}", payload={"command": text[:500], "channel": channel})
            if on_open is not None:
                on_open(s, inc)
            opened = inc.id
        metrics.incident_opened(inc.source)  # once committed
        return opened
    except IntegrityError:  # the unique request_key: another process opened it first
        if request is None:
            raise
        return None


def set_thread(factory: sessionmaker[Session], incident_id: str, thread_ref: str) -> None:
    with transaction(factory) as s:
        inc = s.get(Incident, incident_id)
        if inc is not None and not inc.thread_ref:
            inc.thread_ref = thread_ref
