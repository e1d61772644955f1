"""POST /api/messages on `chatops serve`'s aiohttp server: the Bot Framework messaging endpoint.

Each request: the size limit (413); with TEAMS_APP_ID set, an Authorization header (401); the body
as a JSON object (400); the Bot Framework JWT, checked by the SDK against the OpenID metadata for
our app id and the body's serviceUrl (401); the activity's shape (400). Every refusal is one log
line without a traceback. Then invokes (button clicks) are answered with their invoke response,
which Teams waits for; everything else is acknowledged 200 at once and handled in the background.

Without TEAMS_APP_ID the route answers 503 naming the setting, unless
TEAMS_ALLOW_UNAUTHENTICATED=true (the local Bot Framework Emulator), which is logged as a warning.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from bot.slack.inbound import Refused
from bot.teams import inbound
from bot.teams.config import TeamsConfig, TeamsConfigError

if TYPE_CHECKING:  # the Bot Framework SDK (~0.4 s) loads only when Teams is configured: see add_teams
    from bot.teams.app import TeamsBot

log = logging.getLogger(__name__)

PATH = "/api/messages"
GROUP_TTL = 300.0
TEAMS: web.AppKey[TeamsBot] = web.AppKey("teams_bot")

ReadBody = Callable[[web.Request], Awaitable[bytes]]
Refuse = Callable[[web.Request, Refused], web.Response]


def add_teams(app: web.Application, config: TeamsConfig | None, settings: Any, workflow: Any, *,
              read_body: ReadBody, refuse: Refuse) -> TeamsBot | None:
    """Route POST /api/messages on `app` (bot/server.py passes its body reader and refusal logger)."""
    if config is None:
        async def disabled(request: web.Request) -> web.Response:
            return web.json_response({"error": "Teams endpoint disabled: set TEAMS_APP_ID and TEAMS_APP_PASSWORD "
                                               "(see README, Microsoft Teams)"}, status=503)

        app.router.add_post(PATH, disabled)
        return None
    from bot.remediation import ApprovalPolicy
    from bot.teams.adapter import Unauthorized
    from bot.teams.app import TeamsBot
    from bot.teams.identity import TeamsIdentities, approver_groups
    from bot.teams.surface import TeamsSurface

    surface = (getattr(workflow, "surfaces", None) or {}).get("teams")
    if not isinstance(surface, TeamsSurface):
        raise TeamsConfigError("TEAMS_APP_ID is set but the workflow has no Teams surface")
    if not config.app_id:
        log.warning("POST %s accepts UNAUTHENTICATED requests (TEAMS_ALLOW_UNAUTHENTICATED=true, no TEAMS_APP_ID): "
                    "for the local Bot Framework Emulator only; anyone who reaches this port can act as Teams", PATH)
    policy = getattr(workflow, "policy", None) or ApprovalPolicy.from_settings(settings)
    identities = TeamsIdentities(surface.adapter, config.graph_url, approver_groups(policy), ttl=GROUP_TTL)
    bot = TeamsBot(workflow, surface, identities, config.alert_channels)
    app[TEAMS] = bot

    async def messages(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization")
        try:
            if config.app_id and not (header or "").strip():
                raise Refused(401, "no Authorization header (a Bot Framework token is required)")
            body = await read_body(request)
            activity = inbound.load(body)
            try:
                await surface.adapter.authenticate(activity, header)
            except Unauthorized as exc:
                raise Refused(401, str(exc)) from None
            inbound.check(activity)
        except Refused as refused:
            return refuse(request, refused)
        answer = await bot.handle(activity)
        return web.json_response(answer) if answer is not None else web.Response(status=200)

    async def warm(app_: web.Application) -> None:
        if config.app_id:
            await surface.adapter.warm()

    async def finish(app_: web.Application) -> None:
        await bot.background.drain(10)

    app.router.add_post(PATH, messages)
    app.on_startup.append(warm)
    app.on_shutdown.append(finish)
    return bot
