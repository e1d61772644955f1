"""Follow-up questions in a Teams reply chain, end to end: the real server (Bot Framework JWT checked by
the real botbuilder SDK, activity shape checks), the real TeamsBot and TeamsSurface over the loopback Bot
Connector (tests/fake_teams.py), the real Workflow over the shop-cart-crashloop scenario (Kubernetes and
OpenSearch fakes), SQLite and PostgreSQL. A reply @mentioning the bot in the chain of its diagnosis is a
question about it, answered in that chain; the second answer uses the evidence fetched for the first.
Mentions elsewhere, replies without a mention, other bots and unsigned or forged activities ask nothing."""
from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from agents.session import EngineSettings
from bot import audit
from bot.workflow.followup import FollowupConfig
from tests.fake_teams import _key
from tests.followup_support import (FIRST, LOGS_ARGS, REVISED, SECOND, SIGNER, diagnoses, followups, model_engine,
                                    scenario, scenario_workflow, scripted_model, tool_calls)
from tests.remediation_support import audit_events
from tests.teams_support import (ALICE, APP_ID, BOB, OPS, WORKFLOWS, activity, card_of, fake_teams,  # noqa: F401
                                 installed, start, teams_surface, texts)

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


def shown(posted) -> str:  # noqa: ANN001 (fake_teams.Posted)
    """What a reader sees of a bot post: its card's text, or a plain message's text."""
    return texts(card_of(posted)) if posted.activity.get("attachments") else posted.activity.get("text") or ""


class Chain:
    """The reply chain of Bob's `@chatops diagnose shop/cart` in OPS, with the diagnosis posted in it."""

    def __init__(self, h, root: str, command: dict | None = None):
        self.h, self.root, self.command = h, root, command

    async def ask(self, text: str, *, sender: dict = ALICE, mention: bool = True, token: str | None = "valid",
                  **extra):
        resp = await self.h.post(activity(OPS, service_url=self.h.fake.url, sender=sender, text=text,
                                          mention=mention, root=self.root, **extra), token)
        await self.h.settle()
        return resp

    def posts(self) -> list[str]:
        return [shown(p) for p in self.h.fake.thread(OPS, self.root)]

    def answers(self) -> list[str]:
        return [t for t in self.posts() if t.startswith("*Question")]


@asynccontextmanager
async def diagnosed_chain(fake, factory, backends, engine, **wf_kw):  # noqa: ANN001
    wf = scenario_workflow(factory, {"teams": teams_surface(fake, factory, SIGNER)}, engine, backends, **wf_kw)
    h = await start(fake, wf)
    try:
        assert (await h.post(installed(OPS, service_url=fake.url))).status == 200
        ask = activity(OPS, service_url=fake.url, sender=BOB, text="diagnose shop/cart", mention=True)
        assert (await h.post(ask)).status == 200
        await h.settle()
        chain = Chain(h, ask["id"], ask)
        assert any("Diagnosis:" in t for t in chain.posts()), chain.posts()
        yield chain
    finally:
        await h.client.close()
        await wf.stop(0)


async def test_two_questions_offline_the_second_cites_what_the_first_fetched(fake_teams, migrated):  # noqa: F811
    _, factory = migrated
    with scenario() as backends:
        async with diagnosed_chain(fake_teams, factory, backends, EngineSettings(engine="offline")) as chain:
            assert (await chain.ask(FIRST)).status == 200
            [first] = chain.answers()
            assert first.startswith("*Question 1:* Logs of storefront-web") and "ECONNREFUSED 172.20.41.17:80" in first
            assert (await chain.ask(SECOND)).status == 200
            second = chain.answers()[1]
            assert second.startswith("*Question 2:* Dependency unavailable was weighed and ruled out")
            # the log line the first question fetched, cited with where it came from; nothing fetched again
            assert "ECONNREFUSED 172.20.41.17:80" in second and "fetched for question 1 at" in second
            assert "0 tool call(s)" in second
            # every answer went to the chain's conversation, as a reply in it (no new thread)
            answers = [p for p in fake_teams.thread(OPS, chain.root) if shown(p).startswith("*Question")]
            assert {p.conversation for p in answers} == {f"{OPS};messageid={chain.root}"}
    q1, q2 = followups(factory)
    assert {(q.platform, q.channel, q.thread_ref, q.status, q.engine) for q in (q1, q2)} == {
        ("teams", OPS, chain.root, "answered", "offline")}
    assert ("search_logs", {"app": "storefront-web", "limit": 100, "namespace": "shop"}) in tool_calls(factory, q1.session_id)
    assert any(f["tool"] == "search_logs" and any("ECONNREFUSED" in x for x in f["lines"]) for f in q1.evidence)
    assert tool_calls(factory, q2.session_id) == [] and q2.evidence == []
    asked = audit_events(factory, "followup.asked")
    actor = f"teams:{ALICE['aadObjectId']}"
    assert [(e["actor"], e["payload"]["question"]) for e in asked] == [(actor, FIRST), (actor, SECOND)]
    answered = audit_events(factory, "followup.answered")
    assert [(e["subject"], e["payload"]["answered"]) for e in answered] == [
        (f"followup/{q1.id}", True), (f"followup/{q2.id}", True)]
    with factory() as s:
        assert audit.verify(s).ok


async def test_two_questions_with_the_model_second_sees_the_first_evidence(fake_teams, migrated):  # noqa: F811
    _, factory = migrated
    async with scripted_model() as (backends, model, line, seen):
        async with diagnosed_chain(fake_teams, factory, backends, model_engine(model)) as chain:
            await chain.ask("what did the crashing pod log before it died?")
            await chain.ask(SECOND)
            answers, posts = chain.answers(), chain.posts()
        assert len(model.requests) == 4  # the diagnosis, two turns for question 1, one for question 2
    [request] = seen  # question 2's first request: the log line question 1 fetched is in its context
    opening = request["messages"][0]["content"][0]["text"]
    assert line[:200] in opening and "Evidence fetched for Q1" in opening and SECOND in opening
    assert len(answers) == 2 and "Not a dependency" in answers[1]
    assert "*Diagnosis revised:* version 2 (Bad deploy, cart) replaces version 1, which is kept" in answers[1]
    q1, q2 = followups(factory)
    assert tool_calls(factory, q1.session_id) == [("k8s_pod_logs", LOGS_ARGS)]
    assert tool_calls(factory, q2.session_id) == []
    v1, v2 = diagnoses(factory)
    assert (v2.version, v2.category, v2.revises) == (2, REVISED["category"], v1.id) and v2.posted_at is not None
    # version 2 is posted in the same chain, after the answer that announced it
    revised_at = [i for i, t in enumerate(posts) if "Bad deploy" in t and not t.startswith("*Question")]
    assert revised_at and revised_at[-1] > posts.index(answers[1])


async def test_mentions_outside_a_diagnosis_chain_are_not_questions(fake_teams, migrated):  # noqa: F811
    _, factory = migrated
    with scenario() as backends:
        async with diagnosed_chain(fake_teams, factory, backends, EngineSettings(engine="offline")) as chain:
            h, before = chain.h, len(chain.posts())
            # another chain of the same channel, with no diagnosis: the mention does what it did before
            other = Chain(h, "1767000000999")
            assert (await other.ask(SECOND)).status == 200
            assert [t for t in other.posts() if t.startswith("Usage:")], other.posts()
            # a reply in the diagnosis chain without a mention, and another bot mentioning the bot there
            await chain.ask(SECOND, mention=False)
            await chain.ask(SECOND, sender=WORKFLOWS)
            # a new post in the channel (its own chain) mentioning the bot: a command, not a question
            new = activity(OPS, service_url=h.fake.url, text=SECOND, mention=True)
            await h.post(new)
            await h.settle()
            assert [shown(p) for p in h.fake.thread(OPS, new["id"])][0].startswith("Usage:")
            # Bob's command redelivered: the post that started the chain is no question in it
            assert (await h.post(chain.command)).status == 200
            await h.settle()
            assert len(chain.posts()) == before
    assert followups(factory) == [] and audit_events(factory, "followup.asked") == []


async def test_unsigned_and_forged_questions_are_refused(fake_teams, migrated):  # noqa: F811
    _, factory = migrated
    with scenario() as backends:
        async with diagnosed_chain(fake_teams, factory, backends, EngineSettings(engine="offline"),
                                   followup=FollowupConfig(per_thread=1, window_minutes=30)) as chain:
            h, before = chain.h, len(chain.posts())
            assert (await chain.ask(FIRST, token=None)).status == 401
            assert (await chain.ask(FIRST, token=h.fake.token_for(APP_ID, h.fake.url, key=_key()))).status == 401
            assert (await chain.ask(FIRST, token=h.fake.token_for("another-bot-app-id", h.fake.url))).status == 401
            assert len(chain.posts()) == before and followups(factory) == []
            # the same question, signed, is one; the next is over FOLLOWUP_PER_THREAD, said in the chain
            assert (await chain.ask(FIRST)).status == 200
            assert len(chain.answers()) == 1
            await chain.ask(SECOND, sender=BOB)
            assert "FOLLOWUP_PER_THREAD=1" in chain.posts()[-1] and len(chain.answers()) == 1
    [q] = followups(factory)
    assert q.asked_by == f"teams:{ALICE['aadObjectId']}"
    [limited] = audit_events(factory, "followup.rate_limited")
    assert limited["actor"] == f"teams:{BOB['aadObjectId']}"
