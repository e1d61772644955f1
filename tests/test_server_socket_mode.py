"""Socket Mode: with SLACK_APP_TOKEN the server opens Slack's WebSocket itself (no public URL).

A loopback stand-in for Slack serves apps.connections.open (answering with a ws:// URL on
itself), auth.test, and the WebSocket; it pushes a slash-command envelope as Slack does and
expects the envelope to be acknowledged over the socket.
"""
from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from bot.server import build_app
from tests.slack_support import RecordingWorkflow, payload, settings

APP_TOKEN = "xapp-1-A0FAKE-1-secret"


class SocketSlack:
    def __init__(self) -> None:
        # Read the dataset payload here, in the test: a skip raised inside the WebSocket handler would
        # only end the handler, and the test would wait out its timeout instead of skipping.
        self.command = dict(payload("test_slash_command__slash_command_body.parsed.json"),
                            command="/diagnose", text="shop/cart", channel_id="C0SOCKET", user_id="U0ALICE")
        self.acks: asyncio.Queue = asyncio.Queue()
        self.opened_with: list[str] = []
        self.app = web.Application()
        self.app.router.add_post("/api/apps.connections.open", self.open)
        self.app.router.add_post("/api/auth.test", self.auth_test)
        self.app.router.add_get("/link", self.link)
        self.server = TestServer(self.app, host="127.0.0.1")

    async def open(self, request: web.Request) -> web.Response:
        self.opened_with.append(request.headers.get("Authorization", ""))
        return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.server.port}/link"})

    async def auth_test(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "team_id": "T0FAKE001", "user_id": "U0FAKEBOT", "bot_id": "B0FAKEBOT",
                                  "url": "https://fake.slack.com/", "team": "Fake", "user": "chatops-bot"})

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600}})
        await ws.send_json({"envelope_id": "env-1", "type": "slash_commands", "payload": self.command,
                            "accepts_response_payload": True})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await self.acks.put(json.loads(msg.data))
        return ws


async def test_socket_mode_receives_and_acks_a_slash_command():
    slack = SocketSlack()
    await slack.server.start_server()
    workflow = RecordingWorkflow({})
    s = settings(slack_signing_secret=None, slack_app_token=APP_TOKEN,
                 slack_api_url=str(slack.server.make_url("/api/")), slack_alerts_channel=None,
                 alertmanager_webhook_token=None)
    app = build_app(s, workflow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()  # runs the cleanup_ctx startup: the socket connects
    try:
        ack = await asyncio.wait_for(slack.acks.get(), 10)
        assert ack["envelope_id"] == "env-1"
        assert slack.opened_with == [f"Bearer {APP_TOKEN}"]  # the app-level token opened the socket
        for _ in range(100):
            if workflow.commands:
                break
            await asyncio.sleep(0.05)
        assert [(c["text"], c["channel"], c["user"]) for c in workflow.commands] == [("shop/cart", "C0SOCKET",
                                                                                     "U0ALICE")]
    finally:
        await server.close()
        await slack.server.close()
