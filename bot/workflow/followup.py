"""Follow-up questions in a diagnosis thread, for the Workflow: asked, answered as a durable job, posted.

Asking only records the question (thread check, rate limit, audit) and enqueues its job in the same
transaction. The job answers from the incident's stored evidence with the diagnosis's engine and the
same tool registry (and so the same namespace allowlist); a revision's proposals are checked against
the scope stored with the diagnosis, computed from the trigger, and go through the usual proposal
gates. Questions of one thread are answered one after another in a process, so each sees the evidence
the previous one fetched.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from agents.followup.run import answer_followup
from agents.scope import TriggerScope
from bot import metrics
from bot.evidence_links import with_safe_links
from bot.feedback import fresh_view
from bot.followup import store
from bot.followup.render import answer_text
from bot.jobs.rerun import mark_posted
from bot.remediation import propose
from bot.sessions import DbTracer
from bot.trace_writer import writer
from bot.workflow.surface import DiagnosisPost
from tools.redact import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FollowupConfig:
    per_thread: int = 5
    window_minutes: int = 60
    max_steps: int = 6
    context_chars: int = 24000

    @classmethod
    def from_settings(cls, s: Any) -> "FollowupConfig":
        return cls(s.followup_per_thread, s.followup_window_minutes, s.followup_max_steps, s.followup_context_chars)


@dataclass(frozen=True)
class FollowupReply:
    handled: bool              # False: not a thread of the bot's incidents; the caller does what it did before
    message: str | None = None  # for the asker only (rate limited, still diagnosing, ...)


class Followups:
    def __init__(self, workflow: Any, config: FollowupConfig):
        self.wf = workflow
        self.config = config
        self._locks: dict[str, asyncio.Lock] = {}

    async def ask(self, question: str, *, platform: str, channel: str, thread: str, user: str,
                  message_id: str) -> FollowupReply:
        question = redact((question or "").strip())  # before it is stored, audited or shown to a model
        if len(question) > store.MAX_QUESTION:
            return FollowupReply(True, f"That question is {len(question)} characters; ask in at most "
                                       f"{store.MAX_QUESTION}.")
        try:
            asked = await asyncio.to_thread(
                store.ask, self.wf.factory, self.wf.jobs, platform=platform, channel=channel, thread=thread,
                request_key=f"{platform}:{channel}:{message_id}", asked_by=f"{platform}:{user}", question=question,
                limit=self.config.per_thread, window_minutes=self.config.window_minutes)
        except IntegrityError:  # the same message, recorded by another process a moment ago
            return FollowupReply(True)
        if asked is None:
            return FollowupReply(False)
        if asked.status == "queued":
            self.wf._enqueued()
        return FollowupReply(True, asked.message)

    async def run_job(self, args: dict[str, Any]) -> None:
        loaded = await asyncio.to_thread(store.load, self.wf.factory, args["followup_id"])
        if loaded is None or loaded.status == "answered":
            return
        async with self._locks.setdefault(loaded.incident_id, asyncio.Lock()):
            # Loaded again inside the lock: the thread's previous question may have been answered meanwhile.
            loaded = await asyncio.to_thread(store.load, self.wf.factory, args["followup_id"])
            await self._answer(loaded)

    async def _answer(self, loaded: store.Loaded) -> None:
        wf, cfg = self.wf, self.config
        surface = wf.surfaces[loaded.platform]
        session_id = None
        try:
            sources = await wf.sources()
            try:
                session_id = await asyncio.to_thread(store.start, wf.factory, loaded, wf.engine.chosen())
                tracer = DbTracer(wf.factory, session_id, sources.registry.names())
                scope = TriggerScope.from_dict(loaded.scope or {}, wf.allowlist, wf.risk_overrides)
                result = await answer_followup(loaded.context, sources.registry, scope, wf.engine, tracer=tracer,
                                               max_steps=cfg.max_steps, context_chars=cfg.context_chars)
                await writer.flush()  # its tool_calls rows are in before the answer is recorded
                metrics.model_usage(wf.engine.model, result.usage)
                rec = await asyncio.to_thread(store.record, wf.factory, loaded, session_id, result, tracer.steps)
            finally:
                sources.close()
        except Exception as exc:
            log.exception("follow-up %s of incident %s failed", loaded.followup_id, loaded.incident_id)
            await writer.flush()
            await asyncio.to_thread(store.fail, wf.factory, loaded.followup_id, session_id,
                                    f"{type(exc).__name__}: {exc}")
            await wf._say(surface, loaded.channel, loaded.thread,
                          f":x: Question {loaded.context.number} could not be answered: {type(exc).__name__}.")
            return
        revised = (rec.version, rec.previous_version) if rec.revised_id else None
        await surface.post_text(loaded.channel, answer_text(loaded.context.number, result, revised),
                                thread=loaded.thread)
        if rec.revised_id:
            await self._post_revision(loaded, session_id, rec.revised_id, result)

    async def _post_revision(self, loaded: store.Loaded, session_id: str, diagnosis_id: str, result: Any) -> None:
        """The new version, as a diagnosis post with its own buttons (proposals through the usual gates)."""
        wf = self.wf
        d = result.reply.revision
        refused = [p for p, why in result.dropped_proposals if why != "duplicate proposal"]
        views = []
        if d.proposals or refused:
            policy, signer = wf._gates()
            views = await propose(wf.factory, wf.executor, loaded.incident_id, diagnosis_id, [*d.proposals, *refused],
                                  requested_by=loaded.context.asked_by, namespace_allowlist=wf.allowlist,
                                  risk_overrides=wf.risk_overrides, policy=policy, signer=signer)
        post = DiagnosisPost(incident_id=loaded.incident_id, session_id=session_id,
                             diagnosis=with_safe_links(d, wf.link_hosts), proposals=views, engine=result.engine,
                             feedback=fresh_view(diagnosis_id, d.category, wf._gates()[1]))
        ref = await wf.surfaces[loaded.platform].post_diagnosis(loaded.channel, loaded.thread, post)
        await asyncio.to_thread(mark_posted, wf.factory, diagnosis_id)
        await wf._remember_buttons([v.proposal_id for v in views], loaded.platform, ref)
