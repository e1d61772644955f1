"""Approve/reject clicks from Teams through the real policy, executor and fake cluster: the
`adaptiveCard/action` invoke (Action.Execute) is answered with the refreshed card (and the card
is updated in place for everyone, PUT), a refusal reaches only the clicker (invoke message), an
Action.Submit click works the same with a thread @mention for refusals, approver groups come
from Microsoft Graph (cached; an outage denies), and a process that did not post the card
rebuilds it from the database. Recorded Teams click activities are replayed (datasets optional)."""
from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from agents.diagnosis import Diagnosis, Evidence, ProposedAction
from bot.db import transaction
from bot.models import Approval, Diagnosis as DiagnosisRow
from bot.remediation import propose
from bot.teams.cards import CONTENT_TYPE, VERB_APPROVE, VERB_REJECT
from bot.workflow.expiry import remember_messages
from bot.workflow.surface import DiagnosisPost
from tests.actions_support import NS, executor, objects
from tests.remediation_support import Controller, real_writes, seed
from tests.teams_support import (ALICE, BOB, EVE, OPS, TENANT, as_ours, card_of, fake_teams, find_button,  # noqa: F401
                                 installed, invoke, recorded, sqlite_factory, start, submit, teams_surface, texts,
                                 workflow)
from tools.k8s import FakeKubeAPI

GROUP_ID = "9e1f3c55-0d4a-4c2e-8f61-5b7a2d0c1e99"
CAROL = {"id": "29:1CarolTeamsId-Qa8", "name": "Carol Diaz", "aadObjectId": "ca201000-0000-4000-8000-000000000004"}
MESSAGE = "application/vnd.microsoft.activity.message"


@pytest.fixture
def cluster():
    with FakeKubeAPI(objects()) as fake, Controller(fake):
        yield fake


@pytest.fixture
async def h(fake_teams, sqlite_factory, cluster):  # noqa: F811
    wf = workflow(fake_teams, sqlite_factory, executor=executor(cluster),
                  approvers=(f"teams:{BOB['aadObjectId']}", f"teams-group:{GROUP_ID}"))
    harness = await start(fake_teams, wf)
    await harness.post(installed(OPS, service_url=fake_teams.url))
    await harness.settle()
    yield harness
    await harness.client.close()


async def post_proposal(h, replicas: int = 6) -> tuple[dict, str, str]:
    """A recorded diagnosis with a scale proposal, posted in a new OPS thread as the workflow posts it:
    (the card with its activity id, the proposal id, the thread's root id)."""
    factory = h.workflow.factory
    inc, diag = seed(factory)
    d = Diagnosis(category="traffic_spike", component="cart", summary="Load tripled; cart needs more replicas.",
                  confidence=0.8, evidence=[Evidence(tool="k8s_deployments", query="namespace=shop name=cart",
                                                     finding="3/3 replicas busy, p99 latency tripled")])
    with transaction(factory) as s:
        s.get(DiagnosisRow, diag).document = d.model_dump(mode="json")
    [view] = await propose(factory, h.workflow.executor, inc, diag,
                           [ProposedAction(action_type="scale_deployment", target="cart", namespace=NS,
                                           parameters={"replicas": replicas})],
                           "teams:" + ALICE["aadObjectId"], (NS,), policy=h.workflow.policy, signer=h.workflow.signer)
    assert view.offerable, view.reason
    surface = h.workflow.surfaces["teams"]
    root = await surface.post_text(OPS, "KubeDeploymentSaturated shop/cart firing")
    ref = await surface.post_diagnosis(OPS, root.ts, DiagnosisPost(inc, "session-1", d, [view]))
    await asyncio.to_thread(remember_messages, factory, [view.proposal_id], "teams", ref)
    return card_of(h.fake.activity(ref.ts)), view.proposal_id, root.ts


async def click(h, card, verb, sender, root, how=invoke):
    resp = await h.post(how(card, verb, service_url=h.fake.url, sender=sender, conversation=OPS, root=root))
    assert resp.status == 200
    body = await resp.json() if how is invoke else None
    await h.settle()
    return body


def _scales(cluster) -> list[dict]:
    return [r for r in real_writes(cluster) if r["path"].endswith("/deployments/cart/scale")]


async def test_invoke_click_approves_refreshes_the_card_and_tells_refusals_privately(h, cluster):
    card, pid, root = await post_proposal(h)
    eve = await click(h, card, VERB_APPROVE, EVE, root)
    assert eve["type"] == MESSAGE and "is not an allowed approver for MEDIUM actions" in eve["value"]
    assert h.fake.calls("connector.update") == [] and _scales(cluster) == []
    assert len(h.fake.posted(OPS)) == 2  # nothing said in the channel: the refusal reached Eve only

    bob = await click(h, card, VERB_APPROVE, BOB, root)
    assert bob["statusCode"] == 200 and bob["type"] == CONTENT_TYPE
    shown = texts(bob["value"])
    assert "Executed and verified" in shown and "Bob Ruiz approved; executed" in shown
    assert "Awaiting approval" not in shown and VERB_APPROVE not in json.dumps(bob["value"])  # no buttons left
    [update] = h.fake.calls("connector.update")
    assert update.path.endswith(f"/activities/{card['activity_id']}")
    assert h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"] == bob["value"]
    assert len(_scales(cluster)) == 1
    with h.workflow.factory() as s:
        [vote] = s.execute(select(Approval)).scalars().all()
    assert (vote.platform, vote.approver, vote.decision) == ("teams", BOB["aadObjectId"], "approve")

    again = await click(h, card, VERB_APPROVE, BOB, root)  # a replayed click
    assert again["type"] == MESSAGE and "already succeeded" in again["value"] and len(_scales(cluster)) == 1


async def test_action_submit_click_and_its_refusal_as_a_thread_mention(h, cluster):
    card, pid, root = await post_proposal(h)
    await click(h, card, VERB_APPROVE, EVE, root, how=submit)
    [note] = [p for p in h.fake.thread(OPS, root) if p.activity.get("entities")]
    assert note.activity["text"].startswith("<at>Eve Ito</at> ") and "not an allowed approver" in note.activity["text"]
    assert note.activity["entities"][0]["mentioned"] == {"id": EVE["id"], "name": "Eve Ito"}
    await click(h, card, VERB_REJECT, BOB, root, how=submit)
    refreshed = h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"]
    assert "Rejected" in texts(refreshed) and _scales(cluster) == []


async def test_approver_groups_come_from_graph_cached_and_an_outage_denies(h, cluster):
    h.fake.memberships[CAROL["aadObjectId"]] = {GROUP_ID, "unrelated-group"}
    card, pid, root = await post_proposal(h)
    h.fake.fail("graph", 503)
    denied = await click(h, card, VERB_APPROVE, CAROL, root)  # Graph down: no groups, no approval
    assert "not an allowed approver" in denied["value"] and _scales(cluster) == []
    ok = await click(h, card, VERB_APPROVE, CAROL, root)
    assert ok["type"] == CONTENT_TYPE and len(_scales(cluster)) == 1
    graph = h.fake.calls("graph")
    assert [c.status for c in graph] == [503, 200] and graph[-1].body == {"groupIds": [GROUP_ID]}
    assert graph[-1].path == f"/v1.0/users/{CAROL['aadObjectId']}/checkMemberGroups"
    tokens = [c for c in h.fake.calls("token") if c.path.endswith("/token")]
    assert any(c.body["scope"] == "https://graph.microsoft.com/.default" and c.path.startswith(f"/{TENANT}/")
               for c in tokens)  # a Graph token of the user's tenant
    card2, _, root2 = await post_proposal(h, replicas=7)
    await click(h, card2, VERB_REJECT, CAROL, root2)
    assert len(h.fake.calls("graph")) == 2  # the membership is cached


async def test_a_clicker_without_an_entra_id_is_told_why(h, cluster):
    card, pid, root = await post_proposal(h)
    anonymous = {"id": "29:1GuestNoAad", "name": "Guest"}
    body = await click(h, card, VERB_APPROVE, anonymous, root)
    assert body["type"] == MESSAGE and "no Entra object id" in body["value"] and _scales(cluster) == []


async def test_a_process_that_did_not_post_the_card_rebuilds_it_from_the_database(h, cluster, fake_teams):  # noqa: F811
    card, pid, root = await post_proposal(h)
    fresh = teams_surface(fake_teams, h.workflow.factory, h.workflow.signer)  # a restarted process's memory
    h.workflow.surfaces["teams"] = fresh
    h.bot.surface = fresh
    bob = await click(h, card, VERB_APPROVE, BOB, root)
    shown = texts(bob["value"])
    assert "Executed and verified" in shown and "Load tripled" in shown and "3/3 replicas busy" in shown
    assert h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"] == bob["value"]


async def test_a_slow_click_is_answered_in_time_and_finishes_in_place(h, cluster):
    card, pid, root = await post_proposal(h)
    h.bot.click_wait = 0.0  # the executor takes longer than Teams waits for an invoke
    body = await click(h, card, VERB_APPROVE, BOB, root)
    assert body["type"] == MESSAGE and "Working on it" in body["value"]
    refreshed = h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"]
    assert "Executed and verified" in texts(refreshed) and len(_scales(cluster)) == 1


async def test_recorded_universal_action_invoke_and_action_submit(h, cluster):
    """teams.net's `adaptiveCard/action` invoke and botbuilder-js' Action.Submit message, carrying our
    buttons' data: the invoke approves (one MEDIUM approver suffices), the replayed submit is refused."""
    card, pid, root = await post_proposal(h)
    act = as_ours(recorded("TeamsActivityTests__jsonInvoke.json"), h.fake.url)
    their = await h.post(act)  # their own button's data is not one of ours
    assert (await their.json())["statusCode"] == 400
    button = find_button(card, VERB_APPROVE)
    act["value"]["action"].update(verb=VERB_APPROVE, data=button["data"])
    act.update({"from": dict(BOB), "replyToId": card["activity_id"]})
    act["conversation"] = {"id": f"{OPS};messageid={root}", "conversationType": "channel", "isGroup": True}
    body = await (await h.post(act)).json()
    await h.settle()
    assert body["type"] == CONTENT_TYPE and "Executed and verified" in texts(body["value"])

    sub = as_ours(recorded("20191020020633146"), h.fake.url, conversation=OPS)
    sub.update({"from": dict(BOB), "replyToId": card["activity_id"], "value": button["fallback"]["data"]})
    sub["conversation"]["id"] = f"{OPS};messageid={root}"
    assert (await h.post(sub)).status == 200
    await h.settle()
    [note] = [p for p in h.fake.thread(OPS, root) if p.activity.get("entities")]
    assert "already succeeded" in note.activity["text"] and len(_scales(cluster)) == 1


async def test_recorded_legacy_invoke_without_a_name_is_refused(h):
    act = as_ours(recorded("20191020020654953"), h.fake.url, conversation=OPS)
    resp = await h.post(act)
    assert resp.status == 400 and "invoke 'None' is not one this bot handles" in (await resp.json())["error"]


async def test_expiry_edits_the_card_from_a_process_that_did_not_post_it(h, cluster, fake_teams):  # noqa: F811
    from datetime import datetime, timedelta, timezone

    from bot.workflow.expiry import expire_and_update

    card, pid, root = await post_proposal(h)
    fresh = teams_surface(fake_teams, h.workflow.factory, h.workflow.signer)  # e.g. a worker after a restart
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert await expire_and_update(h.workflow.factory, {"teams": fresh}, h.workflow.signer, later) == [pid]
    [update] = h.fake.calls("connector.update")
    assert update.path.endswith(f"/activities/{card['activity_id']}")
    shown = texts(h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"])
    assert "Expired" in shown and "Load tripled" in shown and "Awaiting approval" not in shown
