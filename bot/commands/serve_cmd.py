"""`chatops serve [--host H] [--port P]`: the Slack and Teams bot and the Alertmanager webhook (bot/server.py).

Settings are checked first (a bad configuration fails in a second with one line naming the
setting); then the database, the data sources, the Workflow and the aiohttp server start. On
SIGTERM/SIGINT the server stops accepting requests and running diagnoses get a grace period.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import time

from bot.cli_util import UserError, ensure_schema

log = logging.getLogger(__name__)
DRAIN_SECONDS = 20.0  # PaaS platforms allow ~30 s between SIGTERM and SIGKILL


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the Slack and Teams bot and the Alertmanager webhook (HTTP server)")
    p.add_argument("--host", default=None, help="listen address (default HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="listen port (default PORT, 3000)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.context import get_engine
    from bot.server import ConfigError, check_settings
    from bot.settings import get_settings

    settings = get_settings()
    try:
        check_settings(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    ensure_schema(get_engine())
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    return asyncio.run(_serve(settings, host, port))


async def build_server(settings):  # noqa: ANN001, ANN201 -> (aiohttp Application, Workflow, ConsoleRuntime)
    """Everything `chatops serve` runs, built but not started. The knowledge base is not opened
    here, and the imports a first diagnosis needs are not done: warm_up does both once the server
    listens, so /readyz answers without waiting for Chroma, llama-index or matplotlib."""
    from bot.console.wiring import settings_runtime
    from bot.context import get_engine
    from bot.jobs.setup import jobs_from_settings, periodic_schedule
    from bot.server import build_app, uses_slack
    from bot.slack.surface import SlackSurface, make_client
    from bot.teams.config import teams_config
    from bot.teams.wiring import teams_surface
    from bot.workflow.build import build_workflow

    runtime = await asyncio.to_thread(settings_runtime, settings, defer=True)
    surfaces: dict = {}
    if uses_slack(settings, teams_config(settings)):  # else a Teams-only deployment
        surfaces["slack"] = SlackSurface(make_client(settings.slack_bot_token.get_secret_value().strip(),
                                                     settings.slack_api_url))
    if (teams := teams_surface(settings)) is not None:
        surfaces["teams"] = teams
    jobs = jobs_from_settings(settings, get_engine().dialect.name)
    # On the embedded default this process also runs the jobs (and the periodic tasks); with
    # Procrastinate it only enqueues, and `chatops worker` processes run them.
    local = jobs.name == "local"
    workflow = build_workflow(settings, runtime, surfaces, jobs,
                              periodic=periodic_schedule(settings) if local else None)
    from bot import metrics as bot_metrics
    from bot.jobs.setup import queue_probe

    bot_metrics.register_queue_probe(queue_probe(jobs, workflow.factory))
    return build_app(settings, workflow), workflow, runtime


async def warm_up(settings, workflow, runtime) -> None:  # noqa: ANN001
    """After the server listens: in a thread, open the knowledge base and build the remediation
    executor (a session or an action meanwhile waits for them, bot/deferred.py) and do the lazy
    imports a first diagnosis would do; then freeze the start-up heap for the collector (bot/looplag.py)."""
    from bot.looplag import settle_startup

    started = time.monotonic()
    # The imports below create hundreds of thousands of long-lived objects; the collector's full
    # passes over them while they grow stop every thread, the serving loop included (100+ ms in the
    # storm bench). Off until settle_startup has frozen them, then on again.
    gc.disable()
    try:
        workflow.knowledge = await asyncio.to_thread(runtime.finish_opening)
        for note in runtime.notes:
            log.info("%s", note)
        await settle_startup(*(("agents.anthropic.engine",) if settings.anthropic_api_key else ()), collect=False)
    except Exception:  # the server keeps serving; a first diagnosis then imports what it needs itself
        log.exception("warm-up after start failed")
        return
    finally:
        gc.freeze()
        gc.enable()
    log.info("warmed up %.1f s after listening", time.monotonic() - started)


async def _serve(settings, host: str, port: int) -> int:  # noqa: ANN001
    from aiohttp import web

    app, workflow, runtime = await build_server(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        workflow.start()
        warming = asyncio.ensure_future(warm_up(settings, workflow, runtime))
        mode = "Socket Mode" if settings.slack_app_token else "POST /slack/events"
        chats = ([f"Slack via {mode}"] if "slack" in workflow.surfaces else []) + \
            (["Teams via POST /api/messages"] if "teams" in workflow.surfaces else [])
        print(f"chatops serving on http://{host}:{port} ({'; '.join(chats)}; POST /alertmanager, GET /healthz, "
              "GET /readyz)", flush=True)
        await stop.wait()
        log.info("shutting down: waiting up to %.0fs for running jobs", DRAIN_SECONDS)
        warming.cancel()  # its thread finishes on its own; nothing waits for it
    finally:
        await runner.cleanup()
        # Running jobs get a grace period; any still running are abandoned and, being durable, run
        # again after the next start (or on another process) once their heartbeat is stale.
        await workflow.stop(DRAIN_SECONDS)
        await asyncio.to_thread(runtime.close)
    return 0
