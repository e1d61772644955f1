"""SlackSurface and SlackIdentities through the real AsyncWebClient against the loopback fake."""
from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image

from bot.slack.identity import SlackIdentities, approver_groups
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.surface import MessageRef, ProgressView
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.test_slack_blocks import HIGH, MEDIUM, post

CHANNEL = "C0INCIDENT"


@pytest.fixture
def fake():
    with FakeSlack() as f:
        f.add_channel(CHANNEL)
        yield f


@pytest.fixture
def surface(fake):
    return SlackSurface(make_client(DEFAULT_TOKEN, fake.url))


async def test_progress_is_one_threaded_message_edited_in_place(fake, surface):
    root = await surface.post_text(CHANNEL, "alert <!here> & co")
    assert fake.messages(CHANNEL)[0]["text"] == "alert &lt;!here&gt; &amp; co"  # no channel-wide ping
    ref = await surface.post_progress(CHANNEL, root.ts, ProgressView("INC1", 0, None, "starting"))
    for step in (1, 2, 3):
        await surface.update_progress(ref, ProgressView("INC1", step, 5, f"tool{step}: ok"))
    await surface.update_progress(ref, ProgressView("INC1", 3, 5, "done: 3 tool calls", done=True))
    thread = fake.thread(CHANNEL, root.ts)
    assert len(thread) == 2 and thread[1]["ts"] == ref.ts and ref.thread == root.ts
    assert "Investigation finished" in thread[1]["blocks"][0]["text"]["text"]
    updates = [c.arg("blocks")[0]["text"]["text"] for c in fake.calls("chat.update")]
    assert updates[1].endswith("step 2 of 5 · tool2: ok")
    assert all(c.arg("ts") == ref.ts for c in fake.calls("chat.update"))


async def test_diagnosis_chart_and_proposal_update_in_thread(fake, surface):
    root = await surface.post_text(CHANNEL, "KubePodCrashLooping shop/cart")
    ref = await surface.post_diagnosis(CHANNEL, root.ts, post(MEDIUM, HIGH))
    sent = fake.last("chat.postMessage")
    assert sent.arg("thread_ts") == root.ts and sent.arg("blocks")[0]["type"] == "header"
    assert "OOM killed" in sent.arg("text")

    buf = io.BytesIO()
    Image.new("RGB", (4, 3)).save(buf, format="PNG")
    await surface.upload_chart(CHANNEL, root.ts, buf.getvalue(), "cart memory / limit")
    [up] = fake.uploads.values()
    assert up.completed and up.thread_ts == root.ts and up.channel == CHANNEL and up.data == buf.getvalue()
    assert up.filename == "cart-memory-limit.png" and up.title == "cart memory / limit"

    done = replace(MEDIUM, state="succeeded", offerable=False, token="", approvers=("slack:U0BOB",))
    await surface.update_proposal(ref, done, "bob approved; executed")
    msg = next(m for m in fake.messages(CHANNEL) if m["ts"] == ref.ts)
    ids = [b.get("block_id") for b in msg["blocks"]]
    assert "proposal_actions:P-med" not in ids and "proposal_actions:P-high" in ids
    assert "proposal_note:P-med" in ids and "<@U0BOB>" in str(msg["blocks"])
    assert not fake.calls("conversations.replies")  # the posted blocks were cached

    # A fresh process (no cache) reads the message back from Slack and still edits only its proposal.
    other = SlackSurface(make_client(DEFAULT_TOKEN, fake.url))
    rejected = replace(HIGH, state="rejected", offerable=False, token="")
    await other.update_proposal(ref, rejected, "carol rejected")
    assert fake.calls("conversations.replies")
    msg = next(m for m in fake.messages(CHANNEL) if m["ts"] == ref.ts)
    ids = [b.get("block_id") for b in msg["blocks"]]
    assert not any(i and i.startswith("proposal_actions:") for i in ids)
    assert "proposal_note:P-med" in ids and "proposal_note:P-high" in ids  # the first update survived


async def test_update_of_unreadable_message_is_posted_in_the_thread(fake, surface):
    root = await surface.post_text(CHANNEL, "alert")
    gone = MessageRef(CHANNEL, "1111.000001", root.ts)
    await surface.update_proposal(gone, replace(MEDIUM, state="rejected", offerable=False), "dave rejected")
    last = fake.messages(CHANNEL)[-1]
    assert last["thread_ts"] == root.ts and "dave rejected" in str(last["blocks"])
    assert not fake.calls("chat.update")


async def test_post_proposal_offers_buttons(fake, surface):
    ref = await surface.post_proposal(CHANNEL, None, MEDIUM, "Undo available for scale shop/cart")
    msg = fake.messages(CHANNEL)[-1]
    assert msg["ts"] == ref.ts and msg["blocks"][-1]["block_id"] == "proposal_actions:P-med"


async def test_ephemeral_and_dm_fallback(fake, surface):
    await surface.ephemeral(CHANNEL, "U0EVE", "you are not an approver", thread="1.2")
    assert fake.ephemerals[-1]["user"] == "U0EVE" and fake.ephemerals[-1]["thread_ts"] == "1.2"
    fake.fail("chat.postEphemeral", error="user_not_in_channel", status=200, retry_after=None)
    fake.add_channel("U0EVE", is_private=True)  # Slack routes a user id to the app's DM; the fake needs it declared
    await surface.ephemeral(CHANNEL, "U0EVE", "still not")
    dm = fake.last("chat.postMessage")
    assert dm.arg("channel") == "U0EVE" and dm.arg("text") == "still not"


async def test_rate_limited_post_is_retried(fake, surface):
    fake.fail("chat.postMessage", error="ratelimited", status=429, retry_after=0, times=1)
    ref = await surface.post_text(CHANNEL, "hello")
    assert ref.ts and [c.status for c in fake.calls("chat.postMessage")] == [429, 200]


async def test_identities_groups_cache_ttl_and_failure(fake):
    fake.add_usergroup("S0ONCALL", "oncall", ["U0BOB"])
    fake.add_usergroup("S0SRE", "sre", ["U0BOB", "U0CAROL"])
    now = [0.0]
    groups = approver_groups(["slack:U0X", "slack-group:S0ONCALL"], ["slack-group:S0SRE", "teams-group:G1"])
    assert groups == ("S0ONCALL", "S0SRE")
    ids = SlackIdentities(make_client(DEFAULT_TOKEN, fake.url), groups, ttl=60, clock=lambda: now[0])
    bob = await ids.resolve("U0BOB", display="bob")
    assert bob.key == "slack:U0BOB" and bob.groups == {"S0ONCALL", "S0SRE"} and bob.label == "bob"
    assert (await ids.resolve("U0CAROL")).groups == {"S0SRE"}
    assert (await ids.resolve("U0EVE")).groups == frozenset()
    assert len(fake.calls("usergroups.users.list")) == 2  # one per group, then cached

    fake.add_usergroup("S0ONCALL", "oncall", ["U0EVE"])  # membership changes in Slack
    assert "S0ONCALL" not in (await ids.resolve("U0EVE")).groups  # still cached
    now[0] = 61
    assert "S0ONCALL" in (await ids.resolve("U0EVE")).groups

    now[0] = 200
    fake.fail("usergroups.users.list", error="missing_scope", status=200, retry_after=None, times=None)
    assert (await ids.resolve("U0EVE")).groups == {"S0ONCALL"}  # stale list kept while refresh fails
    fresh = SlackIdentities(make_client(DEFAULT_TOKEN, fake.url), groups, ttl=60)
    assert (await fresh.resolve("U0BOB")).groups == frozenset()  # unreadable groups deny, never grant
