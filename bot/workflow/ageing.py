"""The ageing rule: no incident stays open forever.

A lost resolve, a receiver with `send_resolved: false`, or a /diagnose incident (nothing ever
resolves one) would keep an incident open, and every later firing of its alert would only say
"still firing". So an open incident closes as `expired` when its alert has not fired for
`stale` (INCIDENT_STALE_MINUTES) or when it is older than `max_age` (INCIDENT_MAX_AGE_HOURS);
the next firing opens a new incident and investigates again. The rule runs at intake
(record_firing, under the fingerprint's lock, so it works with no clock) and in `age_incidents`,
the sweep a periodic clock calls. Expiry is audited; resolved_at stays empty (nobody saw it resolve).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import take_write_lock, transaction
from bot.models import INCIDENT_OPEN, Incident


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=timezone.utc) if ts is not None and ts.tzinfo is None else ts  # SQLite: naive UTC


def _span(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60}h{minutes % 60:02d}"


@dataclass(frozen=True)
class AgeingRule:
    stale: timedelta = timedelta(minutes=480)
    max_age: timedelta = timedelta(hours=24)

    @classmethod
    def of(cls, stale_minutes: int, max_age_hours: int) -> "AgeingRule":
        return cls(timedelta(minutes=stale_minutes), timedelta(hours=max_age_hours))

    def reason(self, inc: Incident, now: datetime) -> str | None:
        """Why this open incident has aged out at `now`, or None while it is current."""
        opened = _aware(inc.opened_at) or now
        seen = _aware(inc.last_seen_at) or opened
        if now - opened >= self.max_age:
            return f"open for {_span(now - opened)}, past the maximum age of {_span(self.max_age)}"
        if now - seen >= self.stale:
            return f"no firing seen for {_span(now - seen)} (stale after {_span(self.stale)})"
        return None


@dataclass(frozen=True)
class Expired:
    incident_id: str
    platform: str | None
    channel: str | None
    thread_ref: str | None
    reason: str

    def note(self, new_incident: str | None = None) -> str:
        then = (f"The alert fired again: incident {new_incident} investigates it afresh." if new_incident
                else "If the alert fires again, a new incident investigates it afresh.")
        return f":hourglass: Closing this incident as expired: {self.reason}. {then}"


def expire(s: Session, inc: Incident, reason: str, *, actor: str = "chatops") -> Expired:
    """Close one open incident in the caller's transaction (the caller holds its lock)."""
    inc.status = "expired"
    audit.append(s, actor=actor, platform=inc.platform or "system", event="incident.expired",
                 subject=f"incident/{inc.id}", payload={"reason": reason, "fingerprint": inc.alert_fingerprint})
    return Expired(inc.id, inc.platform, inc.channel, inc.thread_ref, reason)


def lock_key(inc: Incident) -> str:
    """The lock intake takes for an alert's incidents (its fingerprint); a command incident's own id."""
    return f"incident:{inc.alert_fingerprint or inc.id}"


def age_incidents(factory: sessionmaker[Session], rule: AgeingRule, now: datetime | None = None) -> list[Expired]:
    """Expire every open incident the rule says has aged out; each in its own transaction, under
    the same lock intake takes, so a firing arriving meanwhile sees one consistent state."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - min(rule.stale, rule.max_age)  # nothing opened after this can have aged yet
    with factory() as s:
        ids = s.scalars(select(Incident.id).where(Incident.status.in_(INCIDENT_OPEN), Incident.opened_at <= cutoff)
                        .order_by(Incident.opened_at)).all()
    out: list[Expired] = []
    for incident_id in ids:
        with transaction(factory) as s:
            inc = s.get(Incident, incident_id)
            take_write_lock(s, lock_key(inc))
            s.refresh(inc)
            reason = rule.reason(inc, now) if inc.status in INCIDENT_OPEN else None
            if reason:
                out.append(expire(s, inc, reason))
    return out
