"""Conversation references in the `conversations` table (SQLite and PostgreSQL): stored on install,
conversationUpdate and every message, updated in place, extended by channel events, forgotten when
the bot is removed; and a Teams card rebuilt from the database for a process that did not post it.
Recorded conversationUpdates from the shared datasets go through the endpoint (skipped without them)."""
from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from agents.diagnosis import Diagnosis, Evidence
from bot.db import transaction
from bot.models import Conversation, Diagnosis as DiagnosisRow, RemediationProposal
from bot.remediation import Signer
from bot.teams import references
from bot.teams.rebuild import rebuild_card
from bot.teams.surface import NoConversation
from bot.workflow.expiry import remember_messages
from bot.workflow.surface import MessageRef
from tests.remediation_support import seed
from tests.teams_support import (BOT, GROUP, OPS, PERSONAL, SIGNER_KEY, TENANT, activity, as_ours,  # noqa: F401
                                 fake_teams, installed, recorded, sqlite_factory, start, texts, workflow)

SERVICE = "https://smba.trafficmanager.net/amer/"


def _rows(factory) -> dict[str, Conversation]:
    with factory() as s:
        return {r.channel_id: r for r in s.execute(select(Conversation)).scalars()}


def _ref(conversation: str, service_url: str = SERVICE) -> references.StoredReference:
    from bot.teams.adapter import TeamsAdapter

    act = activity(conversation, service_url=service_url, text="hi", mention=True)
    return references.describe(TeamsAdapter.reference_of(act), act["conversation"]["id"], TENANT, "SRE")


def test_save_updates_in_place_and_forget_removes(migrated):
    _, factory = migrated
    references.save(factory, _ref(OPS))
    references.save(factory, _ref(OPS, "https://smba.trafficmanager.net/emea/"))  # Teams moved the service URL
    references.save(factory, _ref(PERSONAL))
    rows = _rows(factory)
    assert set(rows) == {OPS, PERSONAL}
    assert rows[OPS].service_url == "https://smba.trafficmanager.net/emea/" and rows[OPS].tenant_id == TENANT
    stored = references.load(factory, f"{OPS};messageid=123")  # a thread's id finds its channel
    assert stored.kind == "channel" and stored.threaded and stored.conversation_id("9") == f"{OPS};messageid=9"
    assert stored.reference["conversation"] == {"id": OPS, "conversationType": "channel", "isGroup": True,
                                                "tenantId": TENANT}
    assert stored.reference["bot"] == BOT and "activityId" not in stored.reference
    assert references.load(factory, PERSONAL).conversation_id("9") == PERSONAL  # chats have no threads
    references.forget(factory, OPS)
    assert set(_rows(factory)) == {PERSONAL}


async def test_activities_store_and_forget_references(fake_teams, sqlite_factory):  # noqa: F811
    h = await start(fake_teams, workflow(fake_teams, sqlite_factory))
    try:
        url = fake_teams.url
        await h.post(installed(OPS, service_url=url))
        await h.post(activity(GROUP, service_url=url, text="hello"))  # any message, even one not for the bot
        created = activity(OPS, service_url=url, kind="conversationUpdate")
        created["conversation"]["id"] = OPS
        created["channelData"].update(eventType="channelCreated", channel={"id": "19:new@thread.tacv2", "name": "inc-42"})
        await h.post(created)
        await h.settle()
        rows = _rows(sqlite_factory)
        assert set(rows) == {OPS, GROUP, "19:new@thread.tacv2"}
        assert rows["19:new@thread.tacv2"].name == "inc-42"
        assert rows["19:new@thread.tacv2"].reference["conversation"]["conversationType"] == "channel"

        removed = activity(GROUP, service_url=url, kind="conversationUpdate", membersRemoved=[dict(BOT)])
        uninstalled = activity(PERSONAL, service_url=url, kind="installationUpdate", action="remove")
        await h.post(removed)
        await h.post(uninstalled)
        await h.settle()
        assert set(_rows(sqlite_factory)) == {OPS, "19:new@thread.tacv2"}
        with pytest.raises(NoConversation):  # this process's own memory forgot it too
            await h.bot.surface.post_text(GROUP, "still there?")
    finally:
        await h.client.close()


async def test_recorded_conversation_updates(fake_teams, sqlite_factory):  # noqa: F811
    """botbuilder-js recordings: a member added to the team, a channel created, then deleted."""
    h = await start(fake_teams, workflow(fake_teams, sqlite_factory))
    try:
        for name in ("20191019181214767", "20191019205529596"):
            assert (await h.post(as_ours(recorded(name), fake_teams.url))).status == 200
            await h.settle()
        team = recorded("20191019181214767")["conversation"]["id"]
        rows = _rows(sqlite_factory)
        assert set(rows) == {team, "19:aaa04daa38af4f97a8c85dc57167fa23@thread.skype"}
        assert rows["19:aaa04daa38af4f97a8c85dc57167fa23@thread.skype"].name == "MOO"
        assert rows[team].tenant_id == "72f988bf-86f1-41af-91ab-2d7cd011db47"
        assert (await h.post(as_ours(recorded("20191019210348610"), fake_teams.url))).status == 200
        await h.settle()
        assert set(_rows(sqlite_factory)) == {team}
    finally:
        await h.client.close()


async def test_a_card_is_rebuilt_from_the_database(migrated, fake_teams):  # noqa: F811
    """A restarted process refreshes one proposal on a card it never saw (both databases)."""
    _, factory = migrated
    inc, diag = seed(factory)
    d = Diagnosis(category="traffic_spike", component="cart", summary="Load tripled.", confidence=0.8,
                  evidence=[Evidence(tool="k8s_pods", finding="3 pods busy", link="https://evil.example/x")])
    with transaction(factory) as s:
        s.get(DiagnosisRow, diag).document = d.model_dump(mode="json")
        s.add(RemediationProposal(id="p" * 32, diagnosis_id=diag, incident_id=inc, action_type="scale_deployment",
                                  target="cart", namespace="shop", parameters={"replicas": 6}, risk="MEDIUM",
                                  action_text="scale deployment shop/cart from 3 to 6 replicas", nonce="n1"))
    ref = MessageRef(OPS, "1767000000042", "1767000000040")
    await asyncio.to_thread(remember_messages, factory, ["p" * 32], "teams", ref)
    signer = Signer(SIGNER_KEY)
    card = rebuild_card(factory, signer, ref)
    shown = texts(card)
    assert "Load tripled." in shown and "3 pods busy" in shown and "scale deployment shop/cart" in shown
    assert "evil.example" not in str(card)  # links need the allowed hosts, unknown here: dropped
    assert rebuild_card(factory, signer, dataclasses.replace(ref, ts="1767000000043")) is None
    assert rebuild_card(factory, signer, dataclasses.replace(ref, channel=GROUP)) is None


@pytest.mark.parametrize("conversation", [OPS, GROUP, PERSONAL])
def test_thread_helpers(conversation):
    assert references.bare_id(f"{conversation};messageid=1") == conversation
    assert references.thread_of(f"{conversation};messageid=1") == "1" and references.thread_of(conversation) is None
