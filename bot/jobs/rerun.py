"""What a diagnosis job finds when it starts: first run, a re-run after a crash, or nothing to do."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import take_write_lock, transaction
from bot.models import AgentSession, Diagnosis, Incident

INTERRUPTED = "interrupted: the process running it stopped before it finished"


@dataclass
class RerunState:
    done: bool                   # the incident's diagnosis is recorded and posted: nothing to do
    thread_ref: str | None
    interrupted: str | None      # why an earlier attempt was failed now, if one was left running
    unposted: str | None = None  # a diagnosis recorded but never posted (killed in between): post it


def prepare_rerun(factory: sessionmaker[Session], incident_id: str) -> RerunState:
    with transaction(factory) as s:
        take_write_lock(s, f"diagnose:{incident_id}")
        inc = s.get(Incident, incident_id)
        if inc is None:
            return RerunState(True, None, None)
        sessions = s.execute(select(AgentSession).where(AgentSession.incident_id == incident_id)).scalars().all()
        if any(x.status == "succeeded" for x in sessions):
            diag = s.execute(select(Diagnosis).where(Diagnosis.incident_id == incident_id)
                             .order_by(Diagnosis.created_at.desc())).scalars().first()
            if diag is not None and diag.posted_at is None:
                return RerunState(False, inc.thread_ref, None, unposted=diag.id)
            return RerunState(True, inc.thread_ref, None)
        stuck = [x for x in sessions if x.status in ("running", "queued")]
        for x in stuck:
            fail(s, x, INTERRUPTED)
        return RerunState(False, inc.thread_ref, INTERRUPTED if stuck else None)


def fail(s: Session, row: AgentSession, why: str) -> None:
    row.status, row.finished_at, row.error = "failed", datetime.now(timezone.utc), why
    audit.append(s, actor="system:reconciler", platform="system", event="session.failed",
                 subject=f"session/{row.id}", payload={"incident": row.incident_id, "error": why})


def mark_posted(factory: sessionmaker[Session], diagnosis_id: str) -> None:
    with transaction(factory) as s:
        row = s.get(Diagnosis, diagnosis_id)
        if row is not None and row.posted_at is None:
            row.posted_at = datetime.now(timezone.utc)
