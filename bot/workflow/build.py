"""The Workflow every process of a deployment builds from the settings: web, worker, console."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.workflow.service import Workflow


def build_workflow(settings: Any, runtime: Any, surfaces: dict[str, Any], jobs: Any,
                   periodic: dict[str, float] | None = None) -> Workflow:
    """`runtime` is bot.console.wiring's settings runtime (sources provider, executor, knowledge)."""
    from bot.context import get_sessionmaker
    from bot.evidence_links import hosts_from_settings
    from bot.remediation import ApprovalPolicy, signer_from_settings
    from bot.wiring import engine_settings, intake_rules

    build = runtime.provider.build

    async def sources():  # noqa: ANN202 -- a fresh registry per session; the workflow closes it
        return await asyncio.to_thread(build)

    from bot.workflow.followup import FollowupConfig
    from bot.workflow.nochat import NO_CHAT, NoChatSurface

    surfaces = {NO_CHAT: NoChatSurface(), **surfaces}  # any process may run an MCP diagnosis that has no chat
    policy = ApprovalPolicy.from_settings(settings)
    alerts = {p: c for p, c in (("slack", settings.slack_alerts_channel), ("teams", settings.teams_alerts_channel))
              if c}
    return Workflow(get_sessionmaker(), surfaces, sources, engine_settings(settings), runtime.executor, jobs=jobs,
                    concurrency=settings.session_concurrency, periodic=periodic, policy=policy,
                    reconcile_after=settings.reconcile_executing_after_seconds,
                    runner_options={"stale_after": settings.job_stalled_seconds,
                                    "heartbeat": max(0.5, min(5.0, settings.job_stalled_seconds / 4))},
                    signer=signer_from_settings(settings), namespace_allowlist=settings.kube_namespace_allowlist,
                    knowledge=runtime.knowledge, effective_minutes=settings.incident_effective_minutes,
                    risk_overrides=dict(policy.risk_overrides), alert_channel=alerts, **intake_rules(settings),
                    link_hosts=hosts_from_settings(settings), followup=FollowupConfig.from_settings(settings),
                    open_knowledge=runtime.finish_opening if runtime.opening is not None else None)
