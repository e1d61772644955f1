"""`chatops worker [--concurrency N]`: run diagnosis jobs and the periodic tasks (Procfile `worker:`).

With Procrastinate (PostgreSQL) any number of worker processes share the queue; each also defers
the periodic tasks, and Procrastinate's per-period unique row makes each period run once. On the
embedded default (our jobs table) the worker runs the same in-process runner `chatops serve` runs,
for deployments that want diagnoses off the web process. Workers post into chat with the same
credentials as the web process, so SLACK_BOT_TOKEN must be set for Slack threads, and TEAMS_APP_ID
(with TEAMS_APP_PASSWORD, or a managed identity) for Teams threads.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from bot.cli_util import UserError, ensure_schema

log = logging.getLogger(__name__)
GRACE_SECONDS = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run diagnosis jobs and periodic tasks (scale out with more processes)")
    p.add_argument("--concurrency", type=int, default=None, help="jobs at once (default SESSION_CONCURRENCY)")
    p.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.context import get_engine
    from bot.settings import get_settings

    settings = get_settings()
    if args.concurrency is not None and args.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    from bot.teams.config import TeamsConfigError, teams_config

    try:
        teams_config(settings)
    except TeamsConfigError as exc:
        raise UserError(str(exc)) from None
    ensure_schema(get_engine())
    return asyncio.run(_work(settings, args.concurrency or settings.session_concurrency))


def surfaces_from_settings(settings) -> dict:  # noqa: ANN001
    surfaces = {}
    token = settings.slack_bot_token.get_secret_value().strip() if settings.slack_bot_token else ""
    if token:
        from bot.slack.surface import SlackSurface, make_client

        surfaces["slack"] = SlackSurface(make_client(token, settings.slack_api_url))
    from bot.teams.wiring import teams_surface

    if (teams := teams_surface(settings)) is not None:  # posts from the stored conversation references
        surfaces["teams"] = teams
    return surfaces


async def _work(settings, concurrency: int) -> int:  # noqa: ANN001
    from bot.console.wiring import settings_runtime
    from bot.context import get_engine
    from bot.jobs.setup import jobs_from_settings, periodic_schedule
    from bot.metrics import start_metrics_server
    from bot.workflow.build import build_workflow

    try:
        jobs = jobs_from_settings(settings, get_engine().dialect.name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from bot.looplag import settle_startup

    runtime = await asyncio.to_thread(settings_runtime, settings)
    await settle_startup(*(("agents.anthropic.engine",) if settings.anthropic_api_key else ()))
    surfaces = surfaces_from_settings(settings)
    if not surfaces:
        log.warning("no chat surface configured (SLACK_BOT_TOKEN and TEAMS_APP_ID unset): jobs for chat threads "
                    "will fail")
    periodic = periodic_schedule(settings)
    settings_concurrency = settings.model_copy(update={"session_concurrency": concurrency})
    workflow = build_workflow(settings_concurrency, runtime, surfaces, jobs,
                              periodic=periodic if jobs.name == "local" else None)
    from bot import metrics as bot_metrics
    from bot.jobs.setup import queue_probe

    bot_metrics.register_queue_probe(queue_probe(jobs, workflow.factory))
    metrics = await start_metrics_server(settings.host, settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    name = f"worker-{os.getpid()}"
    print(f"chatops worker {name} running {jobs.name} jobs, concurrency {concurrency}", flush=True)
    try:
        if jobs.name == "local":
            workflow.start()
            await stop.wait()
        else:
            await _procrastinate(jobs.app, workflow, periodic, concurrency, name, settings, stop)
    finally:
        await workflow.stop(GRACE_SECONDS)
        if metrics is not None:
            await metrics.cleanup()
        await asyncio.to_thread(runtime.close)
    return 0


async def _procrastinate(app, workflow, periodic, concurrency, name, settings, stop) -> None:  # noqa: ANN001
    from bot.jobs.pg import QUEUE, register

    register(app, workflow.job_handlers(), periodic)
    heartbeat = max(0.5, min(10.0, settings.job_stalled_seconds / 4))
    async with app.open_async():
        worker = asyncio.create_task(app.run_worker_async(
            queues=[QUEUE], concurrency=concurrency, name=name, install_signal_handlers=False,
            update_heartbeat_interval=heartbeat, stalled_worker_timeout=settings.job_stalled_seconds,
            shutdown_graceful_timeout=GRACE_SECONDS, listen_notify=True, fetch_job_polling_interval=2.0))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not worker.done():
            worker.cancel()  # procrastinate's graceful shutdown: running jobs get shutdown_graceful_timeout
        await asyncio.gather(worker, return_exceptions=True)
        stopper.cancel()
