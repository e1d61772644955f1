"""The one aiohttp application `chatops serve` runs.

    POST /slack/events   slack-bolt (slash commands, events, interactivity), behind bot.slack.inbound:
                         the signature (SLACK_SIGNING_SECRET) is checked before anything is parsed
                         (401), then the shape (400), each refusal one log line. With SLACK_APP_TOKEN
                         the app uses Socket Mode instead (outbound WebSocket, no public URL needed),
                         connected in the background: Slack never delays or blocks this server.
    POST /alertmanager   Alertmanager webhook receiver (bearer or basic auth); each group goes to
                         SLACK_ALERTS_CHANNEL and/or TEAMS_ALERTS_CHANNEL
    POST /api/messages   the Microsoft Teams (Bot Framework) endpoint, bot/teams/endpoint.py: 503 without
                         TEAMS_APP_ID; with it, every request needs a valid Bot Framework JWT (401)
    GET  /healthz        the process is alive
    GET  /readyz         the database is reachable and its schema at head (503 with why not); in
                         Socket Mode also the Slack connection's state (never a 503 by itself)
    GET  /metrics        the bot's own Prometheus metrics (bot/metrics.py)

Webhook auth is mandatory once the webhook is in use (SLACK_ALERTS_CHANNEL or TEAMS_ALERTS_CHANNEL
set): the server refuses to start without ALERTMANAGER_WEBHOOK_TOKEN or _USER/_PASSWORD, unless
ALERTMANAGER_WEBHOOK_ALLOW_UNAUTHENTICATED=true says the network is trusted. Without either
channel the route answers 503 naming the missing setting. With Teams configured and no Slack
setting at all, the server runs Teams only.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest

from bot import bounded_json, looplag, metrics
from bot.settings import Settings
from bot.slack import inbound
from bot.slack.app import HANDLED, PLATFORM, create_bolt_app
from bot.slack.identity import SlackIdentities, approver_groups
from bot.slack.inbound import Refused
from bot.slack.socket_mode import SocketModeLink
from bot.slack.surface import SlackSurface, make_client
from bot.teams.config import TeamsConfig, TeamsConfigError, teams_config
from bot.teams.endpoint import add_teams
from tools.intake import AlertGroup, parse_alertmanager

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024          # Alertmanager groups and Slack payloads are far smaller; bigger is refused (413)
WEBHOOK_WAIT = 3.0              # answer with per-alert statuses if intake finishes this fast, else 202
READY_TIMEOUT = 5.0
USERGROUP_TTL = 300.0
TEAMS = "teams"
TASKS = web.AppKey("background_tasks", set)


class ConfigError(ValueError):
    """The settings cannot make a safe server; the message names the setting."""


def _secret(value: Any) -> str:
    return value.get_secret_value().strip() if value is not None and value.get_secret_value() else ""


class WebhookAuth:
    """Bearer and/or basic credentials, compared in constant time."""

    def __init__(self, token: str = "", user: str = "", password: str = "", allow_unauthenticated: bool = False):
        if bool(user) != bool(password):
            raise ConfigError("ALERTMANAGER_WEBHOOK_USER and ALERTMANAGER_WEBHOOK_PASSWORD must be set together")
        self.token = token.encode()
        self.basic = f"{user}:{password}".encode() if user else b""
        self.open = allow_unauthenticated and not token and not user

    @classmethod
    def from_settings(cls, s: Settings) -> "WebhookAuth":
        return cls(_secret(s.alertmanager_webhook_token), (s.alertmanager_webhook_user or "").strip(),
                   _secret(s.alertmanager_webhook_password), s.alertmanager_webhook_allow_unauthenticated)

    @property
    def configured(self) -> bool:
        return bool(self.token or self.basic)

    def check(self, header: str | None) -> bool:
        if self.open:
            return True
        scheme, _, cred = (header or "").strip().partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        if scheme == "bearer" and self.token:
            return hmac.compare_digest(cred.encode(), self.token)
        if scheme == "basic" and self.basic:
            try:
                raw = base64.b64decode(cred, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(raw, self.basic)
        return False


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _refuse(request: web.Request, refused: Refused) -> web.Response:
    """One log line per refused request and no traceback: junk traffic must not grow the log faster
    than it arrives."""
    log.warning("%s %s from %s refused with %d: %s", request.method, request.path, request.remote, refused.status,
                refused.reason)
    return _error(refused.status, refused.reason)


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refused(413, f"body of {request.content_length} bytes exceeds the {MAX_BODY} byte limit")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, f"body exceeds the {MAX_BODY} byte limit") from None


def _engine_of(workflow: Any):  # noqa: ANN202
    factory = getattr(workflow, "factory", None)
    return getattr(factory, "kw", {}).get("bind") if factory is not None else None


def check_ready(engine: Any) -> str | None:
    """None when the database answers and its schema is at head, else why not."""
    from bot import migrate

    if engine is None:
        return "no database configured"
    try:
        current = migrate.current_revision(engine)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"database unreachable: {type(exc).__name__}: {first}"[:500]
    head = migrate.head_revision()
    if current != head and not migrate.is_newer(current):
        return f"database schema at {current or 'empty'}, code expects {head}: run `chatops db upgrade`"
    # A schema newer than this code (the pre-deploy migration of the next release ran first) stays
    # ready: migrations only add, so the old pods keep serving until the rollout replaces them.
    return None


def uses_slack(settings: Settings, teams: TeamsConfig | None) -> bool:
    """Slack is served unless Teams is configured and no Slack setting is (a Teams-only deployment)."""
    slack = (_secret(settings.slack_bot_token), _secret(settings.slack_signing_secret),
             _secret(settings.slack_app_token), settings.slack_alerts_channel, *settings.slack_alert_channels)
    return teams is None or any(slack)


def check_settings(settings: Settings, need_token: bool = True) -> tuple[WebhookAuth, dict[str, str]]:
    """Refuse configurations that cannot work or would be unsafe; returns the webhook auth and where
    webhook alert groups go ({platform: channel}). Called before anything slow starts, so a mistake
    fails in a second."""
    try:
        teams = teams_config(settings)
    except TeamsConfigError as exc:
        raise ConfigError(str(exc)) from None
    if uses_slack(settings, teams):
        if need_token and not _secret(settings.slack_bot_token):
            raise ConfigError("SLACK_BOT_TOKEN is not set")
        if not _secret(settings.slack_signing_secret) and not _secret(settings.slack_app_token):
            raise ConfigError("set SLACK_SIGNING_SECRET (HTTP mode, POST /slack/events) or SLACK_APP_TOKEN "
                              "(Socket Mode)")
    auth = WebhookAuth.from_settings(settings)
    # Each platform's alerts channel gets the group as its own incidents (deduplication is per channel).
    targets = {p: c for p, c in ((PLATFORM, (settings.slack_alerts_channel or "").strip()),
                                 (TEAMS, teams.alerts_channel if teams else "")) if c}
    if targets and not auth.configured and not auth.open:
        raise ConfigError(f"{' and '.join(p.upper() + '_ALERTS_CHANNEL' for p in targets)} enables POST "
                          "/alertmanager, which needs ALERTMANAGER_WEBHOOK_TOKEN or "
                          "ALERTMANAGER_WEBHOOK_USER/_PASSWORD (or ALERTMANAGER_WEBHOOK_ALLOW_UNAUTHENTICATED=true on "
                          "a trusted network)")
    if auth.configured and not targets:
        raise ConfigError("webhook credentials are set but SLACK_ALERTS_CHANNEL is not"
                          + (" (nor TEAMS_ALERTS_CHANNEL)" if teams else "") + ": where should alerts go?")
    return auth, targets


def build_app(settings: Settings, workflow: Any, *, client=None, engine=None,  # noqa: ANN001
              webhook_wait: float = WEBHOOK_WAIT) -> web.Application:
    """Everything `chatops serve` serves. `workflow` is a bot.workflow.service.Workflow (or any
    object with its on_alert_group/on_command/on_click); its "slack" surface's client is reused."""
    surface = (getattr(workflow, "surfaces", None) or {}).get(PLATFORM)
    surface = surface if isinstance(surface, SlackSurface) else None
    if client is None and surface is not None:
        client = surface.client
    auth, targets = check_settings(settings, need_token=client is None)
    teams = teams_config(settings)
    slack_on = client is not None or uses_slack(settings, teams)
    signing_secret, app_token = _secret(settings.slack_signing_secret), _secret(settings.slack_app_token)
    if client is None and slack_on:
        client = make_client(_secret(settings.slack_bot_token), settings.slack_api_url)
    if auth.open and targets:
        log.warning("POST /alertmanager accepts UNAUTHENTICATED requests "
                    "(ALERTMANAGER_WEBHOOK_ALLOW_UNAUTHENTICATED=true): anyone who reaches this port can open "
                    "incidents")

    bolt = None
    if slack_on:  # a Teams-only deployment has no Slack app
        identities = SlackIdentities(client, approver_groups(settings.approvers_medium, settings.approvers_high,
                                                             settings.approvers_critical), ttl=USERGROUP_TTL)
        bolt = create_bolt_app(workflow, client=client, signing_secret=signing_secret or None,
                               alert_channels=settings.slack_alert_channels, identities=identities, surface=surface)
    engine = engine if engine is not None else _engine_of(workflow)

    slack = SocketModeLink(bolt, app_token, client) if app_token else None
    app = web.Application(client_max_size=MAX_BODY)
    app[TASKS] = set()

    async def slack_events(request: web.Request) -> web.Response:
        try:
            body = await _read_body(request)
            inbound.verify(signing_secret.encode(), request.headers.get("X-Slack-Request-Timestamp"),
                           request.headers.get("X-Slack-Signature"), body, time.time())
            data = inbound.parse(inbound.content_type(request.headers), body, HANDLED)
        except Refused as refused:
            return _refuse(request, refused)
        if data.get("type") == "app_rate_limited":  # Slack dropped events for this app: say so, once
            log.warning("Slack rate-limited this app's events (minute %s): some were not delivered",
                        data.get("minute_rate_limited"))
            return web.Response(status=200)
        if _repeat_delivery(request, data):
            return web.Response(status=200)
        try:
            text, headers = _for_bolt(body, dict(request.headers))
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
            response = await bolt.async_dispatch(bolt_request)
        except Exception as exc:  # a shape inbound.parse did not foresee: still one line, still no 500
            return _refuse(request, Refused(400, f"Slack request not understood: {type(exc).__name__}: {exc}"[:300]))
        return await to_aiohttp_response(response)

    async def alertmanager(request: web.Request) -> web.Response:
        if not targets:
            return _error(503, "alert webhook disabled: set SLACK_ALERTS_CHANNEL (or TEAMS_ALERTS_CHANNEL) and "
                               "webhook credentials")
        if not auth.check(request.headers.get("Authorization")):
            return web.json_response({"error": "missing or wrong credentials"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="alertmanager"'})
        try:
            payload = bounded_json.loads(await _read_body(request))
        except Refused as refused:
            return _refuse(request, refused)
        except bounded_json.BadJSON as exc:  # including nesting deeper than json.loads could recurse
            return _refuse(request, Refused(400, str(exc)))
        group = parse_alertmanager(payload)
        if not isinstance(group, AlertGroup):
            return _error(422, f"not an Alertmanager alert group: {group.reason}")
        work = asyncio.ensure_future(_to_every_channel(workflow, group, targets))
        app[TASKS].add(work)
        work.add_done_callback(app[TASKS].discard)
        work.add_done_callback(_log_failure)
        done, _ = await asyncio.wait({work}, timeout=webhook_wait)
        if not done:  # a big group is still being posted: Alertmanager must not time out and resend it
            return web.json_response({"status": "accepted", "alerts": len(group.alerts)}, status=202)
        if work.exception() is not None:  # e.g. database down: 500 makes Alertmanager retry
            exc = work.exception()
            return _error(500, f"alert intake failed: {type(exc).__name__}")
        results = work.result()
        return web.json_response({"status": "ok", "alerts": len(group.alerts), "results": next(iter(results.values())),
                                  **({"platforms": results} if len(results) > 1 else {})})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        try:
            reason = await asyncio.wait_for(asyncio.to_thread(check_ready, engine), READY_TIMEOUT)
        except asyncio.TimeoutError:
            reason = f"database did not answer within {READY_TIMEOUT:.0f}s"
        body: dict[str, Any] = {"ready": not reason, **({"reason": reason} if reason else {})}
        if slack is not None:
            body["slack"] = slack.status
        # Only the database decides the status code. A replica without its database cannot take work;
        # one without Slack still accepts alerts (recorded, and a 500 makes Alertmanager retry what
        # could not be posted), and every replica shares the same Slack: a 503 for Slack would take
        # the whole fleet out of rotation and turn a Slack outage into a webhook outage.
        return web.json_response(body, status=503 if reason else 200)

    if signing_secret:
        app.router.add_post("/slack/events", slack_events)
    app.router.add_post("/alertmanager", alertmanager)
    add_teams(app, teams, settings, workflow, read_body=_read_body, refuse=_refuse)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics.metrics_response)

    if slack is not None:
        async def socket_mode(app_: web.Application):  # noqa: ANN202
            await slack.start()  # returns at once: the server listens while Slack connects (or cannot)
            yield
            await slack.close()

        app.cleanup_ctx.append(socket_mode)

    if settings.loop_lag_log:  # load benches: how late this process's loop ran while serving
        app.cleanup_ctx.append(looplag.sampled_into(settings.loop_lag_log))

    async def finish_tasks(app_: web.Application) -> None:
        if app_[TASKS]:
            await asyncio.wait(set(app_[TASKS]), timeout=10)

    app.on_shutdown.append(finish_tasks)
    return app


# Slack's X-Slack-Retry-Reason values saying its first delivery never reached any server of ours.
_NEVER_ARRIVED = frozenset({"connection_failed", "ssl_error"})


def _repeat_delivery(request: web.Request, data: dict) -> bool:
    """Is this one of Slack's redeliveries (X-Slack-Retry-Num) of an event that already arrived?
    Such a repeat is acknowledged (200) and not handled again, on whichever replica it lands: the
    in-process event-id memory in bot.slack.app cannot see a delivery another replica took. Only
    when Slack says the first attempt never connected is the retry handled, since it is then the
    only delivery; the per-process event-id memory and, in the database, the alert fingerprint and
    the request id still catch a duplicate."""
    retry = request.headers.get("X-Slack-Retry-Num")
    if retry is None:
        return False
    why = request.headers.get("X-Slack-Retry-Reason", "")
    repeat = why not in _NEVER_ARRIVED
    outcome = "a repeat, acknowledged without handling it again" if repeat else \
        "the first attempt never arrived: handled"
    log.info("Slack retry %s of event %s (%s): %s", retry[:8], str(data.get("event_id"))[:64], why[:40] or "no reason",
             outcome)
    return repeat


def _for_bolt(body: bytes, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """bolt's form parser treats any body containing the word "payload" as an interactivity
    payload, so `/diagnose payments/payload-api` would arrive empty and be lost. A form without a
    `payload` field is handed over as the equivalent JSON object (bolt reads both the same way)."""
    text = body.decode()
    if "payload" not in text or text.lstrip().startswith("{"):
        return text, headers
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        return text, headers
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return json.dumps(form), {**headers, "Content-Type": "application/json"}


async def _to_every_channel(workflow: Any, group: AlertGroup, targets: dict[str, str]) -> dict[str, list[str]]:
    """The group's statuses per platform; each alerts channel gets its own incidents."""
    return {platform: await workflow.on_alert_group(group, platform=platform, channel=channel, thread=None,
                                                    source="alertmanager", actor="alertmanager")
            for platform, channel in targets.items()}


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("alert intake failed", exc_info=task.exception())
