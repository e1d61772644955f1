"""The periodic tasks every deployment runs: expiry, reconciliation, incident ageing, the outcome
of executed actions (did the alert resolve in time?).

They are plain async handlers of the Workflow, scheduled by whichever job backend runs (once per
period across all processes either way); each run leaves a `periodic.ran` audit row saying what
it did, which is also how a test proves that two workers ran a period once.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import transaction
from bot.jobs.rerun import fail
from bot.models import AgentSession, Incident

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[Any]]
PERIODIC_TASKS = ("expire", "reconcile", "age_incidents", "health", "audit_verify", "outcomes", "digest")
ORPHAN_GRACE = timedelta(minutes=5)   # beyond a session's own wall-time budget


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def periodic_handlers(wf: Any) -> dict[str, Handler]:
    async def expire(args: dict[str, Any]) -> None:
        from bot.workflow.expiry import expire_and_update

        ids = await expire_and_update(wf.factory, wf.surfaces, wf.signer)
        await ran(wf.factory, "expire", args, {"expired": len(ids)})

    async def reconcile(args: dict[str, Any]) -> None:
        done: dict[str, Any] = {}
        retry = getattr(wf.jobs, "retry_stalled", None)
        if retry is not None:  # Procrastinate: jobs of dead workers go back to the queue
            done["jobs_retried"] = len(await retry())
        orphans = await asyncio.to_thread(fail_orphaned_sessions, wf.factory,
                                          timedelta(seconds=wf.engine.max_seconds) + ORPHAN_GRACE)
        for o in orphans:
            surface = wf.surfaces.get(o["platform"] or "")
            if surface is not None and o["channel"]:
                await wf._say(surface, o["channel"], o["thread"], ":x: This diagnosis stopped when the process "
                              "running it died, and was not retried. Run `/diagnose` again to retry it.")
        done["sessions_failed"] = len(orphans)
        if wf.executor is not None:
            from bot.remediation.reconcile import reconcile_executing

            results = await reconcile_executing(wf.factory, wf.executor, older_than=timedelta(seconds=wf.reconcile_after),
                                                policy=wf.policy, signer=wf.signer)
            done["proposals_reconciled"] = sum(r.outcome in ("succeeded", "failed") for r in results)
        await ran(wf.factory, "reconcile", args, done)

    async def age_incidents(args: dict[str, Any]) -> None:
        ids = await wf.age_incidents()
        await ran(wf.factory, "age_incidents", args, {"expired": len(ids)})

    async def health(args: dict[str, Any]) -> None:
        """Can this process reach the chat platforms? (metrics; the alert rules read them)"""
        from bot import metrics

        slack = wf.surfaces.get("slack")
        client = getattr(slack, "client", None)
        if client is not None:
            try:
                ok = bool((await asyncio.wait_for(client.auth_test(), 10)).get("ok"))
            except Exception as exc:
                log.warning("Slack is not reachable: %s", type(exc).__name__)
                ok = False
            metrics.slack_reachable(ok)
        await ran(wf.factory, "health", args, {"slack": None if client is None else ok})

    async def audit_verify(args: dict[str, Any]) -> None:
        from bot import audit, metrics

        def check() -> Any:
            with wf.factory() as s:
                return audit.verify(s)
        result = await asyncio.to_thread(check)
        metrics.audit_verified(result.ok)
        if not result.ok:
            log.error("audit chain verification FAILED: %s", result.reason)
        await ran(wf.factory, "audit_verify", args, {"ok": result.ok, "rows": result.count,
                                                      **({"reason": result.reason} if not result.ok else {})})

    async def outcomes(args: dict[str, Any]) -> None:
        """Executed actions whose INCIDENT_EFFECTIVE_MINUTES window passed: did their alert resolve?"""
        judged = await wf.judge_outcomes()
        await ran(wf.factory, "outcomes", args, {"decided": len(judged),
                                                 "effective": sum(j.effective is True for j in judged),
                                                 "not_effective": sum(j.effective is False for j in judged)})

    async def digest(args: dict[str, Any]) -> None:
        """The weekly digest, when DIGEST_CRON says it is due; failed channels of that week are retried."""
        from bot.settings import get_settings

        # Imported off the loop the first time (matplotlib, Block Kit, cards: about a second).
        service = await asyncio.to_thread(importlib.import_module, "bot.digest.service")
        result = await service.for_workflow(wf, get_settings()).tick(period_start(args))
        await ran(wf.factory, "digest", args, result)

    return {"expire": expire, "reconcile": reconcile, "age_incidents": age_incidents, "health": health,
            "audit_verify": audit_verify, "outcomes": outcomes, "digest": digest}


def period_start(args: dict[str, Any]) -> datetime:
    """When this run's period began (Procrastinate: its cron timestamp; the local runner: period ×
    seconds), so a run late in its queue still acts for its own period."""
    if isinstance(args.get("timestamp"), (int, float)):
        return datetime.fromtimestamp(args["timestamp"], timezone.utc)
    if isinstance(args.get("period"), int) and isinstance(args.get("seconds"), (int, float)):
        return datetime.fromtimestamp(args["period"] * args["seconds"], timezone.utc)
    return utcnow()


def fail_orphaned_sessions(factory: sessionmaker[Session], older_than: timedelta) -> list[dict[str, Any]]:
    """Sessions still `running` long after any session could: their process died and no job re-ran them."""
    limit = utcnow() - older_than
    out = []
    with transaction(factory) as s:
        rows = s.execute(select(AgentSession).where(AgentSession.status.in_(("running", "queued")),
                                                    AgentSession.started_at < limit)).scalars().all()
        for row in rows:
            fail(s, row, "abandoned: its process stopped and the job was not retried")
            inc = s.get(Incident, row.incident_id) if row.incident_id else None
            out.append({"session": row.id, "platform": inc.platform if inc else None,
                        "channel": inc.channel if inc else None, "thread": inc.thread_ref if inc else None})
    return out


async def ran(factory: sessionmaker[Session], task: str, args: dict[str, Any], result: dict[str, Any]) -> None:
    def write() -> None:
        with transaction(factory) as s:
            audit.append(s, actor="system:clock", platform="system", event="periodic.ran", subject=f"task/{task}",
                         payload={"task": task, "period": args.get("period"), **result})
    await asyncio.to_thread(write)
