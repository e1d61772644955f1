"""`@chatops diagnose <target>` and `@chatops help` in a channel, a reply chain, a group chat and a
personal chat, through the real server, Workflow (offline engine) and TeamsSurface over the
loopback Bot Connector: answers land in the same reply chain, the progress card is edited in
place (PUT), a redelivered activity opens nothing new. Recorded Teams requests from the shared
datasets go the same way (skipped without them)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from bot.models import Incident
from tests.teams_support import (GROUP, OPS, PERSONAL, activity, as_ours, card_of, fake_teams,  # noqa: F401
                                 installed, recorded, sqlite_factory, start, texts, workflow)


@pytest.fixture
async def h(fake_teams, sqlite_factory):  # noqa: F811
    harness = await start(fake_teams, workflow(fake_teams, sqlite_factory))
    yield harness
    await harness.client.close()


async def _ask(h, act: dict):
    t0 = time.monotonic()
    resp = await h.post(act)
    elapsed = time.monotonic() - t0
    assert resp.status == 200 and elapsed < 1.0, (resp.status, elapsed)  # acknowledged before any work
    await h.settle()


def _diagnosis(posted):
    return [p for p in posted if "Diagnosis:" in texts(card_of(p))]


async def test_channel_command_is_answered_in_its_reply_chain(h):
    await h.post(installed(OPS, service_url=h.fake.url))
    ask = activity(OPS, service_url=h.fake.url, text="diagnose shop/cart", mention=True)
    await _ask(h, ask)
    posted = h.fake.posted(OPS)
    assert posted and all(p.conversation == f"{OPS};messageid={ask['id']}" and p.root == ask["id"] for p in posted)
    assert h.fake.calls("connector.create") == []  # no new thread: the asker's own chain
    announce, progress = posted[0], posted[1]
    assert "Investigating `shop/cart`" in texts(card_of(announce))
    assert len(progress.history) >= 2 and "Investigation finished" in texts(progress.history[-1]["attachments"][0]
                                                                               ["content"])
    updates = h.fake.calls("connector.update")
    assert updates and all(c.path.endswith(f"/activities/{progress.id}") for c in updates)
    [diagnosis] = _diagnosis(posted)
    assert "Could not use" in texts(card_of(diagnosis))
    with h.workflow.factory() as s:
        inc = s.execute(select(Incident)).scalar_one()
    assert (inc.platform, inc.channel, inc.thread_ref) == ("teams", OPS, ask["id"])


async def test_mention_inside_an_existing_thread_answers_there(h):
    await h.post(installed(OPS, service_url=h.fake.url))
    ask = activity(OPS, service_url=h.fake.url, text="diagnose payments/api", mention=True, root="1767000000777")
    await _ask(h, ask)
    posted = h.fake.posted(OPS)
    assert posted and {p.root for p in posted} == {"1767000000777"}
    assert _diagnosis(posted)


@pytest.mark.parametrize("conversation", [GROUP, PERSONAL])
async def test_chats_get_messages_without_threads(h, conversation):
    mention = conversation == GROUP  # a personal chat needs no mention
    await _ask(h, activity(conversation, service_url=h.fake.url, text="diagnose shop/cart", mention=mention))
    posted = h.fake.posted(conversation)
    assert posted and all(p.conversation == conversation for p in posted)
    assert "Investigating `shop/cart`" in texts(card_of(posted[0])) and _diagnosis(posted)
    assert h.fake.calls("connector.update")


async def test_a_group_chat_message_without_mention_is_not_a_command(h):
    await _ask(h, activity(GROUP, service_url=h.fake.url, text="diagnose shop/cart"))
    assert h.fake.posted() == []


async def test_help_and_bad_targets_get_usage_in_the_thread(h):
    await h.post(installed(OPS, service_url=h.fake.url))
    ask = activity(OPS, service_url=h.fake.url, text="help", mention=True)
    await _ask(h, ask)
    [usage] = h.fake.posted(OPS)
    assert usage.root == ask["id"] and "@chatops diagnose <service | namespace/pod | alert text>" in texts(card_of(usage))

    bad = activity(OPS, service_url=h.fake.url, text="diagnose ?!", mention=True)
    await _ask(h, bad)
    [answer] = h.fake.thread(OPS, bad["id"])
    shown = texts(card_of(answer))
    assert "could not find a service" in shown and "/diagnose" not in shown and "@chatops diagnose" in shown
    with h.workflow.factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0


async def test_a_redelivered_command_opens_one_investigation(h):
    await h.post(installed(OPS, service_url=h.fake.url))
    ask = activity(OPS, service_url=h.fake.url, text="diagnose shop/cart", mention=True)
    await _ask(h, ask)
    await _ask(h, ask)  # Teams resends when it thinks the first delivery failed
    with h.workflow.factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1
    assert len(_diagnosis(h.fake.posted(OPS))) == 1


async def test_the_bot_ignores_its_own_messages(h):
    own = activity(OPS, service_url=h.fake.url, text="diagnose shop/cart", mention=True, sender=dict(
        id="28:5a0c6e0e-6a3b-4c59-9d2e-0b07c4a1b0e1", name="chatops"))
    await _ask(h, own)
    assert h.fake.posted() == []


async def test_recorded_channel_mention_from_botbuilder_js(h):
    """A real Teams channel message with an <at> mention (2019 recording, '<at>My Combined</at>1'): not a
    command, so the usage comes back, in the message's own reply chain."""
    act = as_ours(recorded("20191020020553704"), h.fake.url)
    await _ask(h, act)
    channel, _, root = act["conversation"]["id"].partition(";messageid=")
    [answer] = h.fake.posted(channel)
    assert answer.conversation == act["conversation"]["id"] and answer.root == root
    assert "@chatops diagnose <service" in texts(card_of(answer))
    with h.workflow.factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0


async def test_recorded_thread_reply_from_teams_net(h):
    """A 2025 channel message in a reply chain ('<at>ridotest</at> reply to thread'), made a command:
    the investigation is answered in that chain."""
    act = as_ours(recorded("TeamsActivityTests__json.json"), h.fake.url)
    act["text"] = act["text"].replace("reply to thread", "diagnose shop/cart")
    await _ask(h, act)
    channel, _, root = act["conversation"]["id"].partition(";messageid=")
    posted = h.fake.posted(channel)
    assert posted and {p.root for p in posted} == {root} and _diagnosis(posted)
    assert "Investigating `shop/cart`" in texts(card_of(posted[0]))


async def test_chatter_to_the_bot_is_not_an_investigation(h):
    await _ask(h, activity(PERSONAL, service_url=h.fake.url, text="thanks, that was quick"))
    [usage] = h.fake.posted(PERSONAL)
    assert "@chatops diagnose" in texts(card_of(usage))
    with h.workflow.factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0
