"""Everything `chatops mcp` runs on, built from the settings as a worker builds it.

The Workflow is the worker's: same sources, executor, policy, signer and job backend, and the chat
surfaces the settings configure, so a diagnosis started over MCP is the usual durable job (run by
this process on the embedded default, by `chatops worker`s with Procrastinate) and propose_action
can post buttons into the incident's thread.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.cli_util import UserError
from bot.mcp.clients import McpClient, stdio_client
from bot.mcp.resources import Resources
from bot.mcp.service import McpService

log = logging.getLogger(__name__)
GRACE_SECONDS = 20.0


@dataclass
class McpApp:
    server: Any  # mcp.server.lowlevel.Server
    service: McpService
    runtime: Any

    async def close(self) -> None:
        await self.service.workflow.stop(GRACE_SECONDS)
        await asyncio.to_thread(self.runtime.close)


def chat_channels(settings: Any, surfaces: dict[str, Any]) -> tuple[dict[str, set[str]], tuple[str, str] | None]:
    """(channels diagnose may post in, per platform; the default one or None: no chat thread)."""
    named = {"slack": {settings.slack_alerts_channel, *settings.slack_alert_channels},
             "teams": {settings.teams_alerts_channel, *settings.teams_alert_channels}}
    default = None
    if settings.mcp_chat_channel:
        platform, _, ident = settings.mcp_chat_channel.partition(":")
        if platform not in named or not ident:
            raise UserError("MCP_CHAT_CHANNEL must be slack:<channel id> or teams:<conversation id>")
        if platform not in surfaces:
            raise UserError(f"MCP_CHAT_CHANNEL is a {platform} channel, but {platform} is not configured here "
                            f"({'SLACK_BOT_TOKEN' if platform == 'slack' else 'TEAMS_APP_ID'} is unset)")
        named[platform].add(ident)
        default = (platform, ident)
    channels = {p: {c for c in cs if c} for p, cs in named.items() if p in surfaces}
    if default is None:
        default = next(((p, c) for p, c in (("slack", settings.slack_alerts_channel),
                                              ("teams", settings.teams_alerts_channel)) if c and p in surfaces), None)
    return channels, default


def _knowledge_dirs(settings: Any) -> list[Path]:
    from knowledge import BUNDLED_RUNBOOKS

    return ([Path(settings.knowledge_dir)] if settings.knowledge_dir else []) + [Path(BUNDLED_RUNBOOKS)]


async def open_app(settings: Any, stdio: bool) -> McpApp:
    from bot.cli_util import ensure_schema
    from bot.commands.worker_cmd import surfaces_from_settings
    from bot.console.wiring import settings_runtime
    from bot.context import get_engine
    from bot.jobs.setup import jobs_from_settings, periodic_schedule
    from bot.mcp.server import build_server
    from bot.teams.config import TeamsConfigError, teams_config
    from bot.wiring import tool_context
    from bot.workflow.build import build_workflow
    from knowledge.tool import knowledge_tools
    from tools.base import ToolRegistry

    try:
        teams_config(settings)
        jobs = jobs_from_settings(settings, get_engine().dialect.name)
    except (TeamsConfigError, ValueError) as exc:
        raise UserError(str(exc)) from None
    await asyncio.to_thread(ensure_schema, get_engine())
    surfaces = surfaces_from_settings(settings)
    channels, default = chat_channels(settings, surfaces)
    runtime = await asyncio.to_thread(settings_runtime, settings)
    try:
        workflow = build_workflow(settings, runtime, surfaces, jobs,
                                  periodic=periodic_schedule(settings) if jobs.name == "local" else None)
        ctx = tool_context(settings)
        knowledge = ToolRegistry(redactor=ctx.scrub).register(*knowledge_tools(runtime.knowledge, ctx))
        service = McpService(workflow, knowledge, channels, default)
        resources = Resources(_knowledge_dirs(settings), runtime.knowledge, workflow.allowlist, ctx.scrub)
        local: McpClient | None = stdio_client(settings.mcp_stdio_scope) if stdio else None
        server = build_server(service, resources, local)
    except BaseException:
        runtime.close()
        raise
    workflow.start()
    where = f"{default[0]} channel {default[1]}" if default else "no chat channel: diagnoses get no thread"
    log.info("MCP server ready (%s jobs; diagnose default: %s)", jobs.name, where)
    return McpApp(server, service, runtime)
