"""The incident workflow every chat surface drives: alerts and commands in, threads out.

Surfaces only render views and forward clicks; every decision (dedup, queueing, diagnosis,
proposals, approvals) is made here, and every piece of state lives in the database.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Awaitable, Callable

from sqlalchemy.orm import Session, sessionmaker

from agents.session import EngineSettings
from agents.trigger import Trigger
from bot.remediation import ClickResult, Identity, click, propose
from bot.sessions import diagnose_and_record
from bot.workflow.chart import chart_for
from bot.workflow.incidents import (open_command_incident, record_firing, record_resolved, set_thread)
from bot.workflow.progress import ProgressTracer
from bot.workflow.queue import SessionQueue
from bot.workflow.surface import DiagnosisPost, MessageRef, ProgressView, Surface
from tools.intake.model import AlertGroup
from tools.sources import Sources

log = logging.getLogger(__name__)

SourcesProvider = Callable[[], Awaitable[Sources]]
MAX_COMMAND = 500
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")
USAGE = ("Usage: `/diagnose <service | namespace/pod | alert text>`, e.g. `/diagnose shop/checkout` or "
         "`/diagnose KubePodCrashLooping shop/cart-7d9f8c6b5-x2kqz`.")


class Workflow:
    def __init__(self, factory: sessionmaker[Session], surfaces: dict[str, Surface], sources: SourcesProvider,
                 engine: EngineSettings, executor: Any, *, queue: SessionQueue | None = None, policy=None,
                 signer=None, namespace_allowlist: tuple[str, ...] = (), risk_overrides: dict[str, str] | None = None,
                 alert_channel: dict[str, str] | None = None, knowledge: Any = None,
                 effective_minutes: int = 30):
        self.factory = factory
        self.surfaces = surfaces
        self.sources = sources
        self.engine = engine
        self.executor = executor
        self.queue = queue or SessionQueue()
        self.policy = policy
        self.signer = signer
        self.allowlist = tuple(namespace_allowlist)
        self.risk_overrides = risk_overrides or {}
        self.alert_channel = alert_channel or {}
        self.knowledge = knowledge
        self.effective_minutes = effective_minutes

    # ---- alerts -------------------------------------------------------------------------
    async def on_alert_group(self, group: AlertGroup, *, platform: str, channel: str, thread: str | None,
                             source: str, actor: str = "alertmanager") -> list[str]:
        surface = self.surfaces[platform]
        statuses: list[str] = []
        for alert in group.alerts:
            if alert.status == "resolved":
                res = await asyncio.to_thread(record_resolved, self.factory, alert, platform=platform,
                                              channel=channel, actor=actor)
                if res is None:
                    statuses.append("resolved:no-open-incident")
                    continue
                await self._say(surface, channel, res.thread_ref or thread,
                                f":white_check_mark: Resolved: {alert.name} stopped firing. Closing this incident.")
                await self._remember(res.incident_id)
                statuses.append(f"resolved:{res.incident_id}")
                continue
            res = await asyncio.to_thread(record_firing, self.factory, alert, source=source, platform=platform,
                                          channel=channel, actor=actor)
            if not res.is_new:
                await self._say(surface, channel, res.thread_ref or thread,
                                f"Still firing: {alert.name} (same alert, fingerprint {alert.fingerprint}); "
                                "no new investigation started.")
                statuses.append(f"repeat:{res.incident_id}")
                continue
            root = thread
            if root is None:  # a webhook alert: post it, and answer in its thread
                ref = await surface.post_text(channel, _alert_headline(alert))
                root = ref.ts
            await asyncio.to_thread(set_thread, self.factory, res.incident_id, root)
            trigger = Trigger.from_alert(alert)
            st = self.queue.submit(res.incident_id, lambda t=trigger, i=res.incident_id, r=root:
                                   self._diagnose(i, t, platform, channel, r))
            if st.state == "rejected":
                await self._say(surface, channel, root, f":warning: Not diagnosed automatically: {st.error}. "
                                f"Run `/diagnose {alert.name}` when the storm settles.")
            statuses.append(f"new:{res.incident_id}:{st.state}")
        return statuses

    # ---- /diagnose ------------------------------------------------------------------------
    async def on_command(self, text: str, *, platform: str, channel: str, user: str) -> str | None:
        text = (text or "").strip()
        if not text:
            return USAGE
        if len(text) > MAX_COMMAND:
            return f"That is {len(text)} characters; /diagnose takes at most {MAX_COMMAND}. " + USAGE
        trigger = Trigger.from_text(text, requested_by=f"{platform}:{user}")
        named = bool(trigger.service and NAME.match(trigger.service)) or bool(trigger.namespace and NAME.match(trigger.namespace))
        if not (trigger.alert or named or len(text.split()) > 1):
            return f"I could not find a service, pod or alert in {text!r}. " + USAGE
        surface = self.surfaces[platform]
        incident_id = await asyncio.to_thread(open_command_incident, self.factory, text, platform=platform,
                                              channel=channel, user=f"{platform}:{user}",
                                              namespace=trigger.namespace, service=trigger.service)
        ref = await surface.post_text(channel, f"Investigating `{text}` (requested by {user})…")
        await asyncio.to_thread(set_thread, self.factory, incident_id, ref.ts)
        st = self.queue.submit(incident_id, lambda: self._diagnose(incident_id, trigger, platform, channel, ref.ts))
        if st.state == "rejected":
            return f"Too many investigations are queued right now ({st.error}); try again in a few minutes."
        return None

    # ---- one session ----------------------------------------------------------------------
    async def _diagnose(self, incident_id: str, trigger: Trigger, platform: str, channel: str, thread: str) -> None:
        surface = self.surfaces[platform]
        try:
            pref = await surface.post_progress(channel, thread, ProgressView(incident_id, 0, None, "starting"))
            progress = ProgressTracer(surface, pref, incident_id)
            sources = await self.sources()
            try:
                rec = await diagnose_and_record(self.factory, trigger, sources.registry, sources.unavailable,
                                                self.engine, incident_id=incident_id, progress=progress,
                                                namespace_allowlist=self.allowlist, risk_overrides=self.risk_overrides)
                await progress.finish(f"done: {rec.result.tool_calls} tool calls in {rec.result.elapsed:.1f}s")
                d = rec.result.diagnosis
                views = await propose(self.factory, self.executor, incident_id, rec.diagnosis_id, d.proposals,
                                      requested_by=trigger.requested_by or "bot", namespace_allowlist=self.allowlist,
                                      risk_overrides=self.risk_overrides, policy=self.policy, signer=self.signer)
                chart = await chart_for(sources, d, trigger)
            finally:
                sources.close()
            post = DiagnosisPost(incident_id=incident_id, session_id=rec.session_id, diagnosis=d,
                                 proposals=[v for v in views if v.proposal_id], engine=rec.result.engine,
                                 fallback_reason=rec.result.fallback_reason,
                                 chart_png=chart[0] if chart else None, chart_title=chart[1] if chart else None)
            await surface.post_diagnosis(channel, thread, post)
            if chart:
                try:
                    await surface.upload_chart(channel, thread, chart[0], chart[1])
                except Exception:  # a chart is a nicety; the diagnosis is already posted
                    log.warning("chart upload failed", exc_info=True)
        except Exception as exc:
            log.exception("diagnosis of incident %s failed", incident_id)
            await self._say(surface, channel, thread, f":x: Diagnosis failed: {type(exc).__name__}: {exc}")
            raise

    # ---- buttons --------------------------------------------------------------------------
    async def on_click(self, *, platform: str, channel: str, message: MessageRef, proposal_id: str, token: str,
                       identity: Identity, decision: str) -> ClickResult:
        surface = self.surfaces[platform]
        result = await click(self.factory, self.executor, proposal_id, token, identity, decision,
                             policy=self.policy, signer=self.signer)
        who = identity.display or identity.user_id
        if result.status in ("denied", "invalid_token", "not_found", "not_offerable", "duplicate", "already_decided"):
            await surface.ephemeral(channel, identity.user_id, result.message, thread=message.thread)
            return result
        if result.view is not None:
            verb = {"recorded": "approved (more approvals needed)", "executed": "approved; executed",
                    "failed": "approved; execution failed", "rejected": "rejected", "expired": "tried; expired"}
            await surface.update_proposal(message, result.view, f"{who} {verb.get(result.status, result.status)}: "
                                                                f"{result.message}")
        if result.undo is not None:
            await surface.post_proposal(channel, message.thread, result.undo,
                                        f"Undo available for {result.view.action_text if result.view else 'the action'}")
        if result.executed and result.view is not None and result.view.incident_id:
            await self._remember(result.view.incident_id)
        return result

    async def drain(self, timeout: float | None = None) -> None:
        await self.queue.join(timeout)

    # ---- helpers --------------------------------------------------------------------------
    async def _say(self, surface: Surface, channel: str, thread: str | None, text: str) -> None:
        try:
            await surface.post_text(channel, text, thread=thread)
        except Exception:
            log.exception("could not post to %s", channel)

    async def _remember(self, incident_id: str) -> None:
        """Resolved incidents and successful remediations become knowledge for next time."""
        if self.knowledge is None:
            return
        from bot.incident_memory import remember

        def run() -> None:
            with self.factory() as s:
                remember(s, self.knowledge, incident_id, self.effective_minutes)

        try:
            await asyncio.to_thread(run)
        except Exception:
            log.warning("could not add incident %s to the knowledge base", incident_id, exc_info=True)


def _alert_headline(alert) -> str:
    where = "/".join(x for x in (alert.namespace, alert.service or alert.pod) if x)
    summary = alert.summary or alert.description or ""
    return f":rotating_light: {alert.severity.upper()} {alert.name} {where} firing. {summary}".strip()[:2900]
