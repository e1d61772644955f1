"""`chatops serve [--host H] [--port P]`: the Slack bot and the Alertmanager webhook (bot/server.py).

Settings are checked first (a bad configuration fails in a second with one line naming the
setting); then the database, the data sources, the Workflow and the aiohttp server start. On
SIGTERM/SIGINT the server stops accepting requests and running diagnoses get a grace period.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from bot.cli_util import UserError, ensure_schema

log = logging.getLogger(__name__)
DRAIN_SECONDS = 20.0  # PaaS platforms allow ~30 s between SIGTERM and SIGKILL


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the Slack bot and the Alertmanager webhook (HTTP server)")
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


async def _serve(settings, host: str, port: int) -> int:  # noqa: ANN001
    from aiohttp import web

    from bot.console.wiring import settings_runtime
    from bot.context import get_sessionmaker
    from bot.evidence_links import hosts_from_settings
    from bot.remediation import ApprovalPolicy, signer_from_settings
    from bot.server import build_app
    from bot.slack.surface import SlackSurface, make_client
    from bot.wiring import engine_settings, intake_rules
    from bot.workflow.queue import SessionQueue
    from bot.workflow.service import Workflow

    runtime = await asyncio.to_thread(settings_runtime, settings)
    for note in runtime.notes:
        log.info("%s", note)
    build = runtime.provider.build

    async def sources():  # noqa: ANN202 -- a fresh registry per session; the workflow closes it
        return await asyncio.to_thread(build)

    policy = ApprovalPolicy.from_settings(settings)
    client = make_client(settings.slack_bot_token.get_secret_value().strip(), settings.slack_api_url)
    alerts = {"slack": settings.slack_alerts_channel} if settings.slack_alerts_channel else {}
    workflow = Workflow(get_sessionmaker(), {"slack": SlackSurface(client)}, sources, engine_settings(settings),
                        runtime.executor,
                        queue=SessionQueue(settings.session_concurrency, settings.session_queue_max),
                        policy=policy, signer=signer_from_settings(settings),
                        namespace_allowlist=settings.kube_namespace_allowlist,
                        knowledge=runtime.knowledge, effective_minutes=settings.incident_effective_minutes,
                        risk_overrides=dict(policy.risk_overrides), alert_channel=alerts, **intake_rules(settings),
                        link_hosts=hosts_from_settings(settings))
    app = build_app(settings, workflow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        mode = "Socket Mode" if settings.slack_app_token else "POST /slack/events"
        print(f"chatops serving on http://{host}:{port} (Slack via {mode}; POST /alertmanager, GET /healthz, "
              "GET /readyz)", flush=True)
        await stop.wait()
        log.info("shutting down: waiting up to %.0fs for running diagnoses", DRAIN_SECONDS)
    finally:
        await runner.cleanup()
        try:
            await workflow.drain(DRAIN_SECONDS)
        except asyncio.TimeoutError:
            log.warning("diagnoses still running at exit were abandoned")
        await asyncio.to_thread(runtime.close)
    return 0
