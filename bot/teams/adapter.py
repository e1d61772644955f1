"""The one module that talks to the Bot Framework SDK (botbuilder-core 4.17, its last Python release).

Everything else in bot/teams works on activity JSON (dicts) and calls this adapter, so moving to
the Microsoft 365 Agents SDK (Python >= 3.12) replaces this file only. It does three things:

- authenticate an inbound request: the SDK's JwtTokenValidation (via the parameterized
  BotFrameworkAuthentication) checks the Bot Framework JWT against the OpenID metadata: issuer,
  signature, expiry, audience = our app id, and the `serviceurl` claim = the activity's serviceUrl;
- send, reply, create a channel thread and update activities proactively, through CloudAdapter's
  continue_conversation / create_conversation on a stored ConversationReference, so any process
  can post after a restart without a user typing first;
- hand out app tokens (Bot Connector, Microsoft Graph) for the configured app type.

Two SDK quirks are handled here. The SDK creates new credentials, hence a new MSAL client and a
new token request, on every turn, and MSAL is synchronous while msrest calls it on the event loop:
`_Credentials` keeps one credentials object per (scope, tenant) and refreshes its token in a worker
thread, so the loop only ever reads MSAL's cache. And MSAL runs Microsoft's instance discovery for
an authority it does not know (a proxy, the tests' loopback Entra), which the SDK's private-cloud
credentials do not switch off; `_Credentials` builds that MSAL client with validation off.
"""
from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters, ConversationReference, Mention
from botframework.connector.auth import (AppCredentials, AuthenticationConstants, JwtTokenExtractor,
                                         ManagedIdentityAppCredentials, MicrosoftAppCredentials,
                                         ServiceClientCredentialsFactory)
from msrest.exceptions import ClientRequestError, HttpOperationError

from bot.teams.config import TeamsConfig

log = logging.getLogger(__name__)

TOKEN_REFRESH = 1800.0  # seconds: well inside an Entra token's hour, so the loop never waits on MSAL


class Unauthorized(Exception):
    """The request's Bot Framework token is missing or invalid (answered 401)."""


class ConnectorError(Exception):
    """The Bot Connector refused or failed a call; `status` is its HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Credentials(ServiceClientCredentialsFactory):
    """App credentials per (scope, tenant), kept for the process and refreshed off the loop."""

    def __init__(self, config: TeamsConfig):
        self.config = config
        self._cache: dict[tuple[str, str], tuple[AppCredentials, float]] = {}
        self._lock = asyncio.Lock()

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(self.config.app_id) and app_id == self.config.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.config.app_id

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> AppCredentials:
        if not self.config.app_id:
            return MicrosoftAppCredentials.empty()
        if app_id != self.config.app_id:
            raise PermissionError(f"credentials asked for app id {app_id!r}, not ours")
        return await self.for_scope(oauth_scope, self.config.channel_tenant)

    async def for_scope(self, scope: str, tenant: str) -> AppCredentials:
        key = (scope, tenant)
        async with self._lock:
            creds, fetched = self._cache.get(key) or (None, 0.0)
            if creds is None or time.monotonic() - fetched > TOKEN_REFRESH:
                creds = creds or self._build(scope, tenant)
                await asyncio.to_thread(self._fetch, creds)
                self._cache[key] = (creds, time.monotonic())
            return creds

    def _build(self, scope: str, tenant: str) -> AppCredentials:
        cfg = self.config
        if cfg.app_type == "UserAssignedMSI":
            return ManagedIdentityAppCredentials(cfg.app_id, oauth_scope=scope)
        creds = MicrosoftAppCredentials(cfg.app_id, cfg.password, channel_auth_tenant=tenant, oauth_scope=scope)
        if cfg.custom_login:
            creds.oauth_endpoint = f"{cfg.login_url}/{tenant}"
        return creds

    def _fetch(self, creds: AppCredentials) -> None:
        """In a worker thread: build MSAL's client (it does discovery over HTTP) and fill its cache."""
        if self.config.custom_login and isinstance(creds, MicrosoftAppCredentials) and not creds.app:
            from msal import ConfidentialClientApplication

            creds.app = ConfidentialClientApplication(self.config.app_id, client_credential=self.config.password,
                                                      authority=creds.oauth_endpoint, validate_authority=False)
        creds.get_access_token()


def _sdk_configuration(cfg: TeamsConfig) -> SimpleNamespace:
    """ConfigurationBotFrameworkAuthentication's settings object, always in its parameterized form
    (the public cloud's values unless overridden), so tests and proxies use the same code path."""
    consts = AuthenticationConstants
    return SimpleNamespace(
        APP_ID=cfg.app_id, APP_PASSWORD=cfg.password, APP_TYPE=cfg.app_type, APP_TENANTID=cfg.tenant_id,
        VALIDATE_AUTHORITY=not cfg.custom_login,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=f"{cfg.login_url}/{cfg.channel_tenant}",
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=consts.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=consts.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        OAUTH_URL=consts.OAUTH_URL, TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=cfg.openid_metadata_url,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=consts.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL,
        CALLER_ID=None)


def _activity(data: dict) -> Activity:
    """An outbound activity from JSON. The schema's Entity keeps only `type`, so mentions are made
    Mention objects, or their `mentioned` and `text` would be dropped on the way out."""
    act = Activity().deserialize(data)
    if data.get("entities"):
        act.entities = [Mention().deserialize(e) for e in data["entities"] if e.get("type") == "mention"]
    return act


_CALL_FAILED = (HttpOperationError, ClientRequestError)  # an error answer; no answer at all


def _connector_error(exc: Exception) -> ConnectorError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", 0) or 0
    return ConnectorError(status, f"Bot Connector call failed ({status or 'no answer'}): {str(exc)[:300]}")


class TeamsAdapter:
    """Inbound authentication and outbound (proactive) calls over botbuilder's CloudAdapter."""

    def __init__(self, config: TeamsConfig):
        self.config = config
        self.credentials = _Credentials(config)
        self.auth = ConfigurationBotFrameworkAuthentication(_sdk_configuration(config),
                                                            credentials_factory=self.credentials)
        self.cloud = CloudAdapter(self.auth)

    # ---- inbound ------------------------------------------------------------------------------
    async def authenticate(self, activity: dict, auth_header: str | None) -> None:
        """Raises Unauthorized unless the header carries a valid token for this activity (read before
        its shape is checked: only its serviceUrl and channelId, as strings or empty). Without an app
        id (emulator mode, bot.teams.config allows it only explicitly) there is nothing to check."""
        if not self.config.app_id:
            return
        fields = {k: activity[k] if isinstance(activity.get(k), str) else "" for k in ("serviceUrl", "channelId")}
        try:
            await self.auth.authenticate_request(Activity().deserialize(fields), auth_header or None)
        except Exception as exc:  # PermissionError, jwt errors, an unknown key id, metadata unreachable
            raise Unauthorized(f"Bot Framework token rejected: {type(exc).__name__}: {str(exc)[:200]}") from None

    async def warm(self) -> None:
        """Fetch the OpenID metadata and signing keys in a worker thread at start: the SDK fetches them
        synchronously (requests) on the first request, which would stall the event loop."""
        metadata = JwtTokenExtractor.get_open_id_metadata(self.config.openid_metadata_url)
        try:
            await asyncio.to_thread(asyncio.run, metadata._refresh())
        except Exception as exc:
            log.warning("Bot Framework OpenID metadata not fetched at start (%s: %s); the first request retries",
                        type(exc).__name__, str(exc)[:200])

    @staticmethod
    def reference_of(activity: dict) -> dict:
        """The activity's ConversationReference as JSON (camelCase, as the Bot Framework writes it)."""
        ref = TurnContext.get_conversation_reference(Activity().deserialize(activity)).serialize()
        ref.pop("activityId", None)
        return ref

    # ---- outbound -----------------------------------------------------------------------------
    async def _proactive(self, reference: dict, conversation_id: str,
                         work: Callable[[TurnContext], Awaitable[Any]]) -> Any:
        ref = ConversationReference().deserialize({**reference, "conversation": {
            **(reference.get("conversation") or {}), "id": conversation_id}})
        ref.activity_id = None
        out: list[Any] = []

        async def logic(ctx: TurnContext) -> None:
            # The continuation event has a made-up id, which send_activity would turn into replyToId.
            ctx.activity.id = None
            out.append(await work(ctx))

        try:
            await self.cloud.continue_conversation(ref, logic, bot_app_id=self.config.app_id or None)
        except _CALL_FAILED as exc:
            raise _connector_error(exc) from None
        return out[0] if out else None

    async def send(self, reference: dict, conversation_id: str, activity: dict) -> str:
        """Post `activity` to a conversation (a Teams channel thread is `<channel>;messageid=<root id>`);
        returns the new activity's id."""
        async def work(ctx: TurnContext) -> str:
            sent = await ctx.send_activity(_activity(activity))
            return sent.id if sent is not None else ""

        return await self._proactive(reference, conversation_id, work)

    async def update(self, reference: dict, conversation_id: str, activity_id: str, activity: dict) -> None:
        """Replace an activity the bot posted (the Bot Connector's PUT)."""
        async def work(ctx: TurnContext) -> None:
            act = _activity(activity)
            act.id = activity_id
            await ctx.update_activity(act)

        await self._proactive(reference, conversation_id, work)

    async def create_thread(self, reference: dict, channel_id: str, tenant_id: str | None,
                            activity: dict) -> tuple[str, str]:
        """Start a new thread in a Teams channel with `activity` as its root; returns (the thread's
        conversation id, the root activity's id)."""
        bot = reference.get("bot") or {}
        params = ConversationParameters(
            is_group=True, bot=ChannelAccount(id=bot.get("id"), name=bot.get("name")), tenant_id=tenant_id,
            channel_data={"channel": {"id": channel_id}, **({"tenant": {"id": tenant_id}} if tenant_id else {})},
            activity=_activity(activity))
        out: list[tuple[str, str]] = []

        async def logic(ctx: TurnContext) -> None:
            out.append((ctx.activity.conversation.id, ctx.activity.id))

        try:
            await self.cloud.create_conversation(self.config.app_id or None, logic, params, channel_id="msteams",
                                                 service_url=reference.get("serviceUrl"))
        except _CALL_FAILED as exc:
            raise _connector_error(exc) from None
        return out[0]

    async def token(self, scope: str, tenant: str | None) -> str:
        """An app token for `scope` (e.g. Microsoft Graph) in `tenant` (the user's, for multi-tenant bots)."""
        if self.config.app_type != "MultiTenant":
            tenant = self.config.tenant_id
        elif not tenant:
            raise PermissionError("a multi-tenant bot needs the user's tenant id for this token")
        creds = await self.credentials.for_scope(scope, tenant)
        return await asyncio.to_thread(creds.get_access_token)
