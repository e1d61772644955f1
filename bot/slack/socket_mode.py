"""Slack Socket Mode, connected in the background so Slack can never hold up the HTTP server.

slack_sdk's client, left to itself, retries a failed connect forever inside `connect()` and logs
each attempt at ERROR with a traceback; awaited at startup it kept `chatops serve` from ever
listening (no /alertmanager, no /healthz) while tracebacks repeated every ~12 s. Here one task
owns the connection: it connects, checks it every few seconds, reconnects with exponential
backoff, and logs one line per state change (connecting → connected → degraded → connected).
The SDK's own log lines go to DEBUG. Slack's routine `disconnect` refreshes are still handled by
the SDK itself; its automatic reconnect is off so that retries follow our backoff.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0       # seconds before the second attempt; doubles up to MAX_RETRY
MAX_RETRY = 60.0
CHECK_EVERY = 2.0       # how often a live connection is checked (no network traffic: the SDK pings)
CONNECT_TIMEOUT = 15.0  # apps.connections.open plus the WebSocket handshake


class _Demoted(logging.LoggerAdapter):
    """The SDK's messages, all at DEBUG: its per-attempt errors would repeat a traceback every
    few seconds during an outage; the state line this module logs says the same thing once."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(logging.DEBUG, msg, *args, **kwargs)


def describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack refused apps.connections.open: {exc.response.get('error')}"
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}".rstrip(": ")[:300]


class SocketModeLink:
    """The Socket Mode connection of one bolt app; `status` is what /readyz reports."""

    def __init__(self, bolt: Any, app_token: str, web_client: Any):
        self.bolt, self.app_token, self.web_client = bolt, app_token, web_client
        self.state, self.reason = "connecting", "not connected yet"
        self._handler: Any = None
        self._task: asyncio.Task | None = None

    @property
    def status(self) -> dict[str, str]:
        return {"state": self.state} if self.state == "connected" else {"state": self.state, "reason": self.reason}

    async def start(self) -> None:
        """Returns at once; connecting happens in a background task of the running loop."""
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        # Created here, in the serving loop (the client opens an aiohttp session). apps.connections.open
        # is called with the app token explicitly, so the bot's web client (and its base URL) serves.
        self._handler = AsyncSocketModeHandler(self.bolt, self.app_token, web_client=self.web_client,
                                               logger=_Demoted(logging.getLogger("slack_sdk.socket_mode"), {}))
        client = self._handler.client
        client.auto_reconnect_enabled = client.default_auto_reconnect_enabled = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="slack-socket-mode")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._handler is not None:
            await self._handler.close_async()

    def _set(self, state: str, reason: str = "") -> None:
        from bot import metrics

        changed = state != self.state
        self.state, self.reason = state, reason
        metrics.slack_reachable(state == "connected")
        if changed and state == "connected":
            log.info("Slack Socket Mode connected")
        elif changed:
            log.warning("Slack Socket Mode %s: %s", state, reason)

    async def _run(self) -> None:
        client = self._handler.client
        delay = FIRST_RETRY
        while True:
            if await client.is_connected():
                self._set("connected")
                delay = FIRST_RETRY
                await asyncio.sleep(CHECK_EVERY)
                continue
            try:  # the SDK retries a failed WebSocket handshake forever inside connect(): bound it
                await asyncio.wait_for(client.connect_to_new_endpoint(), CONNECT_TIMEOUT)
                reason = "" if await client.is_connected() else "the connection closed as soon as it opened"
            except asyncio.TimeoutError:
                reason = f"no WebSocket connection within {CONNECT_TIMEOUT:.0f}s"
            except Exception as exc:  # unreachable, DNS, TLS, a revoked token...: all mean "retry later"
                reason = describe(exc)
            if not reason:
                continue
            log.debug("Slack Socket Mode attempt failed: %s", reason)
            self._set("degraded", f"{reason} (next attempt in {delay:.0f}s)")
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY)
