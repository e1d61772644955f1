"""Persist agent sessions: the session row, every tool call as it happens, usage, the diagnosis.

Tool calls are written as they complete (not at the end), so `chatops session show` and a chat
progress message reflect a running session, and a crash still leaves its trace. Nothing here
touches the database on the event loop: tool-call rows go through a background writer
(bot/trace_writer.py; flushed before the session is finished or failed), and the session rows
are written in a worker thread.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy.orm import Session, sessionmaker

from agents.session import EngineSettings, SessionResult, run_diagnosis
from agents.trace import MultiTracer, ToolCallRecord, Tracer, Usage
from agents.trigger import Trigger
from bot import audit, metrics
from bot.db import transaction
from bot.models import AgentSession, Diagnosis as DiagnosisRow, ToolCall
from bot.trace_writer import writer
from tools.base import ToolRegistry

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DbTracer:
    def __init__(self, factory: sessionmaker[Session], session_id: str, known_tools: Iterable[str] = ()):
        self.factory = factory
        self.session_id = session_id
        self.known_tools = frozenset(known_tools)  # the registry's names; the metric labels others "other"
        self.steps: list[dict[str, Any]] = []
        self.lost = 0  # tool-call rows the background writer could not store

    def step(self, n: int, total: int | None, label: str) -> None:
        self.steps.append({"t": utcnow().isoformat(), "step": n, "total": total, "label": label})

    def note(self, text: str) -> None:
        self.steps.append({"t": utcnow().isoformat(), "note": text[:2000]})

    def usage(self, usage: Usage) -> None:  # summed at the end from the session result
        pass

    def tool_call(self, r: ToolCallRecord) -> None:
        metrics.tool_called(r.tool, r.status, r.duration_ms, self.known_tools, cached=r.cached)
        writer.put(self, (r, utcnow()))  # called on the event loop: enqueue only

    def make_row(self, item: tuple[ToolCallRecord, datetime]) -> ToolCall:
        r, finished = item
        return ToolCall(session_id=self.session_id, step=r.step, tool=r.tool, arguments=r.arguments,
                        query=(r.query or "")[:8000], started_at=finished - timedelta(milliseconds=r.duration_ms),
                        duration_ms=r.duration_ms, status=r.status, bytes_returned=r.bytes, truncated=r.truncated,
                        reduced=r.reduced, cached=r.cached, error=(r.error or None) and r.error[:4000])


@dataclass
class RecordedSession:
    session_id: str
    diagnosis_id: str
    result: SessionResult


def start_session(factory: sessionmaker[Session], trigger: Trigger, engine: str, incident_id: str | None,
                  actor: str = "bot", platform: str = "system") -> str:
    with transaction(factory) as s:
        row = AgentSession(incident_id=incident_id, trigger=trigger.kind, trigger_text=trigger.text[:4000],
                           engine=engine, status="running")
        s.add(row)
        s.flush()
        audit.append(s, actor=trigger.requested_by or actor, platform=platform, event="session.started",
                     subject=f"session/{row.id}", payload={"incident": incident_id, "trigger": trigger.kind,
                                                          "engine": engine, "text": trigger.text[:500]})
        return row.id


def finish_session(factory: sessionmaker[Session], session_id: str, incident_id: str | None, result: SessionResult,
                   tracer: DbTracer) -> str:
    d = result.diagnosis
    with transaction(factory) as s:
        row = s.get(AgentSession, session_id)
        row.status = "succeeded"
        row.engine = result.engine
        row.finished_at = utcnow()
        row.steps = max((c.step for c in result.trace.calls), default=0)
        u = result.usage
        row.input_tokens, row.output_tokens = u.input_tokens, u.output_tokens
        row.cache_read_tokens, row.cache_write_tokens, row.cost_usd = u.cache_read_tokens, u.cache_write_tokens, u.cost_usd
        row.error = result.fallback_reason
        lost = [{"note": f"{tracer.lost} tool call row(s) could not be recorded"}] if tracer.lost else []
        row.trace = tracer.steps + lost + [
            {"dropped_proposal": f"{p.action_type} {p.namespace or ''}/{p.target}", "why": why}
            for p, why in result.dropped_proposals]
        drow = DiagnosisRow(session_id=session_id, incident_id=incident_id, category=d.category,
                            component=d.component, summary=d.summary, confidence=d.confidence,
                            evidence=[e.model_dump() for e in d.evidence], document=d.model_dump(mode="json"),
                            scope=result.scope.to_dict())
        s.add(drow)
        s.flush()
        audit.append(s, actor="bot", platform="system", event="diagnosis.recorded", subject=f"diagnosis/{drow.id}",
                     payload={"session": session_id, "incident": incident_id, "category": d.category,
                              "component": d.component, "confidence": round(d.confidence, 3),
                              "engine": result.engine, "proposals": [p.model_dump() for p in d.proposals]})
        return drow.id


def fail_session(factory: sessionmaker[Session], session_id: str, error: str) -> None:
    with transaction(factory) as s:
        row = s.get(AgentSession, session_id)
        row.status, row.finished_at, row.error = "failed", utcnow(), error[:4000]
        audit.append(s, actor="bot", platform="system", event="session.failed", subject=f"session/{session_id}",
                     payload={"error": error[:500]})


async def diagnose_and_record(factory: sessionmaker[Session], trigger: Trigger, registry: ToolRegistry,
                              unavailable: dict[str, str], settings: EngineSettings, *,
                              incident_id: str | None = None, progress: Tracer | None = None,
                              namespace_allowlist: tuple[str, ...] = (),
                              risk_overrides: dict[str, str] | None = None) -> RecordedSession:
    chosen = settings.chosen()
    session_id = await asyncio.to_thread(start_session, factory, trigger, chosen, incident_id)
    tracer = DbTracer(factory, session_id, registry.names())
    started = time.monotonic()
    try:
        result = await run_diagnosis(trigger, registry, unavailable, settings,
                                     tracer=MultiTracer(tracer, progress) if progress else tracer,
                                     namespace_allowlist=namespace_allowlist, risk_overrides=risk_overrides)
    except BaseException as exc:
        metrics.session_finished(chosen, "failed", time.monotonic() - started)
        # Even when cancelled: the worker thread writes the rows whether or not we still wait for it.
        await writer.flush()
        await asyncio.to_thread(fail_session, factory, session_id, f"{type(exc).__name__}: {exc}")
        raise
    # Tokens are spent by the configured model even when the offline engine finished (fallback).
    metrics.model_usage(settings.model, result.usage)
    metrics.session_finished(chosen, "fell_back" if result.fallback_reason else "succeeded", result.elapsed)
    await writer.flush()  # every tool_calls row is in the table before the session is finished
    diagnosis_id = await asyncio.to_thread(finish_session, factory, session_id, incident_id, result, tracer)
    return RecordedSession(session_id, diagnosis_id, result)
