"""Follow-up questions in the database: asking (thread check, rate limit, audit, the job in the same
transaction), loading what a question is answered from, and recording the answer and any revision.

A thread is a diagnosis thread when an incident of that platform, channel and thread has a diagnosis
posted there; any other thread is not ours to answer in. The rate limit counts the thread's questions
within a window under the incident's write lock, so concurrent processes cannot exceed it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agents.diagnosis import Diagnosis
from agents.followup.context import Earlier, Fetched, FollowupContext
from agents.followup.reply import FollowupResult
from bot import audit
from bot.db import take_write_lock, transaction
from bot.models import AgentSession, Diagnosis as DiagnosisRow, Followup, Incident, ToolCall
from tools.storable import storable, storable_json

MAX_QUESTION = 2000
CALL_LINES = 80  # tool calls of the diagnosis session shown to a model
Status = Literal["queued", "duplicate", "limited", "off", "not_diagnosed", "empty"]
USAGE = ("Ask me about this diagnosis in the thread, e.g. \"why not DNS?\", \"show the logs of cart\", "
         "\"what changed?\" or \"which runbook?\".")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)  # SQLite hands back naive datetimes


@dataclass
class Asked:
    status: Status
    incident_id: str
    followup_id: str | None = None
    message: str | None = None  # what to tell the asker when nothing is queued


def latest_diagnosis(s: Session, incident_id: str, posted: bool = False) -> DiagnosisRow | None:
    q = select(DiagnosisRow).where(DiagnosisRow.incident_id == incident_id)
    if posted:
        q = q.where(DiagnosisRow.posted_at.is_not(None))
    return s.execute(q.order_by(DiagnosisRow.version.desc(), DiagnosisRow.created_at.desc()).limit(1)).scalars().first()


def thread_incident(s: Session, platform: str, channel: str | None, thread: str) -> Incident | None:
    """The incident whose diagnosis was posted in this thread (the newest one, when an alert group put
    several incidents in one thread); else the newest incident of the thread; None: not a bot thread."""
    q = select(Incident).where(Incident.platform == platform, Incident.thread_ref == thread)
    if channel is not None:
        q = q.where(Incident.channel == channel)
    diagnosed = (q.join(DiagnosisRow, DiagnosisRow.incident_id == Incident.id)
                 .where(DiagnosisRow.posted_at.is_not(None)).order_by(DiagnosisRow.created_at.desc()))
    return (s.execute(diagnosed.limit(1)).scalars().first()
            or s.execute(q.order_by(Incident.opened_at.desc()).limit(1)).scalars().first())


def ask(factory: sessionmaker[Session], jobs: Any, *, platform: str, channel: str, thread: str, request_key: str,
        asked_by: str, question: str, limit: int, window_minutes: int, now: datetime | None = None) -> Asked | None:
    """Record a question and enqueue its answer (one transaction), or say why not. None: the thread is
    not a thread of one of the bot's incidents."""
    now = now or utcnow()
    with transaction(factory) as s:
        inc = thread_incident(s, platform, channel, thread)
        if inc is None:
            return None
        take_write_lock(s, f"followup:{inc.id}")
        diag = latest_diagnosis(s, inc.id, posted=True)
        if diag is None:
            return Asked("not_diagnosed", inc.id, message="This incident is still being diagnosed; ask again "
                                                          "once the diagnosis is posted in this thread.")
        if not question.strip():
            return Asked("empty", inc.id, message=USAGE)
        if limit <= 0:
            return Asked("off", inc.id, message="Follow-up questions are turned off here (FOLLOWUP_PER_THREAD=0).")
        if s.execute(select(Followup.id).where(Followup.request_key == request_key)).first() is not None:
            return Asked("duplicate", inc.id)
        since = now - timedelta(minutes=window_minutes)
        recent = s.execute(select(func.count()).select_from(Followup).where(
            Followup.incident_id == inc.id, Followup.created_at >= since)).scalar_one()
        if recent >= limit:
            audit.append(s, actor=asked_by, platform=platform, event="followup.rate_limited",
                         subject=f"incident/{inc.id}", payload={"asked": recent, "limit": limit,
                                                                "window_minutes": window_minutes,
                                                                "question": question[:500]})
            return Asked("limited", inc.id, message=(
                f"This thread already had {recent} follow-up question(s) in the last {window_minutes} minutes, "
                f"the most it takes (FOLLOWUP_PER_THREAD={limit}); ask again later."))
        row = Followup(incident_id=inc.id, diagnosis_id=diag.id, platform=platform, channel=channel, thread_ref=thread,
                       request_key=storable(request_key, 300), asked_by=storable(asked_by, 200),
                       question=storable(question, MAX_QUESTION), status="queued", evidence=[], created_at=now)
        s.add(row)
        s.flush()
        audit.append(s, actor=asked_by, platform=platform, event="followup.asked", subject=f"followup/{row.id}",
                     payload={"incident": inc.id, "diagnosis": diag.id, "version": diag.version,
                              "question": question[:500]})
        jobs.enqueue(s, "followup", {"followup_id": row.id}, key=f"followup:{row.id}")
        return Asked("queued", inc.id, row.id)


@dataclass
class Loaded:
    followup_id: str
    incident_id: str
    platform: str
    channel: str
    thread: str
    status: str
    context: FollowupContext
    scope: dict[str, Any] | None


def load(factory: sessionmaker[Session], followup_id: str) -> Loaded | None:
    with factory() as s:
        row = s.get(Followup, followup_id)
        if row is None:
            return None
        inc = s.get(Incident, row.incident_id)
        diag = latest_diagnosis(s, row.incident_id)
        thread = s.execute(select(Followup).where(Followup.incident_id == row.incident_id)
                           .order_by(Followup.created_at, Followup.id)).scalars().all()
        number = next(i for i, f in enumerate(thread, 1) if f.id == row.id)
        earlier = [Earlier(number=i, asked_by=f.asked_by, question=f.question, answer=f.answer or "",
                           engine=f.engine or "", fetched=[Fetched.model_validate(x) for x in f.evidence or ()])
                   for i, f in enumerate(thread, 1) if i < number and f.status == "answered"]
        first = s.execute(select(DiagnosisRow).where(DiagnosisRow.incident_id == row.incident_id)
                          .order_by(DiagnosisRow.version, DiagnosisRow.created_at).limit(1)).scalars().first()
        calls = s.execute(select(ToolCall).where(ToolCall.session_id == first.session_id)
                          .order_by(ToolCall.id).limit(CALL_LINES)).scalars().all()
        ctx = FollowupContext(
            question=row.question, asked_by=row.asked_by, number=number, version=diag.version,
            diagnosis=Diagnosis.model_validate(diag.document), earlier=earlier,
            incident={"title": inc.title, "alert": inc.alert_name, "namespace": inc.namespace, "service": inc.service,
                      "severity": inc.severity, "status": inc.status, "opened_at": aware(inc.opened_at).isoformat()},
            calls=[f"{c.tool}({json.dumps(c.arguments, sort_keys=True, default=str)}) -> {c.status}, "
                   f"{c.bytes_returned} bytes" for c in calls])
        return Loaded(row.id, row.incident_id, row.platform, row.channel, row.thread_ref, row.status, ctx, diag.scope)


def start(factory: sessionmaker[Session], loaded: Loaded, engine: str) -> str:
    """The follow-up's agent session: its tool calls and tokens are recorded like a diagnosis's."""
    with transaction(factory) as s:
        sess = AgentSession(incident_id=loaded.incident_id, trigger="followup", engine=engine, status="running",
                            trigger_text=loaded.context.question[:4000])
        s.add(sess)
        s.flush()
        s.get(Followup, loaded.followup_id).session_id = sess.id
        return sess.id


@dataclass
class Recorded:
    revised_id: str | None
    version: int | None
    previous_version: int | None


def record(factory: sessionmaker[Session], loaded: Loaded, session_id: str, result: FollowupResult,
           trace: list[dict[str, Any]]) -> Recorded:
    """The answer, the session's usage and, for a revision, a new diagnosis version linked to the one it
    replaces (kept unchanged), with the same stored scope; all audited in the same transaction."""
    reply, u, now = result.reply, result.usage, utcnow()
    with transaction(factory) as s:
        take_write_lock(s, f"followup:{loaded.incident_id}")
        sess = s.get(AgentSession, session_id)
        sess.status, sess.engine, sess.finished_at, sess.error = "succeeded", result.engine, now, result.fallback_reason
        sess.input_tokens, sess.output_tokens, sess.cost_usd = u.input_tokens, u.output_tokens, u.cost_usd
        sess.cache_read_tokens, sess.cache_write_tokens = u.cache_read_tokens, u.cache_write_tokens
        sess.steps, sess.trace = len(trace), trace
        row = s.get(Followup, loaded.followup_id)
        out = Recorded(None, None, None)
        if reply.revision is not None:
            old = latest_diagnosis(s, loaded.incident_id)
            d = reply.revision
            new = DiagnosisRow(session_id=session_id, incident_id=loaded.incident_id, category=d.category,
                               component=d.component, summary=d.summary, confidence=d.confidence,
                               evidence=[e.model_dump() for e in d.evidence], document=d.model_dump(mode="json"),
                               scope=old.scope, version=old.version + 1, revises=old.id)
            s.add(new)
            s.flush()
            out = Recorded(new.id, new.version, old.version)
            audit.append(s, actor="bot", platform="system", event="diagnosis.revised", subject=f"diagnosis/{new.id}",
                         payload={"incident": loaded.incident_id, "followup": row.id, "version": new.version,
                                  "revises": old.id, "category": d.category, "component": d.component,
                                  "previous_category": old.category, "confidence": round(d.confidence, 3),
                                  "proposals": [p.model_dump() for p in d.proposals]})
        row.status, row.engine, row.answered_at = "answered", result.engine, now
        row.answer = storable(reply.text, 8000)
        row.evidence = storable_json([f.model_dump(mode="json") for f in reply.fetched])
        row.revised_diagnosis_id = out.revised_id
        audit.append(s, actor="bot", platform="system", event="followup.answered", subject=f"followup/{row.id}",
                     payload={"incident": loaded.incident_id, "engine": result.engine, "answered": reply.answered,
                              "fallback": result.fallback_reason, "tool_calls": result.tool_calls,
                              "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                              "cost_usd": round(u.cost_usd, 6), "revised_diagnosis": out.revised_id,
                              "version": out.version})
        return out


def fail(factory: sessionmaker[Session], followup_id: str, session_id: str | None, error: str) -> None:
    with transaction(factory) as s:
        row = s.get(Followup, followup_id)
        row.status, row.error = "failed", storable(error, 4000)
        if session_id:
            sess = s.get(AgentSession, session_id)
            sess.status, sess.finished_at, sess.error = "failed", utcnow(), error[:4000]
        audit.append(s, actor="bot", platform="system", event="followup.failed", subject=f"followup/{followup_id}",
                     payload={"incident": row.incident_id, "error": error[:500]})


def find_thread(factory: sessionmaker[Session], platform: str, ref: str | None) -> tuple[str, str] | None:
    """(channel, thread) of a platform's diagnosis thread, for surfaces without threads of their own to reply
    in (the console): `ref` a thread's message number, an incident id (or its first 8+ characters), or None
    for the newest posted diagnosis. 8+ digits may be either: about 1 in 43 hex ids starts with 8 digits, so
    when no thread has that number the ref is tried as an incident id too."""
    q = (select(Incident.channel, Incident.thread_ref).join(DiagnosisRow, DiagnosisRow.incident_id == Incident.id)
         .where(Incident.platform == platform, DiagnosisRow.posted_at.is_not(None), Incident.thread_ref.is_not(None)))
    wheres = [Incident.thread_ref == ref] if ref and ref.isdigit() else []
    if ref and (len(ref) >= 8 or not ref.isdigit()):
        wheres.append(Incident.id.startswith(ref.lower(), autoescape=True))
    with factory() as s:
        for where in wheres or [None]:
            row = s.execute((q if where is None else q.where(where))
                            .order_by(DiagnosisRow.created_at.desc()).limit(1)).first()
            if row:
                return row[0], row[1]
        return None
