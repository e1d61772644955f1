"""Socket Mode never holds up the HTTP server: with Slack unreachable, /alertmanager, /healthz and
/readyz serve at once; /readyz says Slack is degraded (and why) with a 200 while the database is
fine; each state change is one log line, however many attempts fail, and no traceback repeats."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from bot.server import build_app
from bot.slack import socket_mode
from tests.slack_support import RecordingWorkflow, eventually, settings
from tests.support import dataset, free_port

APP_TOKEN = "xapp-1-A0FAKE-1-secret"
BEARER = {"Authorization": "Bearer am-secret-token"}


@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite database: /readyz needs one; which backend does not matter here."""
    from bot import migrate
    from bot.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'chatops.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(socket_mode, "FIRST_RETRY", 0.05)
    monkeypatch.setattr(socket_mode, "MAX_RETRY", 0.2)
    monkeypatch.setattr(socket_mode, "CHECK_EVERY", 0.05)
    monkeypatch.setattr(socket_mode, "CONNECT_TIMEOUT", 5.0)


def state_lines(caplog) -> list[str]:  # noqa: ANN001
    return [r.getMessage() for r in caplog.records if r.name == socket_mode.__name__ and r.levelno >= logging.INFO]


def attempts(caplog) -> int:  # noqa: ANN001
    return sum("attempt failed" in r.getMessage() for r in caplog.records if r.name == socket_mode.__name__)


async def test_unreachable_slack_leaves_the_webhook_and_probes_serving(engine, caplog):
    caplog.set_level(logging.DEBUG)
    closed = free_port()  # nothing listens here: every connection is refused
    workflow = RecordingWorkflow({})
    app = build_app(settings(slack_signing_secret=None, slack_app_token=APP_TOKEN,
                             slack_api_url=f"http://127.0.0.1:{closed}/api/"), workflow, engine=engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    started = time.monotonic()
    await asyncio.wait_for(client.start_server(), 5)  # used to wait forever for Slack
    try:
        assert time.monotonic() - started < 2.0
        assert (await client.get("/healthz")).status == 200
        body = dataset("alertmanager", "prometheus-msteams", "alert", "testdata",
                       "prom_post_request_2_alerts.json").read_bytes()
        resp = await client.post("/alertmanager", data=body, headers=BEARER)
        assert resp.status == 200 and len(workflow.alerts) == 1

        assert await eventually(lambda: attempts(caplog) >= 3, 20), "retries keep going in the background"
        resp = await client.get("/readyz")
        ready = await resp.json()
        assert resp.status == 200 and ready["ready"] is True  # the database is fine: still in rotation
        assert ready["slack"]["state"] == "degraded"
        assert "ClientConnectorError" in ready["slack"]["reason"] and str(closed) in ready["slack"]["reason"]
        lines = state_lines(caplog)
        assert len(lines) == 1 and lines[0].startswith("Slack Socket Mode degraded: ClientConnectorError")
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.getMessage() for r in loud] == lines  # one line for several failed attempts
        assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]
    finally:
        await client.close()


class FlakySlack:
    """apps.connections.open and the Socket Mode WebSocket; `down()` closes the sockets and makes
    apps.connections.open fail until `up()`."""

    def __init__(self) -> None:
        self.available = True
        self.opened = 0
        self.sockets: set[web.WebSocketResponse] = set()
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self.open)
        app.router.add_get("/link", self.link)
        self.server = TestServer(app, host="127.0.0.1")

    async def open(self, request: web.Request) -> web.Response:
        if not self.available:
            return web.json_response({"ok": False, "error": "service_unavailable"})
        self.opened += 1
        return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.server.port}/link"})

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)
        await ws.send_json({"type": "hello", "num_connections": 1})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
        self.sockets.discard(ws)
        return ws

    async def down(self) -> None:
        self.available = False
        for ws in list(self.sockets):
            await ws.close()

    def up(self) -> None:
        self.available = True


async def test_one_log_line_per_state_change_connected_degraded_connected(engine, caplog):
    caplog.set_level(logging.DEBUG)
    slack = FlakySlack()
    await slack.server.start_server()
    app = build_app(settings(slack_signing_secret=None, slack_app_token=APP_TOKEN,
                             slack_api_url=str(slack.server.make_url("/api/"))), RecordingWorkflow({}), engine=engine)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        async def slack_state() -> dict:
            return (await (await client.get("/readyz")).json())["slack"]

        assert await eventually(lambda: state_lines(caplog) == ["Slack Socket Mode connected"], 10)
        assert await slack_state() == {"state": "connected"}

        await slack.down()
        assert await eventually(lambda: attempts(caplog) >= 3, 10)
        status = await slack_state()
        assert status["state"] == "degraded" and "service_unavailable" in status["reason"]
        assert (await client.get("/readyz")).status == 200

        slack.up()
        assert await eventually(lambda: len(state_lines(caplog)) == 3, 10)
        lines = state_lines(caplog)
        assert lines[0] == lines[2] == "Slack Socket Mode connected"
        assert lines[1].startswith("Slack Socket Mode degraded: Slack refused apps.connections.open: "
                                   "service_unavailable")
        assert await slack_state() == {"state": "connected"} and slack.opened == 2
        assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]
    finally:
        await client.close()
        await slack.server.close()
