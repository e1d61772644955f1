"""SQLAlchemy 2 models: every piece of state lives here, so web processes stay stateless.

Ids are opaque hex strings (uuid4) so that they can be shown in chat buttons and
minted by any process without a round trip; audit rows use a gap-free integer seq.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.vocab import (INCIDENT_OPEN, INCIDENT_SOURCES, INCIDENT_STATUSES, PROPOSAL_STATES,  # noqa: F401
                       RISK_LEVELS, SESSION_STATUSES)  # re-exported: defined without SQLAlchemy for the CLI


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


TS = DateTime(timezone=True)


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(200))
    thread_ref: Mapped[str | None] = mapped_column(String(200))
    alert_fingerprint: Mapped[str | None] = mapped_column(String(128), index=True)
    alert_name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(String(200))
    namespace: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(TS)
    resolved_at: Mapped[datetime | None] = mapped_column(TS)
    # Added in 0004: when the alert last fired (the ageing rule closes incidents not seen for a
    # while), and "platform:request id" of the /diagnose that opened it (a replay opens nothing).
    last_seen_at: Mapped[datetime | None] = mapped_column(TS)
    request_key: Mapped[str | None] = mapped_column(String(200))

    sessions: Mapped[list[AgentSession]] = relationship(back_populates="incident")

    __table_args__ = (Index("ix_incidents_status_fingerprint", "status", "alert_fingerprint"),
                      Index("uq_incidents_request_key", "request_key", unique=True),
                      Index("ix_incidents_thread", "platform", "channel", "thread_ref"))  # 0009: a thread's incident


class AgentSession(Base):
    __tablename__ = "agent_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(20))  # alert | command | scenario | rerun
    trigger_text: Mapped[str | None] = mapped_column(Text)
    engine: Mapped[str] = mapped_column(String(20))  # anthropic | offline
    status: Mapped[str] = mapped_column(String(20), default="queued")
    started_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    trace: Mapped[list[Any]] = mapped_column(default=list)

    incident: Mapped[Incident | None] = relationship(back_populates="sessions")
    tool_calls: Mapped[list[ToolCall]] = relationship(back_populates="session", order_by="ToolCall.id")


class ToolCall(Base):
    __tablename__ = "tool_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("agent_sessions.id"), index=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    tool: Mapped[str] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    query: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(20))
    bytes_returned: Mapped[int] = mapped_column(Integer, default=0)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    reduced: Mapped[bool] = mapped_column(Boolean, default=False)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)

    session: Mapped[AgentSession] = relationship(back_populates="tool_calls")


class Diagnosis(Base):
    __tablename__ = "diagnoses"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("agent_sessions.id"), index=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    category: Mapped[str] = mapped_column(String(50))
    component: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the whole typed Diagnosis
    # The incident scope computed from the trigger alone (agents.scope), written by code, never by an engine.
    scope: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(TS)  # reached its chat thread (0007)
    # 0009: a follow-up answer that revises a diagnosis writes version n+1 linked to the row it replaces.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    revises: Mapped[str | None] = mapped_column(ForeignKey("diagnoses.id"))


class RemediationProposal(Base):
    __tablename__ = "remediation_proposals"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    diagnosis_id: Mapped[str | None] = mapped_column(ForeignKey("diagnoses.id"), index=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    action_type: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(300))
    namespace: Mapped[str | None] = mapped_column(String(200))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rationale: Mapped[str | None] = mapped_column(Text)
    risk: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default="proposed", index=True)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(TS)
    decided_at: Mapped[datetime | None] = mapped_column(TS)
    executed_at: Mapped[datetime | None] = mapped_column(TS)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undo_of: Mapped[str | None] = mapped_column(String(32))
    # Added in 0002: HMAC nonce of the approval token, the exact action text, and why no
    # approve button is offered (validation or dry run failed).
    nonce: Mapped[str | None] = mapped_column(String(64))
    action_text: Mapped[str | None] = mapped_column(Text)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    # Added in 0006: {"platform", "channel", "ts", "thread"} of the chat message carrying its buttons,
    # plus "pending": "expired" while the expiry sweep still owes that message its edit.
    message_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # 0008: after execution, whether the incident's alert resolved within INCIDENT_EFFECTIVE_MINUTES.
    effective: Mapped[bool | None] = mapped_column(Boolean)
    effective_checked_at: Mapped[datetime | None] = mapped_column(TS)

    approvals: Mapped[list[Approval]] = relationship(back_populates="proposal", order_by="Approval.id")


class Approval(Base):
    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("remediation_proposals.id"), index=True)
    approver: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str] = mapped_column(String(10))  # approve | reject
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    proposal: Mapped[RemediationProposal] = relationship(back_populates="approvals")
    # One vote per person per proposal is what makes the two-person rule countable.
    __table_args__ = (UniqueConstraint("proposal_id", "approver", "platform", name="uq_approval_voter"),)


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(20))
    channel_id: Mapped[str] = mapped_column(String(300))
    name: Mapped[str | None] = mapped_column(String(300))
    service_url: Mapped[str | None] = mapped_column(String(500))
    tenant_id: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[dict[str, Any]] = mapped_column(default=dict)
    digest_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("platform", "channel_id", name="uq_conversation_channel"),)


class Job(Base):
    """A durable unit of work for the in-process runner (bot/jobs/local.py); see migration 0005."""
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="todo")  # todo | doing | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(TS, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(TS)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),
                      Index("uq_jobs_dedupe_key", "dedupe_key", unique=True))


class Feedback(Base):
    """A person's verdict on a diagnosis (0008): right, or wrong with the real category and a note."""
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    diagnosis_id: Mapped[str] = mapped_column(ForeignKey("diagnoses.id"))
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))       # platform:user, as approvals record it
    platform: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(10))      # right | wrong
    category: Mapped[str | None] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    __table_args__ = (Index("uq_feedback_diagnosis_actor", "diagnosis_id", "actor", unique=True),)


class Followup(Base):
    """A question asked in an incident's diagnosis thread and its answer (0009, bot/followup/)."""
    __tablename__ = "followups"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    diagnosis_id: Mapped[str] = mapped_column(ForeignKey("diagnoses.id"))  # the version it was asked about
    session_id: Mapped[str | None] = mapped_column(ForeignKey("agent_sessions.id"))  # its tool calls and tokens
    revised_diagnosis_id: Mapped[str | None] = mapped_column(ForeignKey("diagnoses.id"))
    platform: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(200))
    thread_ref: Mapped[str] = mapped_column(String(200))
    request_key: Mapped[str] = mapped_column(String(300))  # platform:channel:message: a redelivery asks nothing
    asked_by: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | answered | failed
    engine: Mapped[str | None] = mapped_column(String(20))
    answer: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(default=list)  # what its tools fetched, for the next question
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (Index("uq_followups_request_key", "request_key", unique=True),
                      Index("ix_followups_incident_created", "incident_id", "created_at"))


class Digest(Base):
    """One weekly digest per ISO week and channel (0008); the unique key makes posting idempotent."""
    __tablename__ = "digests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    week: Mapped[str] = mapped_column(String(10))         # 2026-W49
    platform: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | posted | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(TS)

    __table_args__ = (Index("uq_digests_week_channel", "week", "platform", "channel", unique=True),)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(TS)
    actor: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    event: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    # Canonical JSON text, hashed byte-for-byte; a JSON column could re-order keys on PostgreSQL.
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
