"""The incident workflow every chat surface drives: alerts and commands in, threads out.

Surfaces only render views and forward clicks; every decision (dedup, queueing, diagnosis,
proposals, approvals) is made here, and every piece of state lives in the database.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, sessionmaker

from agents.session import EngineSettings
from agents.trigger import Trigger
from bot.evidence_links import with_safe_links
from bot.feedback import FeedbackForm, FeedbackResult, fresh_view, open_form, record_feedback, view_of
from bot.jobs.local import LocalJobs, LocalRunner, Periodic
from bot.jobs.rerun import mark_posted, prepare_rerun
from bot.remediation import ClickResult, Identity, click, propose
from bot.sessions import diagnose_and_record
from bot.workflow.chart import chart_for
from bot.workflow.expiry import remember_messages
from bot.workflow.followup import FollowupConfig, FollowupReply, Followups
from bot.workflow.ageing import AgeingRule, age_incidents
from bot.workflow.incidents import (open_command_incident, record_firing, record_resolved, request_key,
                                    set_thread)
from bot.workflow.progress import ProgressTracer
from bot.workflow.surface import DiagnosisPost, MessageRef, ProgressView, Surface
from tools.intake.model import Alert, AlertGroup
from tools.redact import redact
from tools.sources import Sources

log = logging.getLogger(__name__)

SourcesProvider = Callable[[], Awaitable[Sources]]
MAX_COMMAND = 500
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")
USAGE = ("Usage: `/diagnose <service | namespace/pod | alert text>`, e.g. `/diagnose shop/checkout` or "
         "`/diagnose KubePodCrashLooping shop/cart-7d9f8c6b5-x2kqz`.")


class IntakeFailed(RuntimeError):
    """A group's alerts could not be recorded because the database does not answer (or none could
    be recorded at all): the caller answers 500 so the sender retries, instead of acknowledging
    alerts that were never stored."""


class Workflow:
    def __init__(self, factory: sessionmaker[Session], surfaces: dict[str, Surface], sources: SourcesProvider,
                 engine: EngineSettings, executor: Any, *, jobs: Any = None, concurrency: int = 4,
                 periodic: dict[str, float] | None = None, runner_options: dict[str, float] | None = None,
                 reconcile_after: float = 300.0, policy=None,
                 signer=None, namespace_allowlist: tuple[str, ...] = (), risk_overrides: dict[str, str] | None = None,
                 alert_channel: dict[str, str] | None = None, knowledge: Any = None,
                 effective_minutes: int = 30, ageing: AgeingRule | None = None, group_max_new: int = 200,
                 link_hosts: frozenset[str] = frozenset(), followup: FollowupConfig | None = None,
                 open_knowledge: Any = None):
        self.factory = factory
        self.surfaces = surfaces
        self.sources = sources
        self.engine = engine
        self.executor = executor
        self.followups = Followups(self, followup or FollowupConfig())  # questions in diagnosis threads
        # Diagnoses run as durable jobs: enqueued with their incident, run by the in-process runner
        # (LocalJobs, the default) or by `chatops worker` processes (bot.jobs.pg, Procrastinate).
        self.jobs = jobs if jobs is not None else LocalJobs()
        self.periodic = dict(periodic or {})
        self.reconcile_after = reconcile_after  # seconds in `executing` before a proposal is reconciled
        self.runner: LocalRunner | None = None
        if isinstance(self.jobs, LocalJobs):
            self.runner = LocalRunner(factory, self.job_handlers(), concurrency=concurrency, jobs=self.jobs,
                                      periodic=[Periodic(n, sec) for n, sec in self.periodic.items()],
                                      **(runner_options or {}))
        self.policy = policy
        self.signer = signer
        self.allowlist = tuple(namespace_allowlist)
        self.risk_overrides = risk_overrides or {}
        self.alert_channel = alert_channel or {}
        self.knowledge = knowledge
        # `chatops serve` opens the knowledge base after it listens (bot/deferred.py): an incident that
        # resolves before then waits for it rather than going unremembered.
        self.open_knowledge = open_knowledge
        self.effective_minutes = effective_minutes
        self.ageing = ageing or AgeingRule()
        self.group_max_new = group_max_new
        self.link_hosts = link_hosts  # hosts evidence links may point to (bot.evidence_links); none: no links

    # ---- alerts -------------------------------------------------------------------------
    async def on_alert_group(self, group: AlertGroup, *, platform: str, channel: str, thread: str | None,
                             source: str, actor: str = "alertmanager") -> list[str]:
        """One status per alert of the group, in order: new:<incident>:<queue state>, repeat:<incident>,
        resolved:<incident>, resolved:no-open-incident, deferred (past the group's cap of new
        incidents) or failed:<error>. Each alert is recorded in its own transaction: one that fails is
        reported and the rest go on. Raises IntakeFailed when none could be recorded, or the database
        stops answering, so the sender retries the group."""
        surface = self.surfaces[platform]
        statuses: list[str] = []
        deferred: list[Alert] = []
        failed: list[tuple[Alert, str]] = []
        opened = 0
        for alert in group.alerts:
            try:
                status = await self._on_alert(surface, alert, platform=platform, channel=channel, thread=thread,
                                              source=source, actor=actor, may_open=opened < self.group_max_new)
            except Exception as exc:
                why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
                log.warning("alert %s (fingerprint %s) failed at intake: %s", alert.name, alert.fingerprint,
                            why, exc_info=exc)
                failed.append((alert, why))
                status = f"failed:{type(exc).__name__}"
                # A bad alert is skipped; a database that is down fails the group so the sender retries it
                # (alerts already recorded come back as repeats), instead of each alert timing out in turn.
                if len(failed) == len(group.alerts) or not await self._database_answers():
                    raise IntakeFailed(f"alert {len(statuses) + 1} of {len(group.alerts)} could not be recorded "
                                       f"and the database does not answer: {why}") from exc
            opened += status.startswith("new:")
            if status == "deferred":
                deferred.append(alert)
            statuses.append(status)
        notes = _group_notes(group, deferred, failed, self.group_max_new)
        if notes:
            await self._say(surface, channel, thread, "\n".join(notes))
        return statuses

    async def _on_alert(self, surface: Surface, alert: Alert, *, platform: str, channel: str, thread: str | None,
                        source: str, actor: str, may_open: bool) -> str:
        if alert.status == "resolved":
            res = await asyncio.to_thread(record_resolved, self.factory, alert, platform=platform,
                                          channel=channel, actor=actor)
            if res is None:
                return "resolved:no-open-incident"
            await self._say(surface, channel, res.thread_ref or thread,
                            f":white_check_mark: Resolved: {alert.name} stopped firing. Closing this incident.")
            # The resolve decides whether the incident's executed actions worked; the memory then says so.
            try:
                await self.judge_outcomes(incident_id=res.incident_id, remember=False)
            except Exception:  # the resolve is recorded; the periodic `outcomes` task decides from it later
                log.warning("could not judge the actions of incident %s", res.incident_id, exc_info=True)
            await self._remember(res.incident_id)
            return f"resolved:{res.incident_id}"
        trigger = Trigger.from_alert(alert)

        def enqueue(s: Session, inc: Any) -> None:  # in the incident's own transaction
            self.jobs.enqueue(s, "diagnose", _job_args(inc.id, trigger, platform, channel, thread,
                                                       None if thread else _alert_headline(alert)),
                              key=f"diagnose:{inc.id}")

        res = await asyncio.to_thread(record_firing, self.factory, alert, source=source, platform=platform,
                                      channel=channel, actor=actor, rule=self.ageing, may_open=may_open,
                                      on_open=enqueue, thread_ref=thread)
        if res.expired is not None:
            await self._say(surface, channel, res.expired.thread_ref or thread, res.expired.note(res.incident_id))
        if res.incident_id is None:
            return "deferred"
        if not res.is_new:
            await self._say(surface, channel, res.thread_ref or thread,
                            f"Still firing: {alert.name} (same alert, fingerprint {alert.fingerprint}); "
                            "no new investigation started.")
            return f"repeat:{res.incident_id}"
        self._enqueued()
        return f"new:{res.incident_id}:queued"

    async def _database_answers(self) -> bool:
        def probe() -> None:
            with self.factory() as s:
                s.execute(sql_text("SELECT 1"))
        try:
            await asyncio.to_thread(probe)
            return True
        except Exception:
            return False

    async def age_incidents(self, now: datetime | None = None) -> list[str]:
        """The ageing sweep (for a periodic clock): expire aged incidents and say so in their threads."""
        expired = await asyncio.to_thread(age_incidents, self.factory, self.ageing, now)
        for e in expired:
            surface = self.surfaces.get(e.platform or "")
            if surface is not None and e.channel:
                await self._say(surface, e.channel, e.thread_ref, e.note())
        return [e.incident_id for e in expired]

    # ---- /diagnose ------------------------------------------------------------------------
    async def on_command(self, text: str, *, platform: str, channel: str, user: str,
                         request_id: str | None = None, thread: str | None = None) -> str | None:
        """The reply for the user, or None. `request_id` (Slack's trigger_id) makes a replay of the same
        request open nothing, across processes: it is stored under a unique constraint. With `thread`
        (a Teams mention inside a reply chain) the investigation is answered in that thread."""
        text = redact((text or "").strip())  # before it is stored, posted back or handed to a model
        if not text:
            return USAGE
        if len(text) > MAX_COMMAND:
            return f"That is {len(text)} characters; /diagnose takes at most {MAX_COMMAND}. " + USAGE
        trigger = Trigger.from_text(text, requested_by=f"{platform}:{user}")
        named = bool(trigger.service and NAME.match(trigger.service)) or bool(trigger.namespace and NAME.match(trigger.namespace))
        if not (trigger.alert or named or len(text.split()) > 1):
            return f"I could not find a service, pod or alert in {text!r}. " + USAGE
        announce = f"Investigating `{text}` (requested by {user})…"

        def enqueue(s: Session, inc: Any) -> None:  # in the incident's own transaction
            self.jobs.enqueue(s, "diagnose", _job_args(inc.id, trigger, platform, channel, thread, announce),
                              key=f"diagnose:{inc.id}")

        incident_id = await asyncio.to_thread(open_command_incident, self.factory, text, platform=platform,
                                              channel=channel, user=f"{platform}:{user}",
                                              namespace=trigger.namespace, service=trigger.service,
                                              request=request_key(platform, request_id) if request_id else None,
                                              on_open=enqueue)
        if incident_id is None:
            log.info("replayed /diagnose ignored: request %s from %s:%s already opened an incident",
                     request_id, platform, user)
            return None
        self._enqueued()
        return None

    # ---- follow-up questions in a diagnosis thread (bot/workflow/followup.py) ---------------
    async def on_followup(self, question: str, *, platform: str, channel: str, thread: str, user: str,
                          message_id: str) -> FollowupReply:
        """A question in a thread; `handled` is False when the thread is not one of the bot's incidents."""
        return await self.followups.ask(question, platform=platform, channel=channel, thread=thread, user=user,
                                        message_id=message_id)

    # ---- jobs -----------------------------------------------------------------------------
    def job_handlers(self) -> dict[str, Any]:
        from bot.jobs.tasks import periodic_handlers

        return {"diagnose": self.run_diagnose_job, "followup": self.followups.run_job, **periodic_handlers(self)}

    def start(self) -> None:
        """Start the in-process job runner (serve and console on the embedded default)."""
        if self.runner is not None:
            self.runner.start()

    def _enqueued(self) -> None:
        self.jobs.committed()
        if self.runner is not None:
            self.runner.start()

    async def run_diagnose_job(self, args: dict[str, Any]) -> None:
        """The diagnosis job: announce the incident if it has no thread yet, then diagnose it. A re-run
        after a crash finds the earlier attempt's session `running`: it is failed (audited) and said in
        the thread; an incident already diagnosed is not diagnosed twice."""
        incident_id, platform, channel = args["incident_id"], args["platform"], args["channel"]
        surface = self.surfaces[platform]
        state = await asyncio.to_thread(prepare_rerun, self.factory, incident_id)
        if state.done:
            log.info("incident %s is already diagnosed; job skipped", incident_id)
            return
        thread = state.thread_ref or args.get("thread")
        if thread is None:
            ref = await surface.post_text(channel, args.get("announce") or f"Investigating incident {incident_id}…")
            thread = ref.ts
            await asyncio.to_thread(set_thread, self.factory, incident_id, thread)
        elif state.thread_ref is None and args.get("announce"):  # a command asked inside a thread
            await surface.post_text(channel, args["announce"], thread=thread)
            await asyncio.to_thread(set_thread, self.factory, incident_id, thread)
        if state.unposted:  # diagnosed, then the process died before posting: post what was recorded
            await self._post_recorded(incident_id, state.unposted, platform, channel, thread)
            return
        if state.interrupted:
            await self._say(surface, channel, thread, f":warning: An earlier attempt at this diagnosis stopped with its "
                            f"process ({state.interrupted}); running it again.")
        await self._diagnose(incident_id, Trigger.model_validate(args["trigger"]), platform, channel, thread)

    async def _post_recorded(self, incident_id: str, diagnosis_id: str, platform: str, channel: str,
                             thread: str) -> None:
        from sqlalchemy import select

        from agents.diagnosis import Diagnosis as DiagnosisModel
        from bot.models import Diagnosis as Row, RemediationProposal
        from bot.remediation.planning import views_of

        def load() -> tuple[Any, str, list, Any]:
            with self.factory() as s:
                row = s.get(Row, diagnosis_id)
                ids = s.execute(select(RemediationProposal.id).where(RemediationProposal.diagnosis_id == diagnosis_id,
                                                                     RemediationProposal.undo_of.is_(None))
                                .order_by(RemediationProposal.created_at)).scalars().all()
                doc, session_id = row.document, row.session_id
                feedback = view_of(s, row, self._gates()[1])
            return DiagnosisModel.model_validate(doc), session_id, views_of(self.factory, ids, self.signer,
                                                                            datetime.now(timezone.utc)), feedback

        d, session_id, views, feedback = await asyncio.to_thread(load)
        if not views and d.proposals:  # died before proposing: propose now (same gates as ever)
            views = await propose(self.factory, self.executor, incident_id, diagnosis_id, d.proposals,
                                  requested_by="bot", namespace_allowlist=self.allowlist,
                                  risk_overrides=self.risk_overrides, policy=self.policy, signer=self.signer)
        post = DiagnosisPost(incident_id=incident_id, session_id=session_id,
                             diagnosis=with_safe_links(d, self.link_hosts), proposals=views, engine="recorded",
                             feedback=feedback)
        ref = await self.surfaces[platform].post_diagnosis(channel, thread, post)
        await asyncio.to_thread(mark_posted, self.factory, diagnosis_id)
        await self._remember_buttons([v.proposal_id for v in views], platform, ref)

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
                # The coordinator's refusals go through propose too: re-checked, audited as
                # proposal.refused, and shown in the thread as "not offered: <why>".
                refused = [p for p, why in rec.result.dropped_proposals if why != "duplicate proposal"]
                views = await propose(self.factory, self.executor, incident_id, rec.diagnosis_id,
                                      [*d.proposals, *refused],
                                      requested_by=trigger.requested_by or "bot", namespace_allowlist=self.allowlist,
                                      risk_overrides=self.risk_overrides, policy=self.policy, signer=self.signer)
                chart = await chart_for(sources, d, trigger)
            finally:
                sources.close()
            post = DiagnosisPost(incident_id=incident_id, session_id=rec.session_id,
                                 diagnosis=with_safe_links(d, self.link_hosts), proposals=views,
                                 engine=rec.result.engine, fallback_reason=rec.result.fallback_reason,
                                 chart_png=chart[0] if chart else None, chart_title=chart[1] if chart else None,
                                 feedback=fresh_view(rec.diagnosis_id, d.category, self._gates()[1]))
            ref = await surface.post_diagnosis(channel, thread, post)
            await asyncio.to_thread(mark_posted, self.factory, rec.diagnosis_id)
            await self._remember_buttons([v.proposal_id for v in views], platform, ref)
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
            uref = await surface.post_proposal(channel, message.thread, result.undo, "Undo available for "
                                               f"{result.view.action_text if result.view else 'the action'}")
            await self._remember_buttons([result.undo.proposal_id], platform, uref)
        if result.executed and result.view is not None and result.view.incident_id:
            await self._remember(result.view.incident_id)
        return result

    async def refuse_click(self, *, platform: str, channel: str, message: MessageRef, identity: Identity,
                           event: str, subject: str, reason: str, **payload: Any) -> None:
        """A click refused before any policy sees it (a user of another Slack workspace): audited as
        `event` (approval.denied, feedback.denied) like any refusal, and the clicker told why, privately."""
        from bot import audit
        from bot.db import transaction

        def write() -> None:
            with transaction(self.factory) as s:
                audit.append(s, actor=identity.key, platform=identity.platform, event=event, subject=subject[:300],
                             payload={"display": identity.display, "reason": reason, **payload})

        await asyncio.to_thread(write)
        await self.surfaces[platform].ephemeral(channel, identity.user_id, reason, thread=message.thread)

    # ---- feedback on a diagnosis ------------------------------------------------------------
    async def feedback_form(self, *, platform: str, channel: str, message: MessageRef, diagnosis_id: str,
                            token: str, identity: Identity) -> FeedbackForm | None:
        """A "Wrong cause" click: the form's content for someone allowed to give feedback, or None after
        telling anyone else why not (audited, as an approval refusal is)."""
        policy, signer = self._gates()
        result = await asyncio.to_thread(open_form, self.factory, diagnosis_id, token, identity, policy=policy,
                                         signer=signer)
        if not result.ok:
            await self.surfaces[platform].ephemeral(channel, identity.user_id, result.message, thread=message.thread)
            return None
        return result.form

    async def on_feedback(self, *, platform: str, channel: str, message: MessageRef, diagnosis_id: str, token: str,
                          identity: Identity, verdict: str, category: str | None = None,
                          note: str | None = None) -> FeedbackResult:
        """A verdict on a diagnosis, under the same identity rules as approvals: recorded and audited,
        the message's feedback area updated in place, and the incident's memory rewritten with it."""
        policy, signer = self._gates()
        result = await asyncio.to_thread(record_feedback, self.factory, diagnosis_id, token, identity, verdict,
                                         category, note, policy=policy, signer=signer)
        surface = self.surfaces[platform]
        if not result.ok or result.status == "unchanged":
            await surface.ephemeral(channel, identity.user_id, result.message, thread=message.thread)
            return result
        await surface.update_feedback(message, result.view)
        if result.incident_id:
            await self._remember(result.incident_id)
        return result

    # ---- outcomes of executed actions -----------------------------------------------------------
    async def judge_outcomes(self, *, incident_id: str | None = None, now: datetime | None = None,
                             remember: bool = True) -> list[Any]:
        """Decide whether executed actions worked (bot/remediation/outcome.py); the memory of each
        incident with a new decision is rewritten (unless the caller does it)."""
        from bot.remediation.outcome import judge_outcomes

        judged = await asyncio.to_thread(judge_outcomes, self.factory, self.effective_minutes, now, incident_id)
        if remember:
            for inc in dict.fromkeys(j.incident_id for j in judged if j.incident_id):
                await self._remember(inc)
        return judged

    async def drain(self, timeout: float | None = None) -> None:
        """Until the in-process runner has nothing due (tests, console scripts, shutdown)."""
        if self.runner is not None:
            await self.runner.idle(timeout)

    async def stop(self, grace: float = 10.0) -> None:
        if self.runner is not None:
            await self.runner.stop(grace)

    # ---- helpers --------------------------------------------------------------------------
    def _gates(self) -> tuple[Any, Any]:
        """The approval policy and signer, from the settings when the workflow was built without them."""
        from bot.remediation.service import _defaults

        self.policy, self.signer = _defaults(self.policy, self.signer)
        return self.policy, self.signer

    async def _remember_buttons(self, proposal_ids: list[str], platform: str, ref: MessageRef) -> None:
        """Where each proposal's buttons are, so expiry can edit that message later (from any process)."""
        try:
            await asyncio.to_thread(remember_messages, self.factory, proposal_ids, platform, ref)
        except Exception:  # the post is out already; only the later expiry edit would miss it
            log.warning("could not record the message of proposals %s", proposal_ids, exc_info=True)

    async def _say(self, surface: Surface, channel: str, thread: str | None, text: str) -> None:
        try:
            await surface.post_text(channel, text, thread=thread)
        except Exception:
            log.exception("could not post to %s", channel)

    async def _remember(self, incident_id: str) -> None:
        """Resolved incidents and successful remediations become knowledge for next time."""
        if self.knowledge is None and self.open_knowledge is None:
            return
        from bot.incident_memory import remember

        def run() -> None:
            kb = self.knowledge if self.knowledge is not None else self.open_knowledge()  # blocks: in a thread
            if kb is None:
                return
            with self.factory() as s:
                remember(s, kb, incident_id, self.effective_minutes)

        try:
            await asyncio.to_thread(run)
        except Exception:
            log.warning("could not add incident %s to the knowledge base", incident_id, exc_info=True)


def _names(alerts: list[Alert], most: int = 5) -> str:
    counts = Counter(a.name for a in alerts).most_common()
    shown = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in counts[:most])
    return shown + (f" and {len(counts) - most} more names" if len(counts) > most else "")


def _group_notes(group: AlertGroup, deferred: list[Alert], failed: list[tuple[Alert, str]], cap: int) -> list[str]:
    """What the channel must hear about a group beyond its incident threads: nothing is dropped silently."""
    notes = []
    if group.truncated_alerts:
        where = f" (see {group.external_url})" if group.external_url else ""
        notes.append(f":warning: This group announced {group.truncated_alerts} more alert(s) than it carried "
                     f"(Alertmanager's truncatedAlerts, set by the receiver's max_alerts): the bot never received "
                     f"them, so they are not investigated{where}.")
    if deferred:
        notes.append(f":hourglass: {len(deferred)} new alert(s) of this group deferred: one group opens at most "
                     f"{cap} incidents at a time. They are not recorded yet; they open when the group is sent again "
                     f"(Alertmanager's group_interval or repeat_interval), or `/diagnose` one now: "
                     f"{_names(deferred)}.")
    if failed:
        reasons = "; ".join(f"{a.name}: {why}" for a, why in failed[:5])
        notes.append(f":x: {len(failed)} alert(s) of this group failed at intake and were skipped; the others "
                     f"went on. {reasons}" + (f"; and {len(failed) - 5} more" if len(failed) > 5 else ""))
    return notes


def _job_args(incident_id: str, trigger: Trigger, platform: str, channel: str, thread: str | None,
              announce: str | None) -> dict[str, Any]:
    return {"incident_id": incident_id, "trigger": trigger.model_dump(mode="json"), "platform": platform,
            "channel": channel, "thread": thread, "announce": announce}


def _alert_headline(alert) -> str:
    where = "/".join(x for x in (alert.namespace, alert.service or alert.pod) if x)
    summary = alert.summary or alert.description or ""
    return f":rotating_light: {alert.severity.upper()} {alert.name} {where} firing. {summary}".strip()[:2900]
