"""Feedback in Teams, end to end through the real server, botbuilder and the loopback fakes: Alice asks
`@chatops diagnose shop/cart`, the real Workflow posts the diagnosis card with "Right cause" / "Wrong
cause" (Action.Execute); the requester, a listed approver and an approver through a Graph group may
answer, anyone else is told privately in the invoke response (audited); a forged token is refused
(audited); "Wrong cause" answers with a form card for the clicker only, whose submit records the
real cause and refreshes the card in place; an older client's Action.Submit works the same; a
process that did not post the card rebuilds it from the database."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.models import AuditEntry, Feedback
from bot.teams.cards import CONTENT_TYPE, VERB_RIGHT, VERB_WRONG
from bot.teams.feedback_cards import VERB_CANCEL, VERB_SUBMIT
from tests.remediation_support import audit_events
from tests.teams_support import (ALICE, APP_ID, BOB, EVE, OPS, activity, card_of, elements, fake_teams,  # noqa: F401
                                 find_button, installed, invoke, start, submit, teams_surface, texts, workflow)

GROUP_ID = "9e1f3c55-0d4a-4c2e-8f61-5b7a2d0c1e99"
CAROL = {"id": "29:1CarolTeamsId-Qa8", "name": "Carol Diaz", "aadObjectId": "ca201000-0000-4000-8000-000000000004"}
MESSAGE = "application/vnd.microsoft.activity.message"


@pytest.fixture
async def h(fake_teams, migrated):  # noqa: F811
    _, factory = migrated
    wf = workflow(fake_teams, factory, approvers=(f"teams:{BOB['aadObjectId']}", f"teams-group:{GROUP_ID}"))
    harness = await start(fake_teams, wf)
    await harness.post(installed(OPS, service_url=fake_teams.url))
    await harness.settle()
    yield harness
    await harness.client.close()
    await wf.stop(0)


async def diagnosed(h) -> tuple[dict, str]:
    """Alice's `diagnose shop/cart` in OPS, answered in its reply chain: (the diagnosis card, the root id)."""
    ask = activity(OPS, service_url=h.fake.url, sender=ALICE, text="diagnose shop/cart", mention=True)
    assert (await h.post(ask)).status == 200
    await h.settle()
    [posted] = [p for p in h.fake.thread(OPS, ask["id"])
                if any(e.get("verb") == VERB_RIGHT for e in elements(p.activity))]
    return card_of(posted), ask["id"]


async def press(h, card, verb, sender, root, how=invoke, data=None):
    kw = {"data": data} if data is not None else {}
    resp = await h.post(how(card, verb, service_url=h.fake.url, sender=sender, conversation=OPS, root=root, **kw))
    assert resp.status == 200
    body = await resp.json() if how is invoke else None
    await h.settle()
    return body


def updates(h, card) -> list:
    """Updates of the diagnosis card (progress cards are updated too)."""
    return [c for c in h.fake.calls("connector.update") if c.path.endswith(f"/activities/{card['activity_id']}")]


def shown(h, card) -> str:
    return texts(h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"])


def stored(h) -> list[tuple]:
    with h.workflow.factory() as s:
        return [(r.actor, r.verdict, r.category, r.note) for r in s.execute(select(Feedback).order_by(Feedback.id))
                .scalars()]


async def test_requester_and_approvers_answer_others_are_refused_privately(h):
    h.fake.memberships[CAROL["aadObjectId"]] = {GROUP_ID}
    card, root = await diagnosed(h)
    assert "Was this the right cause?" in texts(card)
    eve = await press(h, card, VERB_RIGHT, EVE, root)
    assert eve["type"] == MESSAGE and "may not give feedback on this diagnosis" in eve["value"]
    assert updates(h, card) == [] and stored(h) == []

    alice = await press(h, card, VERB_RIGHT, ALICE, root)  # she asked for it
    assert alice["type"] == CONTENT_TYPE and f"✓ Right cause — teams:{ALICE['aadObjectId']}" in texts(alice["value"])
    assert len(updates(h, card)) == 1
    assert h.fake.activity(card["activity_id"]).activity["attachments"][0]["content"] == alice["value"]
    carol = await press(h, card, VERB_RIGHT, CAROL, root)  # an approver through her Graph group
    assert carol["type"] == CONTENT_TYPE and CAROL["aadObjectId"] in texts(carol["value"])
    assert stored(h) == [(f"teams:{ALICE['aadObjectId']}", "right", None, None),
                         (f"teams:{CAROL['aadObjectId']}", "right", None, None)]
    assert [e["actor"] for e in audit_events(h.workflow.factory, "feedback.denied")] == [f"teams:{EVE['aadObjectId']}"]
    with h.workflow.factory() as s:  # audited with the platform the click came from
        assert set(s.execute(select(AuditEntry.platform).where(AuditEntry.event == "feedback.recorded")).scalars()) \
            == {"teams"}


async def test_clicks_without_a_valid_bot_framework_token_never_reach_the_bot(h):
    from cryptography.hazmat.primitives.asymmetric import rsa

    card, root = await diagnosed(h)
    click = invoke(card, VERB_RIGHT, service_url=h.fake.url, sender=BOB, conversation=OPS, root=root)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (None, h.fake.token_for("another-bots-app-id", h.fake.url),  # none; issued to another bot
                  h.fake.token_for(APP_ID, h.fake.url, key=other_key),  # not signed by the channel's keys
                  h.fake.token_for(APP_ID, "https://smba.evil.example/")):  # for another service URL
        assert (await h.post(click, token=token)).status == 401
    await h.settle()
    assert stored(h) == [] and audit_events(h.workflow.factory, "feedback.recorded") == []
    assert (await h.post(click)).status == 200  # the same click, with the channel's token: recorded
    await h.settle()
    assert stored(h) == [(f"teams:{BOB['aadObjectId']}", "right", None, None)]


async def test_wrong_cause_form_submit_cancel_and_a_forged_token(h):
    card, root = await diagnosed(h)
    refused = await press(h, card, VERB_WRONG, EVE, root)
    assert refused["type"] == MESSAGE and "may not give feedback" in refused["value"]

    form = await press(h, card, VERB_WRONG, BOB, root)
    assert form["type"] == CONTENT_TYPE and updates(h, card) == []  # the clicker's view only
    [choices] = [e for e in elements(form["value"]) if e.get("type") == "Input.ChoiceSet"]
    assert choices["isRequired"] and "unknown" not in [c["value"] for c in choices["choices"]]
    cancel = await press(h, {**form["value"], "activity_id": card["activity_id"]}, VERB_CANCEL, BOB, root)
    assert cancel["type"] == CONTENT_TYPE and "Was this the right cause?" in texts(cancel["value"])

    button = find_button(form["value"], VERB_SUBMIT)
    assert button["data"]["message"] == card["activity_id"]
    forged = {**button["data"], "token": "feedback." + "A" * 43, "category": "dns_failure"}
    bad = await press(h, {**form["value"], "activity_id": card["activity_id"]}, VERB_SUBMIT, BOB, root, data=forged)
    assert bad["type"] == MESSAGE and "not valid for this diagnosis" in bad["value"] and stored(h) == []
    assert audit_events(h.workflow.factory, "token.rejected")[0]["payload"]["purpose"] == "feedback"

    inputs = {**button["data"], "category": "dns_failure", "note": "coredns ConfigMap edited"}
    done = await press(h, {**form["value"], "activity_id": card["activity_id"]}, VERB_SUBMIT, BOB, root, data=inputs)
    assert done["type"] == CONTENT_TYPE
    line = f"✗ Wrong cause — teams:{BOB['aadObjectId']}: real cause DNS failure: 'coredns ConfigMap edited'"
    assert line in texts(done["value"]) and line in shown(h, card)
    assert stored(h) == [(f"teams:{BOB['aadObjectId']}", "wrong", "dns_failure", "coredns ConfigMap edited")]


async def test_action_submit_clients_and_a_process_that_did_not_post_the_card(h, fake_teams):  # noqa: F811
    card, root = await diagnosed(h)
    fresh = teams_surface(fake_teams, h.workflow.factory, h.workflow.signer)  # a restarted process's memory
    h.workflow.surfaces["teams"] = fresh
    h.bot.surface = fresh
    await press(h, card, VERB_WRONG, BOB, root, how=submit)  # no invoke to answer: the form is posted apart
    [form] = [p for p in h.fake.thread(OPS, root) if any(e.get("verb") == VERB_SUBMIT for e in elements(p.activity))]
    form_card = card_of(form)
    data = {**find_button(form_card, VERB_SUBMIT)["fallback"]["data"], "category": "bad_deploy", "note": "v2.3"}
    act = submit(form_card, VERB_SUBMIT, service_url=h.fake.url, sender=BOB, conversation=OPS, root=root)
    act["value"] = data
    assert (await h.post(act)).status == 200
    await h.settle()
    assert stored(h) == [(f"teams:{BOB['aadObjectId']}", "wrong", "bad_deploy", "v2.3")]
    # the diagnosis card (not the form) was rebuilt from the database and refreshed in place
    assert len(updates(h, card)) == 1
    refreshed = shown(h, card)
    assert "real cause Bad deploy: 'v2.3'" in refreshed and "Diagnosis:" in refreshed
    assert json.dumps(h.fake.activity(form.id).activity) == json.dumps(form.activity)  # the form is left as is

    # a doctored form naming another message (the thread's first post) cannot get that message rewritten
    before = json.dumps(h.fake.activity(root).activity) if any(p.id == root for p in h.fake.posted(OPS)) else None
    act["value"] = {**data, "message": root, "category": "slow_query"}
    assert (await h.post(act)).status == 200
    await h.settle()
    assert stored(h)[0][2] == "slow_query" and len(updates(h, card)) == 1
    assert before is None or json.dumps(h.fake.activity(root).activity) == before
    assert [c for c in h.fake.calls("connector.update") if c.path.endswith(f"/activities/{root}")] == []
