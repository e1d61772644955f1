"""One policy across platforms, on the real Workflow with both surfaces and a replayed incident's
fake cluster: a CRITICAL proposal (RISK_OVERRIDES shop=CRITICAL, two distinct approvers) approved
once from Slack (bolt over the fake Slack) and once from Teams (an Action.Execute invoke) executes
exactly once; the approvals are stored and shown with their platform, in the console too."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from sqlalchemy import select

from agents.session import EngineSettings
from bot import audit
from bot.console.render import allowed_line
from bot.models import Approval
from bot.remediation import ApprovalPolicy, Signer, get_view
from bot.slack.surface import SlackSurface, make_client
from bot.teams.cards import CONTENT_TYPE, VERB_APPROVE
from bot.workflow.service import Workflow
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.slack_support import SIGNING_SECRET, WEBHOOK_CHANNEL, block_actions_body, eventually, sign
from tests.support import REPO, need
from tests.teams_support import (BOB, OPS, SIGNER_KEY, card_of, fake_teams, installed, invoke,  # noqa: F401
                                 start, teams_surface, texts)
from tools.actions import ActionExecutor
from tools.k8s import make_api_client
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"
SLACK_BOB = "U0BOB"


@pytest.fixture
async def stack(migrated, fake_teams):  # noqa: F811
    from tools.prometheus.server import prometheus_binaries

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    _, factory = migrated
    scenario = load_scenario(BUNDLE)
    with FakeSlack() as slack, ScenarioBackends(scenario) as backends:
        slack.add_channel(WEBHOOK_CHANNEL)
        backends.kube.simulate_controllers(0)
        signer = Signer(SIGNER_KEY)

        async def sources():
            return backends.sources()

        executor = ActionExecutor(make_api_client(host=backends.config.kube_host), backends.ctx, verify_timeout=10,
                                  poll_interval=0.2)
        policy = ApprovalPolicy.build(critical=[f"slack:{SLACK_BOB}", f"teams:{BOB['aadObjectId']}"],
                                      risk_overrides=["shop=CRITICAL"])
        wf = Workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, slack.url)),
                                "teams": teams_surface(fake_teams, factory, signer)},
                      sources, EngineSettings(engine="offline"), executor, concurrency=2, policy=policy, signer=signer,
                      risk_overrides=dict(policy.risk_overrides))
        h = await start(fake_teams, wf, slack_bot_token=DEFAULT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                        slack_api_url=slack.url, slack_alerts_channel=WEBHOOK_CHANNEL,
                        alertmanager_webhook_token="am-token", teams_alert_channels="")
        try:
            yield h, slack, scenario, backends
        finally:
            await h.client.close()


def _writes(backends) -> list[dict]:
    return [r for r in backends.kube.requests if r["method"] != "GET" and r["query"].get("dryRun") != "All"]


async def test_two_person_rule_met_by_a_slack_and_a_teams_approver(stack):
    h, slack, scenario, backends = stack
    alert = copy.deepcopy(scenario.alert)
    body = json.dumps({"version": "4", "status": "firing", "receiver": "chatops", "alerts": [alert]})
    assert (await h.client.post("/alertmanager", data=body, headers={"Authorization": "Bearer am-token"})).status == 200
    await h.workflow.drain(90)
    diagnosis = next(m for m in slack.messages(WEBHOOK_CHANNEL) if m.get("blocks")
                     and m["blocks"][0]["type"] == "header")
    approve = next(e for b in diagnosis["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "proposal_approve")
    proposal_id = approve["value"].split("|")[0]
    assert "Risk CRITICAL" in approve["confirm"]["text"]["text"]

    # Slack: Bob's approval is one of the two needed; nothing runs yet
    form = block_actions_body("proposal_approve", approve["value"], channel=WEBHOOK_CHANNEL, message=diagnosis,
                              user=SLACK_BOB, username="bob")
    resp = await h.client.post("/slack/events", data=form.encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded", **sign(form)})
    assert resp.status == 200
    view = None

    def recorded_once() -> bool:
        nonlocal view
        view = get_view(h.workflow.factory, proposal_id, h.workflow.signer)
        return view.approvals_received == 1

    assert await eventually(recorded_once, 20)
    assert view.state == "proposed" and _writes(backends) == []
    assert "approved so far by U0BOB (slack)" in allowed_line(view, ["slack:U0BOB"], True)

    # Teams: the same proposal, shown in an ops channel, gets Bob's Teams identity's approval
    await h.post(installed(OPS, service_url=h.fake.url))
    await h.settle()
    ref = await h.workflow.surfaces["teams"].post_proposal(OPS, None, view, "Second approval needed (CRITICAL)")
    card = card_of(h.fake.activity(ref.ts))
    answer = await (await h.post(invoke(card, VERB_APPROVE, service_url=h.fake.url, sender=BOB, conversation=OPS,
                                        root=ref.ts))).json()
    await h.settle()
    assert answer["type"] == CONTENT_TYPE and "Executed and verified" in texts(answer["value"])
    assert len(_writes(backends)) == 1  # executed exactly once, after the second, distinct approver

    with h.workflow.factory() as s:
        votes = sorted((a.platform, a.approver) for a in s.execute(select(Approval)).scalars())
        assert audit.verify(s).ok
    assert votes == [("slack", SLACK_BOB), ("teams", BOB["aadObjectId"])]
    done = get_view(h.workflow.factory, proposal_id, h.workflow.signer)
    assert done.state == "succeeded"
    line = allowed_line(dataclasses.replace(done, approvers=("console:alice", *done.approvers)), [], True)
    assert f"approved so far by alice (console), U0BOB (slack), {BOB['aadObjectId']} (teams)" in line


async def test_the_same_teams_approver_twice_is_still_one_approval(stack):
    h, slack, scenario, backends = stack
    body = json.dumps({"version": "4", "status": "firing", "receiver": "chatops", "alerts": [scenario.alert]})
    await h.client.post("/alertmanager", data=body, headers={"Authorization": "Bearer am-token"})
    await h.workflow.drain(90)
    diagnosis = next(m for m in slack.messages(WEBHOOK_CHANNEL) if m.get("blocks")
                     and m["blocks"][0]["type"] == "header")
    value = next(e["value"] for b in diagnosis["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == "proposal_approve")
    view = get_view(h.workflow.factory, value.split("|")[0], h.workflow.signer)
    await h.post(installed(OPS, service_url=h.fake.url))
    await h.settle()
    ref = await h.workflow.surfaces["teams"].post_proposal(OPS, None, view, "CRITICAL: two approvers")
    card = card_of(h.fake.activity(ref.ts))
    for _ in range(2):
        await h.post(invoke(card, VERB_APPROVE, service_url=h.fake.url, sender=BOB, conversation=OPS, root=ref.ts))
        await h.settle()
    again = get_view(h.workflow.factory, view.proposal_id, h.workflow.signer)
    assert again.approvals_received == 1 and again.state == "proposed" and _writes(backends) == []
