"""Feedback in Slack, end to end: the real Workflow posts a diagnosis with "Right cause" / "Wrong cause"
(a /diagnose diagnosed by the offline engine), and signed interaction requests go through the real
server (inbound checks, bolt) over the loopback fake Slack: an approver by user group, a listed
approver and the requester may answer, anyone else is told why privately (audited), forged tokens
are refused (audited); "Wrong cause" opens a modal with the click's trigger_id, whose submission
records the real cause and updates the diagnosis message in place. Interaction payloads are built
here in Slack's documented shape (no dataset needed)."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from agents.session import EngineSettings
from bot.models import Feedback
from bot.remediation import ApprovalPolicy, Signer
from bot.slack.blocks import FEEDBACK_ACTIONS, FEEDBACK_BLOCK, FEEDBACK_RIGHT, FEEDBACK_WRONG
from bot.slack.feedback_modal import CALLBACK, CATEGORY_ACTION, CATEGORY_BLOCK, NOTE_ACTION, NOTE_BLOCK
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.service import Workflow
from tests.fake_slack import DEFAULT_TOKEN
from tests.remediation_support import audit_events
from tests.slack_support import OTHER_CHANNEL, TEAM, eventually, fake, sign, start_harness  # noqa: F401
from tests.teams_support import no_sources
from tools.taxonomy import CATEGORIES

APPROVERS = "slack-group:S0OPS,slack:U0CAROL"
TRIGGER = "13345224609.738474920.8088930838d88f008e0"
ELSEWHERE = "T0THEIRS01"  # another organisation's workspace


@pytest.fixture
async def h(fake, migrated):  # noqa: F811
    _, factory = migrated
    fake.add_usergroup("S0OPS", "ops", ["U0BOB"])
    wf = Workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake.url))}, no_sources(),
                  EngineSettings(engine="offline"), None, concurrency=1,
                  policy=ApprovalPolicy.build(medium=APPROVERS.split(",")),
                  signer=Signer(b"0123456789abcdef0123456789abcdef"))
    harness = await start_harness(fake, workflow=wf, settings_kw={"approvers_medium": APPROVERS})
    yield harness
    await harness.client.close()
    await wf.stop(0)


async def diagnosed(h) -> dict:
    """U0REQ asks /diagnose; the workflow posts the diagnosis (with its feedback buttons) in the thread."""
    assert await h.workflow.on_command("shop/cart", platform="slack", channel=OTHER_CHANNEL, user="U0REQ") is None
    await h.workflow.drain(60)
    return next(m for m in h.fake.messages(OTHER_CHANNEL) if any(
        b.get("block_id", "").startswith(FEEDBACK_ACTIONS) for b in m.get("blocks", [])))


def user(uid: str, team: str = TEAM) -> dict:
    name = uid[3:].lower()
    return {"id": uid, "username": name, "name": name, "team_id": team}


def click_body(action_id: str, message: dict, uid: str, value: str | None = None, team: str = TEAM) -> str:
    """A block_actions payload as Slack sends it for a click on `message`'s button `action_id`."""
    [block] = [b for b in message["blocks"] if b.get("block_id", "").startswith(FEEDBACK_ACTIONS)]
    button = next(e for e in block["elements"] if e["action_id"] == action_id)
    payload = {"type": "block_actions", "user": user(uid, team), "api_app_id": "A0FAKEAPP", "token": "legacy",
               "container": {"type": "message", "message_ts": message["ts"], "channel_id": OTHER_CHANNEL,
                             "is_ephemeral": False, **({"thread_ts": message["thread_ts"]}
                                                       if message.get("thread_ts") else {})},
               "trigger_id": TRIGGER, "team": {"id": team, "domain": "fake-workspace"},
               "channel": {"id": OTHER_CHANNEL, "name": "random"}, "message": message,
               "response_url": "https://hooks.slack.com/actions/T0FAKE001/1/x",
               "actions": [{"action_id": action_id, "block_id": block["block_id"], "text": button["text"],
                            "value": value if value is not None else button["value"], "type": "button",
                            "action_ts": "1700000000.000100"}]}
    return urlencode({"payload": json.dumps(payload)})


def submit_body(view: dict, uid: str, category: str | None, note: str | None, team: str = TEAM,
                **view_changes) -> str:
    """The view_submission Slack sends when `uid` submits the opened modal `view` with these inputs."""
    values = {CATEGORY_BLOCK: {CATEGORY_ACTION: {"type": "static_select", "selected_option": (
        {"text": {"type": "plain_text", "text": category}, "value": category} if category else None)}},
        NOTE_BLOCK: {NOTE_ACTION: {"type": "plain_text_input", "value": note}}}
    payload = {"type": "view_submission", "team": {"id": team, "domain": "fake-workspace"}, "user": user(uid, team),
               "api_app_id": "A0FAKEAPP", "token": "legacy", "trigger_id": TRIGGER,
               "view": {**view, "state": {"values": values}, **view_changes}, "response_urls": [],
               "is_enterprise_install": False}
    return urlencode({"payload": json.dumps(payload)})


def feedback_text(h, ts: str) -> str:
    msg = next(m for m in h.fake.messages(OTHER_CHANNEL) if m["ts"] == ts)
    return next(b for b in msg["blocks"] if b.get("block_id", "").startswith(FEEDBACK_BLOCK))["elements"][0]["text"]


def stored(h) -> list[tuple]:
    with h.workflow.factory() as s:
        return [(r.actor, r.verdict, r.category, r.note) for r in s.execute(select(Feedback)).scalars()]


async def test_right_cause_by_group_member_and_requester_refusal_for_others(h):
    message = await diagnosed(h)
    assert "Was this the right cause?" in feedback_text(h, message["ts"])
    for uid in ("U0BOB", "U0REQ"):  # an approver through the S0OPS user group; the person who asked
        assert (await h.form(click_body(FEEDBACK_RIGHT, message, uid))).status == 200
    assert await eventually(lambda: len(stored(h)) == 2, 10)
    assert await eventually(lambda: "<@U0REQ>" in feedback_text(h, message["ts"]), 10)
    assert feedback_text(h, message["ts"]) == "✓ Right cause — <@U0BOB>, <@U0REQ>"

    await h.form(click_body(FEEDBACK_RIGHT, message, "U0EVE"))  # neither approver nor requester
    assert await eventually(lambda: h.fake.ephemerals, 10)
    assert h.fake.ephemerals[-1]["user"] == "U0EVE" and "may not give feedback" in h.fake.ephemerals[-1]["text"]
    assert [e["actor"] for e in audit_events(h.workflow.factory, "feedback.denied")] == ["slack:U0EVE"]
    recorded = audit_events(h.workflow.factory, "feedback.recorded")
    assert [(e["actor"], e["payload"]["verdict"]) for e in recorded] == [("slack:U0BOB", "right"),
                                                                          ("slack:U0REQ", "right")]
    assert len(stored(h)) == 2


async def test_a_forged_token_is_refused_and_audited(h):
    message = await diagnosed(h)
    diagnosis_id = message["blocks"][-1]["elements"][0]["value"].split("|")[0]
    await h.form(click_body(FEEDBACK_RIGHT, message, "U0CAROL", value=f"{diagnosis_id}|feedback.{'A' * 43}"))
    assert await eventually(lambda: h.fake.ephemerals, 10)
    assert "not valid for this diagnosis" in h.fake.ephemerals[-1]["text"] and stored(h) == []
    [rejected] = audit_events(h.workflow.factory, "token.rejected")
    assert rejected["actor"] == "slack:U0CAROL" and rejected["payload"]["purpose"] == "feedback"


async def test_unsigned_and_wrongly_signed_clicks_never_reach_the_bot(h):
    message = await diagnosed(h)
    body = click_body(FEEDBACK_RIGHT, message, "U0CAROL")
    for headers in ({}, sign(body, secret="not-the-signing-secret"), sign(body, ts=int(time.time()) - 3600)):
        assert (await h.form(body, headers=headers)).status == 401
    assert (await h.form(body)).status == 200  # the same body, signed: recorded
    assert await eventually(lambda: stored(h), 10)
    assert stored(h) == [("slack:U0CAROL", "right", None, None)] and h.fake.ephemerals == []


async def test_clicks_from_another_workspace_are_refused_and_audited(h):
    """Slack Connect: a user of another organisation's workspace, in a channel shared with ours, clicks
    (even with the id of a listed approver); nothing is recorded, no modal opens, each one is audited."""
    message = await diagnosed(h)
    await h.form(click_body(FEEDBACK_RIGHT, message, "U0CAROL", team=ELSEWHERE))
    assert await eventually(lambda: h.fake.ephemerals, 10)
    assert h.fake.ephemerals[-1]["user"] == "U0CAROL" and "another one" in h.fake.ephemerals[-1]["text"]
    await h.form(click_body(FEEDBACK_WRONG, message, "U0CAROL", team=ELSEWHERE))
    assert await eventually(lambda: len(h.fake.ephemerals) == 2, 10) and not h.fake.calls("views.open")

    await h.form(click_body(FEEDBACK_WRONG, message, "U0CAROL"))  # at home: the modal opens
    assert await eventually(lambda: h.fake.views, 10)
    resp = await h.form(submit_body(h.fake.views[0], "U0CAROL", "dns_failure", None, team=ELSEWHERE))
    assert resp.status == 200  # the modal closes; the submission is refused like a click
    assert await eventually(lambda: len(h.fake.ephemerals) == 3, 10) and stored(h) == []
    denied = audit_events(h.workflow.factory, "feedback.denied")
    diagnosis_id = message["blocks"][-1]["elements"][0]["value"].split("|")[0]
    assert [(e["actor"], e["subject"], e["payload"]["kind"], e["payload"]["team"]) for e in denied] == \
        [("slack:U0CAROL", f"diagnosis/{diagnosis_id}", "other_workspace", ELSEWHERE)] * 3


async def test_wrong_cause_opens_a_modal_whose_submission_records_the_real_cause(h):
    message = await diagnosed(h)
    await h.form(click_body(FEEDBACK_WRONG, message, "U0EVE"))  # refused: no modal for her
    assert await eventually(lambda: h.fake.ephemerals, 10) and not h.fake.calls("views.open")

    await h.form(click_body(FEEDBACK_WRONG, message, "U0CAROL"))
    assert await eventually(lambda: h.fake.views, 10)
    [opened] = h.fake.views
    assert h.fake.last("views.open").arg("trigger_id") == TRIGGER and opened["callback_id"] == CALLBACK
    select_ = next(b for b in opened["blocks"] if b.get("block_id") == CATEGORY_BLOCK)["element"]
    values = [o["value"] for o in select_["options"]]
    # every category but the diagnosed one (with every source down the offline engine says `unknown`)
    assert "unknown" not in values and len(values) == len(CATEGORIES) - 1 and "dns_failure" in values
    assert json.loads(opened["private_metadata"])["m"] == message["ts"]

    # nothing picked: the modal stays open with an error under the select, nothing recorded
    resp = await h.form(submit_body(opened, "U0CAROL", None, "typed so far"))
    assert resp.status == 200 and (await resp.json()) == {"response_action": "errors",
                                                          "errors": {CATEGORY_BLOCK: "Pick the real cause."}}
    resp = await h.form(submit_body(opened, "U0CAROL", "dns_failure", "coredns ConfigMap edited"))
    assert resp.status == 200 and not await resp.text()  # acknowledged: the modal closes
    assert await eventually(lambda: stored(h), 10)
    assert stored(h) == [("slack:U0CAROL", "wrong", "dns_failure", "coredns ConfigMap edited")]
    assert await eventually(lambda: "Wrong cause" in feedback_text(h, message["ts"]), 10)
    assert feedback_text(h, message["ts"]) == ("✗ Wrong cause — <@U0CAROL>: real cause DNS failure: "
                                               "'coredns ConfigMap edited'")

    # an altered form (another diagnosis id in its metadata) records nothing and is audited
    meta = json.loads(opened["private_metadata"])
    forged = json.dumps({**meta, "d": "f" * 32})
    await h.form(submit_body(opened, "U0CAROL", "slow_query", None, private_metadata=forged))
    assert await eventually(lambda: audit_events(h.workflow.factory, "token.rejected"), 10)
    assert len(stored(h)) == 1


@pytest.mark.parametrize("payload, why", [
    ({"type": "view_submission", "user": {"id": "U0CAROL"}, "view": {"callback_id": "someone_elses_modal"}},
     "view this app does not handle"),
    ({"type": "view_submission", "user": {"id": "U0CAROL"}, "view": {"callback_id": ["feedback_wrong_cause"]}},
     "view this app does not handle"),
    ({"type": "view_submission", "user": "U0CAROL", "view": {"callback_id": CALLBACK}}, "user is not an object"),
    ({"type": "view_closed", "user": {"id": "U0CAROL"}, "view": {"callback_id": CALLBACK}}, "not one this app"),
    ({"type": "shortcut", "user": {"id": "U0CAROL"}, "callback_id": "x"}, "not one this app handles"),
    ({"type": "block_actions", "user": {"id": "U0CAROL"}, "actions": [{"action_id": "feedback_maybe"}]},
     "without an action this app handles"),
])
async def test_inbound_takes_our_modal_and_buttons_and_refuses_the_rest(h, payload, why):
    resp = await h.form(urlencode({"payload": json.dumps(payload)}))
    assert resp.status == 400 and why in (await resp.json())["error"]
