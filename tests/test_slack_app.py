"""The real bolt app served by the real aiohttp server, driven with signed requests built from
bolt-python's own payloads; Slack Web API calls go to the loopback fake."""
from __future__ import annotations

import json
import time

import pytest

from tests.fake_slack import FakeSlack
from tests.slack_support import fake, h  # noqa: F401  (shared fixtures)
from tests.slack_support import (ALERT_CHANNEL, OTHER_CHANNEL, block_actions_body, event_body, eventually, sign,
                                 slash_body, start_harness)
from tests.test_slack_blocks import HIGH, MEDIUM, post

AM_TITLE = "[FIRING:1] KubePodCrashLooping (shop cart critical)"
AM_TEXT = ("*Alert:* Pod shop/cart-7d9f8c6b5-x2kqz is crash looping - `critical`\n*Details:*\n"
           "  • *alertname:* `KubePodCrashLooping`\n  • *namespace:* `shop`\n"
           "  • *pod:* `cart-7d9f8c6b5-x2kqz`\n  • *severity:* `critical`\n")
CLASSIC = "test_message_bot__classic_bot_message_event_payload.json"


def alert_attachments(title: str = AM_TITLE, color: str = "danger") -> list[dict]:
    return [{"id": 1, "color": color, "title": title, "fallback": title, "text": AM_TEXT,
             "mrkdwn_in": ["text"]}]


# ---- signatures -------------------------------------------------------------------------------

async def test_signature_good_bad_and_expired(h, fake):
    body = slash_body("shop/cart", response_url=fake.response_url("sig"))
    good = await h.form(body)
    assert good.status == 200
    bad = await h.form(body, headers=sign(body, secret="not-the-secret"))
    assert bad.status == 401
    expired = await h.form(body, headers=sign(body, ts=int(time.time()) - 6 * 60))
    assert expired.status == 401
    tampered = await h.form(body.replace("shop%2Fcart", "shop%2Fother"), headers=sign(body))
    assert tampered.status == 401
    missing = await h.form(body, headers={})
    assert missing.status == 401
    assert await eventually(lambda: len(h.workflow.commands) == 1)
    await h.client.session.close()
    assert [c["text"] for c in h.workflow.commands] == ["shop/cart"]  # only the genuine request ran


# ---- /diagnose --------------------------------------------------------------------------------

async def test_diagnose_acks_fast_while_the_workflow_is_slow(fake):
    h = await start_harness(fake, workflow_kw={"delay": 3.0})
    try:
        body = slash_body("shop/cart", channel=OTHER_CHANNEL, user="U0ALICE", response_url=fake.response_url("k"))
        t0 = time.monotonic()
        resp = await h.form(body)
        elapsed = time.monotonic() - t0
        assert resp.status == 200 and elapsed < 1.0, elapsed
        assert await eventually(lambda: h.workflow.commands, 2)
        [cmd] = h.workflow.commands
        assert cmd == {**cmd, "text": "shop/cart", "platform": "slack", "channel": OTHER_CHANNEL, "user": "U0ALICE"}
        assert fake.responses("k") == []  # accepted: nothing ephemeral to say
    finally:
        await h.client.close()


async def test_diagnose_bad_argument_gets_an_ephemeral_reply(fake):
    h = await start_harness(fake, workflow_kw={"command_reply": "Usage: `/diagnose <service | ns/pod>`"})
    try:
        resp = await h.form(slash_body("", response_url=fake.response_url("bad")))
        assert resp.status == 200
        assert await eventually(lambda: fake.responses("bad"))
        [reply] = fake.responses("bad")
        assert reply["response_type"] == "ephemeral" and reply["text"].startswith("Usage:")
        assert not fake.calls("chat.postMessage")  # nothing public
    finally:
        await h.client.close()


async def test_diagnose_falls_back_to_post_ephemeral_when_response_url_fails(fake):
    h = await start_harness(fake, workflow_kw={"command_reply": "nothing usable in that"})
    try:
        fake.fail("response_url", error="expired_url", status=404, retry_after=None)
        await h.form(slash_body("???", user="U0BOB", response_url=fake.response_url("gone")))
        assert await eventually(lambda: fake.ephemerals)
        assert fake.ephemerals[-1]["user"] == "U0BOB" and "nothing usable" in fake.ephemerals[-1]["text"]
    finally:
        await h.client.close()


# ---- alert channels ---------------------------------------------------------------------------

async def test_bot_alert_in_alert_channel_is_diagnosed_in_its_thread(h, fake):
    resp = await h.event(event_body(CLASSIC, channel=ALERT_CHANNEL, event_id="Ev1", text="",
                                    attachments=alert_attachments()))
    assert resp.status == 200
    assert await eventually(lambda: h.workflow.alerts)
    [call] = h.workflow.alerts
    assert call["channel"] == ALERT_CHANNEL and call["thread"] == "1610262363.001600"
    assert call["source"] == "slack" and call["platform"] == "slack" and call["actor"] == "slack:classic-bot"
    [alert] = call["group"].alerts
    assert (alert.name, alert.namespace, alert.pod, alert.status) == (
        "KubePodCrashLooping", "shop", "cart-7d9f8c6b5-x2kqz", "firing")

    # Slack redelivers the same event (X-Slack-Retry-Num): handled once
    await h.event(event_body(CLASSIC, channel=ALERT_CHANNEL, event_id="Ev1", text="",
                             attachments=alert_attachments()))
    # a thread reply from an alerting bot answers in the same thread, not a thread of its own
    await h.event(event_body(CLASSIC, channel=ALERT_CHANNEL, event_id="Ev2", ts="1610262999.000100",
                             thread_ts="1610262363.001600", text="", attachments=alert_attachments()))
    assert await eventually(lambda: len(h.workflow.alerts) == 2)
    assert [a["thread"] for a in h.workflow.alerts] == ["1610262363.001600", "1610262363.001600"]


async def test_modern_bot_message_with_bot_id_counts_too(h):
    await h.event(event_body("test_message_bot__bot_message_event_payload.json", channel=ALERT_CHANNEL,
                             event_id="EvM", text="[FIRING:1] HighLatency prod/payments-6c8d7f9b4-qwert (warning)"))
    assert await eventually(lambda: h.workflow.alerts)
    assert h.workflow.alerts[0]["group"].alerts[0].name == "HighLatency"
    assert h.workflow.alerts[0]["actor"] == "slack:other-app"


async def test_ignored_other_channel_own_bot_humans_and_chatter(h, fake):
    bodies = [
        # an alert, but not in a configured alert channel
        event_body(CLASSIC, channel=OTHER_CHANNEL, event_id="E1", text="", attachments=alert_attachments()),
        # our own bot's message (our bot_id and user, as auth.test reports them)
        event_body("test_message_bot__bot_message_event_payload.json", channel=ALERT_CHANNEL, event_id="E2",
                   bot_id=fake.bot_id, user=fake.bot_user_id, text=AM_TITLE),
        # a human pasting an alert: discussion, not an alert
        event_body("test_message_bot__user_message_event_payload.json", channel=ALERT_CHANNEL, event_id="E3",
                   text=AM_TITLE, blocks=[]),
        # a bot's chatter (bolt's own payload text): not an alert
        event_body(CLASSIC, channel=ALERT_CHANNEL, event_id="E4"),
        # an edit that still says firing (e.g. an unfurl was added): no "still firing" noise
        json.dumps({**json.loads(event_body(CLASSIC, channel=ALERT_CHANNEL, event_id="E5")),
                    "event": {"type": "message", "subtype": "message_changed", "channel": ALERT_CHANNEL,
                              "ts": "1610262400.000200", "hidden": True,
                              "message": {"type": "message", "subtype": "bot_message", "bot_id": "B888",
                                          "ts": "1610262363.001600", "text": "",
                                          "attachments": alert_attachments()}}}),
    ]
    for body in bodies:
        assert (await h.event(body)).status == 200
    # a resolving edit of the alert message does count, in the original message's thread
    resolved = json.loads(bodies[-1])
    resolved["event_id"] = "E6"
    resolved["event"]["message"]["attachments"] = alert_attachments(AM_TITLE.replace("FIRING", "RESOLVED"), "good")
    await h.event(json.dumps(resolved))
    assert await eventually(lambda: h.workflow.alerts)
    await eventually(lambda: len(h.workflow.alerts) > 1, 0.5)
    [call] = h.workflow.alerts
    assert call["thread"] == "1610262363.001600" and call["group"].alerts[0].status == "resolved"
    assert not fake.calls("chat.postMessage")


async def test_mention_in_an_alert_thread_diagnoses_the_parent(h, fake):
    parent = fake.add_message(ALERT_CHANNEL, "", user="U0AMBOT", bot_id="B0AM", subtype="bot_message",
                              attachments=alert_attachments())
    await h.event(event_body("test_events__valid_event_body.json", channel=ALERT_CHANNEL, event_id="EvA",
                             user="U0ALICE", text=f"<@{fake.bot_user_id}> what is this?",
                             thread_ts=parent["ts"]))
    assert await eventually(lambda: h.workflow.alerts)
    assert h.workflow.alerts[0]["thread"] == parent["ts"] and h.workflow.alerts[0]["actor"] == "slack:U0ALICE"
    # outside a thread, the text is a /diagnose request
    await h.event(event_body("test_events__valid_event_body.json", channel=OTHER_CHANNEL, event_id="EvB",
                             user="U0ALICE", text=f"<@{fake.bot_user_id}> shop/cart"))
    assert await eventually(lambda: h.workflow.commands)
    assert h.workflow.commands[0]["text"] == "shop/cart"


# ---- approval buttons -------------------------------------------------------------------------

async def _diagnosis_message(h, fake) -> dict:
    surface = h.workflow.surfaces["slack"]
    root = await surface.post_text(ALERT_CHANNEL, "alert")
    ref = await surface.post_diagnosis(ALERT_CHANNEL, root.ts, post(MEDIUM, HIGH))
    h.workflow.views = {MEDIUM.proposal_id: MEDIUM, HIGH.proposal_id: HIGH}
    return next(m for m in fake.messages(ALERT_CHANNEL) if m["ts"] == ref.ts)


async def test_approve_click_updates_the_message_with_the_approver(fake):
    fake.add_usergroup("S0ONCALL", "oncall", ["U0BOB"])
    h = await start_harness(fake, workflow_kw={"approvers": {"S0ONCALL"}},
                            settings_kw={"approvers_medium": "slack-group:S0ONCALL"})
    try:
        message = await _diagnosis_message(h, fake)
        value = f"{MEDIUM.proposal_id}|{MEDIUM.token}"
        resp = await h.form(block_actions_body("proposal_approve", value, channel=ALERT_CHANNEL, message=message,
                                               user="U0BOB", username="bob"))
        assert resp.status == 200
        assert await eventually(lambda: fake.calls("chat.update"))
        [click] = h.workflow.clicks
        assert (click["proposal_id"], click["token"], click["decision"]) == ("P-med", "v1.tok-P-med", "approve")
        assert click["identity"].key == "slack:U0BOB" and click["identity"].groups == {"S0ONCALL"}
        assert click["message"].ts == message["ts"] and click["message"].thread == message["thread_ts"]
        update = fake.last("chat.update")
        assert update.arg("ts") == message["ts"]
        blocks = update.arg("blocks")
        note = next(b for b in blocks if b.get("block_id") == "proposal_note:P-med")
        assert note["elements"][0]["text"] == "bob approved; executed"
        assert "<@U0BOB>" in json.dumps(blocks) and ":white_check_mark: Executed and verified" in json.dumps(blocks)
        ids = [b.get("block_id") for b in blocks]
        assert "proposal_actions:P-med" not in ids and "proposal_actions:P-high" in ids
        assert not fake.calls("conversations.replies")  # the click carried the message's blocks
    finally:
        await h.client.close()


async def test_unauthorized_click_gets_an_ephemeral_explanation(h, fake):
    message = await _diagnosis_message(h, fake)
    value = f"{HIGH.proposal_id}|{HIGH.token}"
    await h.form(block_actions_body("proposal_reject", value, channel=ALERT_CHANNEL, message=message,
                                    user="U0EVE", username="eve"))
    assert await eventually(lambda: fake.ephemerals)
    eph = fake.ephemerals[-1]
    assert eph["user"] == "U0EVE" and "eve is not an allowed approver" in eph["text"]
    assert eph["thread_ts"] == message["thread_ts"]
    assert h.workflow.clicks[0]["decision"] == "reject"
    assert not fake.calls("chat.update")


async def test_malformed_button_value_is_refused_without_calling_the_workflow(h, fake):
    message = await _diagnosis_message(h, fake)
    await h.form(block_actions_body("proposal_approve", "no-separator", channel=ALERT_CHANNEL, message=message))
    assert await eventually(lambda: fake.ephemerals)
    assert "not a valid approval button" in fake.ephemerals[-1]["text"] and not h.workflow.clicks
