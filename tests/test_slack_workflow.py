"""The Slack surface on the real Workflow: an Alertmanager webhook for a replayed incident is
posted, diagnosed in its thread with buttons, and approved through a signed button click; the
fake cluster is changed only after the allowed approver's click."""
from __future__ import annotations

import copy
import json

import pytest

from agents.session import EngineSettings
from bot.remediation import ApprovalPolicy, Signer
from bot.server import build_app
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.service import Workflow
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.remediation_support import audit_events
from tests.slack_support import TEAM, WEBHOOK_CHANNEL, Harness, block_actions_body, eventually, settings
from tests.support import REPO, need
from tools.actions import ActionExecutor
from tools.k8s import make_api_client
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"


@pytest.fixture
async def stack(migrated):
    from aiohttp.test_utils import TestClient, TestServer

    from tools.prometheus.server import prometheus_binaries

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    _, factory = migrated
    scenario = load_scenario(BUNDLE)
    with FakeSlack() as fake, ScenarioBackends(scenario) as backends:
        fake.add_channel(WEBHOOK_CHANNEL)
        backends.kube.simulate_controllers(0)
        surface = SlackSurface(make_client(DEFAULT_TOKEN, fake.url))

        async def sources():
            return backends.sources()

        executor = ActionExecutor(make_api_client(host=backends.config.kube_host), backends.ctx, verify_timeout=10,
                                  poll_interval=0.2)
        wf = Workflow(factory, {"slack": surface}, sources, EngineSettings(engine="offline"), executor,
                      concurrency=2, policy=ApprovalPolicy.build(medium=["slack:U0BOB"]),
                      signer=Signer(b"0123456789abcdef0123456789abcdef"), alert_channel={"slack": WEBHOOK_CHANNEL})
        client = TestClient(TestServer(build_app(settings(), wf), host="127.0.0.1"))
        await client.start_server()
        try:
            yield Harness(fake, wf, client), scenario
        finally:
            await client.close()


async def test_webhook_alert_to_approved_action_in_slack(stack):
    h, scenario = stack
    fake = h.fake
    alert = copy.deepcopy(scenario.alert)
    alert["status"] = "firing"
    body = json.dumps({"version": "4", "status": "firing", "receiver": "chatops", "groupKey": "{}:{}",
                       "alerts": [alert]})
    resp = await h.client.post("/alertmanager", data=body, headers={"Authorization": "Bearer am-secret-token"})
    assert resp.status == 200
    [status] = (await resp.json())["results"]
    assert status.startswith("new:")
    await h.workflow.drain(90)

    root = fake.messages(WEBHOOK_CHANNEL)[0]
    assert "KubePodCrashLooping" in root["text"] and "thread_ts" in root  # the alert, with a thread under it
    thread = fake.thread(WEBHOOK_CHANNEL, root["ts"])
    diagnosis = next(m for m in thread if m.get("blocks") and m["blocks"][0]["type"] == "header")
    assert diagnosis["blocks"][0]["text"]["text"].startswith("Diagnosis: OOM killed · cart")
    [up] = fake.uploads.values()
    assert up.completed and up.thread_ts == root["ts"] and up.data[:8] == b"\x89PNG\r\n\x1a\n"
    actions = [b for b in diagnosis["blocks"] if b["type"] == "actions"]
    assert actions, "an offerable proposal has buttons"
    approve = next(e for e in actions[0]["elements"] if e["action_id"] == "proposal_approve")
    assert "Risk MEDIUM" in approve["confirm"]["text"]["text"]
    proposal_id = approve["value"].split("|")[0]

    # Eve is not an approver: she is told so privately and nothing changes
    await h.form(block_actions_body("proposal_approve", approve["value"], channel=WEBHOOK_CHANNEL,
                                    message=diagnosis, user="U0EVE", username="eve"))
    assert await eventually(lambda: fake.ephemerals, 10)
    assert fake.ephemerals[-1]["user"] == "U0EVE" and "not an allowed approver" in fake.ephemerals[-1]["text"]
    assert not fake.calls("chat.update") or all(
        "proposal_note" not in json.dumps(c.arg("blocks")) for c in fake.calls("chat.update"))

    # Bob's id clicking from another organisation's workspace (Slack Connect) executes nothing; audited
    elsewhere = block_actions_body("proposal_approve", approve["value"], channel=WEBHOOK_CHANNEL,
                                   message=diagnosis, user="U0BOB", username="bob").replace(TEAM, "T0THEIRS01")
    await h.form(elsewhere)
    assert await eventually(lambda: len(fake.ephemerals) == 2, 10)
    assert fake.ephemerals[-1]["user"] == "U0BOB" and "came from another one" in fake.ephemerals[-1]["text"]
    denied = audit_events(h.workflow.factory, "approval.denied")[-1]
    assert (denied["actor"], denied["subject"], denied["payload"]["kind"]) == \
        ("slack:U0BOB", f"proposal/{proposal_id}", "other_workspace")

    # Bob is: the action runs on the fake cluster and the message says who approved it and what happened
    await h.form(block_actions_body("proposal_approve", approve["value"], channel=WEBHOOK_CHANNEL,
                                    message=diagnosis, user="U0BOB", username="bob"))

    def updated():
        msg = next(m for m in fake.messages(WEBHOOK_CHANNEL) if m["ts"] == diagnosis["ts"])
        return any(b.get("block_id") == f"proposal_note:{proposal_id}" for b in msg.get("blocks", []))

    assert await eventually(updated, 30)
    msg = next(m for m in fake.messages(WEBHOOK_CHANNEL) if m["ts"] == diagnosis["ts"])
    note = next(b for b in msg["blocks"] if b.get("block_id") == f"proposal_note:{proposal_id}")
    assert note["elements"][0]["text"].startswith("bob approved")
    assert f"proposal_actions:{proposal_id}" not in [b.get("block_id") for b in msg["blocks"]]
    section = next(b for b in msg["blocks"] if b.get("block_id") == f"proposal:{proposal_id}")["text"]["text"]
    assert "Executed and verified" in section and "Approved by <@U0BOB>" in section
    # the undo is offered as a new message in the thread, with its own buttons
    def undo_message():
        return next((m for m in fake.thread(WEBHOOK_CHANNEL, root["ts"]) if m.get("blocks")
                     and m["blocks"][0].get("block_id") == "proposal_intro"), None)

    assert await eventually(undo_message, 10)  # posted right after the update
    undo = undo_message()
    assert "Undo available" in undo["blocks"][0]["text"]["text"] and undo["blocks"][-1]["type"] == "actions"

    # a replayed click (same token) is refused privately
    await h.form(block_actions_body("proposal_approve", approve["value"], channel=WEBHOOK_CHANNEL,
                                    message=diagnosis, user="U0BOB", username="bob"))
    assert await eventually(lambda: len(fake.ephemerals) == 3, 10)
    assert fake.ephemerals[-1]["user"] == "U0BOB" and "already succeeded" in fake.ephemerals[-1]["text"]
