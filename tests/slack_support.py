"""Shared by the Slack and server tests: signed requests, bolt-python's real payloads adapted to
our ids, a recording Workflow double, and the real aiohttp server over the loopback fake Slack."""
from __future__ import annotations

import pytest

import asyncio
import copy
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp.test_utils import TestClient, TestServer

from bot.remediation import ClickResult, Identity
from bot.settings import Settings
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.surface import MessageRef
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.support import dataset

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALERT_CHANNEL = "C0ALERTS1"
OTHER_CHANNEL = "C0RANDOM1"
WEBHOOK_CHANNEL = "C0WEBHOOK"
TEAM = "T0FAKE001"


def payload(name: str) -> dict:
    """A bolt-python scenario payload (the `payload` wrapped by the dataset importer)."""
    path = dataset("slack", "bolt-python", "tests", "scenario_tests", name)
    return json.loads(path.read_text())["payload"]


def sign(body: str, secret: str = SIGNING_SECRET, ts: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={mac}"}


def slash_body(text: str, *, channel: str = OTHER_CHANNEL, user: str = "U0ALICE", response_url: str) -> str:
    """bolt-python's urlencoded slash-command body with our command, text, ids and response_url."""
    raw = dataset("slack", "bolt-python", "tests", "scenario_tests",
                  "test_slash_command__slash_command_body.urlencoded.txt").read_text().strip()
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    fields.update(command="/diagnose", text=text, channel_id=channel, user_id=user, team_id=TEAM,
                  response_url=response_url)
    return urlencode(fields)


def event_body(name: str, *, channel: str, event_id: str | None = None, **event_changes: Any) -> str:
    body = copy.deepcopy(payload(name))
    body["team_id"] = TEAM
    body["event"]["channel"] = channel
    body["event"].update(event_changes)
    if event_id:
        body["event_id"] = event_id
    return json.dumps(body)


def block_actions_body(action_id: str, value: str, *, channel: str, message: dict, user: str = "U0ALICE",
                       username: str = "alice") -> str:
    """bolt-python's block_actions body: our button, channel, clicked message and clicker."""
    body = copy.deepcopy(payload("test_block_actions__body.json"))
    body["user"].update(id=user, username=username, name=username, team_id=TEAM)
    body["team"]["id"] = TEAM
    body["channel"]["id"] = channel
    body["container"].update(channel_id=channel, message_ts=message["ts"], is_ephemeral=False)
    if message.get("thread_ts"):
        body["container"]["thread_ts"] = message["thread_ts"]
    body["message"] = message
    body["actions"][0].update(action_id=action_id, value=value, block_id=f"proposal_actions:{value.split('|')[0]}")
    return urlencode({"payload": json.dumps(body)})


@dataclass
class RecordingWorkflow:
    """The Workflow's surface-facing methods, recording their calls. `command_reply` is what
    on_command returns; `delay` makes every method slow; on_click approves for `approvers` (by
    user id or Slack group) through the real SlackSurface and tells everyone else ephemerally."""

    surfaces: dict[str, Any]
    command_reply: str | None = None
    delay: float = 0.0
    approvers: set[str] = field(default_factory=set)
    alert_result: list[str] = field(default_factory=lambda: ["new:INC1:queued"])
    fail: Exception | None = None
    commands: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    clicks: list[dict] = field(default_factory=list)
    views: dict[str, Any] = field(default_factory=dict)  # proposal id -> ProposalView shown on the message
    followups: list[dict] = field(default_factory=list)

    async def _wait(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail

    async def on_command(self, text: str, *, platform: str, channel: str, user: str,
                         request_id: str | None = None) -> str | None:
        self.commands.append({"text": text, "platform": platform, "channel": channel, "user": user,
                              "request_id": request_id, "at": time.monotonic()})
        await self._wait()
        return self.command_reply

    async def on_followup(self, question: str, *, platform: str, channel: str, thread: str, user: str,
                          message_id: str):
        """No thread is a diagnosis thread here: the app goes on as for any other mention."""
        from bot.workflow.followup import FollowupReply

        self.followups.append({"question": question, "channel": channel, "thread": thread, "user": user,
                               "message_id": message_id})
        return FollowupReply(False)

    async def on_alert_group(self, group, *, platform: str, channel: str, thread: str | None, source: str,
                             actor: str = "alertmanager") -> list[str]:
        self.alerts.append({"group": group, "platform": platform, "channel": channel, "thread": thread,
                            "source": source, "actor": actor})
        await self._wait()
        return list(self.alert_result)

    async def on_click(self, *, platform: str, channel: str, message: MessageRef, proposal_id: str, token: str,
                       identity: Identity, decision: str) -> ClickResult:
        self.clicks.append({"platform": platform, "channel": channel, "message": message,
                            "proposal_id": proposal_id, "token": token, "identity": identity, "decision": decision})
        await self._wait()
        surface = self.surfaces[platform]
        allowed = identity.user_id in self.approvers or bool(set(identity.groups) & self.approvers)
        if not allowed:
            text = f"{identity.label} is not an allowed approver for this action"
            await surface.ephemeral(channel, identity.user_id, text, thread=message.thread)
            return ClickResult(False, "denied", text)
        from dataclasses import replace

        view = self.views[proposal_id]
        done = replace(view, state="succeeded" if decision == "approve" else "rejected", offerable=False, token="",
                       approvers=(identity.key,) if decision == "approve" else (), reason=None)
        note = f"{identity.display or identity.user_id} {'approved; executed' if decision == 'approve' else 'rejected'}"
        await surface.update_proposal(message, done, note)
        return ClickResult(True, "executed" if decision == "approve" else "rejected", note, view=done)


def settings(**over: Any) -> Settings:
    base = dict(slack_bot_token=DEFAULT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                slack_alert_channels=ALERT_CHANNEL, slack_alerts_channel=WEBHOOK_CHANNEL,
                alertmanager_webhook_token="am-secret-token")
    base.update(over)
    return Settings(_env_file=None, **{k: v for k, v in base.items() if v is not None})


class Harness:
    """The real server (build_app) on a loopback port, over the fake Slack Web API."""

    def __init__(self, fake: FakeSlack, workflow: RecordingWorkflow, client: TestClient):
        self.fake, self.workflow, self.client = fake, workflow, client

    async def post_slack(self, body: str, content_type: str, headers: dict[str, str] | None = None):
        hdrs = {"Content-Type": content_type, **(headers if headers is not None else sign(body))}
        return await self.client.post("/slack/events", data=body.encode(), headers=hdrs)

    async def event(self, body: str):
        return await self.post_slack(body, "application/json")

    async def form(self, body: str, headers: dict[str, str] | None = None):
        return await self.post_slack(body, "application/x-www-form-urlencoded", headers)


async def start_harness(fake: FakeSlack, workflow_kw: dict | None = None, settings_kw: dict | None = None,
                        workflow: Any = None, **app_kw: Any):
    """The server over `workflow`, by default a RecordingWorkflow (made with `workflow_kw`)."""
    from bot.server import build_app

    for ch in (ALERT_CHANNEL, OTHER_CHANNEL, WEBHOOK_CHANNEL):
        fake.add_channel(ch)
    if workflow is None:
        workflow = RecordingWorkflow({"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake.url))},
                                     **(workflow_kw or {}))
    app = build_app(settings(**(settings_kw or {})), workflow, **app_kw)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return Harness(fake, workflow, client)


async def eventually(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


# Shared fixtures: the fake Slack Web API, and the real server over a recording workflow.
@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture
async def h(fake):
    harness = await start_harness(fake)
    yield harness
    await harness.client.close()
