"""Follow-up questions in a Slack diagnosis thread, end to end: the real server (inbound signature and
shape checks, slack-bolt) over the loopback Slack fake, the real Workflow over the shop-cart-crashloop
scenario (Kubernetes and OpenSearch fakes), SQLite and PostgreSQL. Two questions per thread, answered
in the thread; the second answer uses the evidence fetched for the first: the offline answer cites it
and fetches nothing, and the scripted model on the loopback Messages API finds it in its context. A
model answer revises the diagnosis: version 2 is posted, version 1 kept and linked. Other bots, the bot
itself and threads that are not diagnosis threads get no follow-up; questions are rate-limited per
thread and audited."""
from __future__ import annotations

import json
import time
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from agents.session import EngineSettings
from bot import audit
from bot.followup import store
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.followup import FollowupConfig
from tests.fake_anthropic import FakeAnthropic
from tests.fake_slack import DEFAULT_TOKEN
from tests.followup_support import (FIRST, LOGS_ARGS, REVISED, SECOND, diagnoses, followups, last_log_line,
                                    model_engine, model_script, scenario, scenario_workflow, session, tool_calls)
from tests.remediation_support import audit_events
from tests.slack_support import OTHER_CHANNEL, TEAM, eventually, fake, start_harness  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


def mention_body(msg: dict, event_id: str, **event_changes) -> str:
    """The app_mention event Slack sends for `msg` (a message mentioning the bot), in its documented shape."""
    event = {"type": "app_mention", "user": msg.get("user"), "text": msg["text"], "ts": msg["ts"],
             "channel": OTHER_CHANNEL, "event_ts": msg["ts"], "team": TEAM, **event_changes}
    if msg.get("thread_ts"):
        event["thread_ts"] = msg["thread_ts"]
    return json.dumps({"token": "legacy", "team_id": TEAM, "api_app_id": "A0FAKEAPP", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": TEAM, "user_id": "U0FAKEBOT", "is_bot": True}]})


class Thread:
    def __init__(self, h, ts: str):
        self.h, self.ts, self.n = h, ts, 0

    async def ask(self, text: str, user: str = "U0ALICE", **event_changes):
        self.n += 1
        msg = self.h.fake.add_message(OTHER_CHANNEL, f"<@{self.h.fake.bot_user_id}> {text}", user=user,
                                      thread_ts=self.ts)
        return await self.h.event(mention_body(msg, f"EvQ{self.n}", **event_changes))

    def answers(self) -> list[str]:
        return [m["text"] for m in self.h.fake.thread(OTHER_CHANNEL, self.ts)
                if m.get("user") == self.h.fake.bot_user_id and m["text"].startswith("*Question")]

    async def answered(self, n: int) -> list[str]:
        assert await eventually(lambda: len(followups(self.h.workflow.factory)) >= n or self.h.fake.ephemerals, 20)
        await self.h.workflow.drain(60)
        assert await eventually(lambda: len(self.answers()) >= n, 20), self.answers()
        return self.answers()


async def diagnosed(h) -> Thread:
    """U0REQ asks /diagnose shop/cart; the workflow posts the diagnosis in the command's thread."""
    assert await h.workflow.on_command("shop/cart", platform="slack", channel=OTHER_CHANNEL, user="U0REQ") is None
    await h.workflow.drain(60)
    root = h.fake.messages(OTHER_CHANNEL)[0]
    assert any(m.get("blocks") and m["blocks"][0]["type"] == "header" for m in h.fake.thread(OTHER_CHANNEL, root["ts"]))
    return Thread(h, root["ts"])


@asynccontextmanager
async def diagnosed_thread(fake, factory, backends, engine, **wf_kw):  # noqa: F811
    """The real server and Workflow; U0REQ's /diagnose shop/cart diagnosed in its thread."""
    wf = scenario_workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake.url))}, engine, backends,
                           **wf_kw)
    h = await start_harness(fake, workflow=wf)
    try:
        yield await diagnosed(h)
    finally:
        await h.client.close()
        await wf.stop(0)


async def test_two_questions_offline_the_second_cites_what_the_first_fetched(fake, migrated):  # noqa: F811
    _, factory = migrated
    with scenario() as backends:
        async with diagnosed_thread(fake, factory, backends, EngineSettings(engine="offline")) as thread:
            h, wf = thread.h, thread.h.workflow
            assert (await thread.ask(FIRST)).status == 200
            [first] = await thread.answered(1)
            assert first.startswith("*Question 1:* Logs of storefront-web") and "ECONNREFUSED 172.20.41.17:80" in first
            assert (await thread.ask(SECOND)).status == 200
            second = (await thread.answered(2))[1]
            assert second.startswith("*Question 2:* Dependency unavailable was weighed and ruled out")
            # the log line the first question fetched, cited with where it came from; nothing fetched again
            assert "ECONNREFUSED 172.20.41.17:80" in second and "fetched for question 1 at" in second
            assert "search_logs(app=storefront-web" in second and "0 tool call(s)" in second
            assert (await thread.ask("what is the blast radius?")).status == 200
            third = (await thread.answered(3))[2]
            assert "I can't answer that without a model" in third and "why not X?" in third
    q1, q2, q3 = followups(factory)
    assert [q.status for q in (q1, q2, q3)] == ["answered"] * 3 and {q.engine for q in (q1, q2, q3)} == {"offline"}
    assert ("search_logs", {"app": "storefront-web", "limit": 100, "namespace": "shop"}) in tool_calls(factory, q1.session_id)
    assert any(f["tool"] == "search_logs" and any("ECONNREFUSED" in x for x in f["lines"]) for f in q1.evidence)
    assert tool_calls(factory, q2.session_id) == [] and q2.evidence == []
    assert session(factory, q2.session_id).trigger == "followup"
    # audited: who asked what, and how each was answered
    asked = audit_events(factory, "followup.asked")
    assert [(e["actor"], e["payload"]["question"]) for e in asked] == [
        ("slack:U0ALICE", FIRST), ("slack:U0ALICE", SECOND), ("slack:U0ALICE", "what is the blast radius?")]
    answered = audit_events(factory, "followup.answered")
    assert [(e["subject"], e["payload"]["engine"], e["payload"]["answered"]) for e in answered] == [
        (f"followup/{q1.id}", "offline", True), (f"followup/{q2.id}", "offline", True),
        (f"followup/{q3.id}", "offline", False)]
    assert answered[0]["payload"]["tool_calls"] >= 1 and answered[1]["payload"]["tool_calls"] == 0
    with factory() as s:
        assert audit.verify(s).ok


async def test_two_questions_with_the_model_second_sees_the_first_evidence_and_revises(fake, migrated):  # noqa: F811
    _, factory = migrated
    seen: list[dict] = []
    with scenario() as backends:
        line = await last_log_line(backends)
        async with FakeAnthropic(model_script(line, seen)) as model:
            async with diagnosed_thread(fake, factory, backends, model_engine(model)) as thread:
                await thread.ask("what did the crashing pod log before it died?")
                [first] = await thread.answered(1)
                await thread.ask(SECOND)
                second = (await thread.answered(2))[1]
            assert len(model.requests) == 4  # the diagnosis, two turns for question 1, one for question 2
            # Question 1's tool call ran for real: its result went back to the model
            q1_tools = model.requests[2].tool_results()
            assert len(q1_tools) == 1 and not next(iter(q1_tools.values())).get("is_error")
    # the second question's first request holds the log line the first question fetched, as evidence
    [request] = seen
    opening = request["messages"][0]["content"][0]["text"]
    assert line[:200] in opening and "Evidence fetched for Q1" in opening and SECOND in opening
    assert "answer_question" in {t["name"] for t in request["tools"]}
    assert "Not a dependency" in second and "tool call(s)" in second and "tokens" in second
    assert "*Diagnosis revised:* version 2 (Bad deploy, cart) replaces version 1, which is kept" in second
    q1, q2 = followups(factory)
    assert tool_calls(factory, q1.session_id) == [("k8s_pod_logs", LOGS_ARGS)]
    assert tool_calls(factory, q2.session_id) == []
    spent = session(factory, q2.session_id)  # the follow-up's own tokens, recorded on its session
    assert spent.input_tokens + spent.cache_write_tokens > 0 and spent.output_tokens > 0
    # the revision is a new version linked to the old one, which is kept unchanged, with the same scope
    v1, v2 = diagnoses(factory)
    assert (v1.version, v1.category, v1.revises) == (1, "oom_killed", None)
    assert (v2.version, v2.category, v2.revises, v2.scope) == (2, REVISED["category"], v1.id, v1.scope)
    assert q2.revised_diagnosis_id == v2.id and q1.revised_diagnosis_id is None and v2.posted_at is not None
    [revised] = audit_events(factory, "diagnosis.revised")
    p = revised["payload"]
    assert (p["version"], p["revises"], p["previous_category"], p["followup"]) == (2, v1.id, "oom_killed", q2.id)
    # the new version is posted in the thread with its own buttons; the proposal outside the incident's
    # scope (prod/payments, named by the model) gets none, and is audited as refused
    posts = [m for m in fake.thread(OTHER_CHANNEL, thread.ts) if m.get("blocks") and m["blocks"][0]["type"] == "header"]
    assert len(posts) == 2
    shown = json.dumps(posts[1]["blocks"])
    assert "Bad deploy" in shown and "Not offered: outside this incident's scope" in shown
    buttons = [e for b in posts[1]["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["action_id"] == "proposal_approve"]
    assert len(buttons) == 1 and "shop/cart" in buttons[0]["confirm"]["text"]["text"]
    refused = audit_events(factory, "proposal.refused")
    assert any(e["payload"].get("target") == "payments" for e in refused), refused


async def test_only_people_in_diagnosis_threads_ask(fake, migrated):  # noqa: F811
    _, factory = migrated
    with scenario() as backends:
        async with diagnosed_thread(fake, factory, backends, EngineSettings(engine="offline")) as thread:
            h, wf = thread.h, thread.h.workflow
            # another bot, and the bot itself, mentioning the bot in the thread
            assert (await thread.ask(FIRST, user="U0OTHERBOT", bot_id="B0OTHER")).status == 200
            assert (await thread.ask(FIRST, user=fake.bot_user_id)).status == 200
            # an unsigned mention never reaches the app
            msg = fake.add_message(OTHER_CHANNEL, f"<@{fake.bot_user_id}> {FIRST}", user="U0EVE", thread_ts=thread.ts)
            unsigned = await h.post_slack(mention_body(msg, "EvX"), "application/json", headers={})
            assert unsigned.status == 401
            # a person in a thread the bot has no diagnosis in: not a follow-up (the mention is a /diagnose)
            other = fake.add_message(OTHER_CHANNEL, "lunch?", user="U0BOB")
            reply = fake.add_message(OTHER_CHANNEL, f"<@{fake.bot_user_id}> hello", user="U0BOB",
                                     thread_ts=other["ts"])
            await h.event(mention_body(reply, "EvY"))
            assert await eventually(lambda: any(m["text"].startswith("Investigating `hello`")
                                                for m in fake.messages(OTHER_CHANNEL)), 10)
            await wf.drain(30)
    assert followups(factory) == [] and thread.answers() == []
    assert audit_events(factory, "followup.asked") == []


async def test_questions_are_rate_limited_per_thread(fake, migrated):  # noqa: F811
    _, factory = migrated
    with scenario() as backends:
        async with diagnosed_thread(fake, factory, backends, EngineSettings(engine="offline"),
                                    followup=FollowupConfig(per_thread=1, window_minutes=30)) as thread:
            h, wf = thread.h, thread.h.workflow
            await thread.ask(FIRST)
            await thread.answered(1)
            await thread.ask(SECOND, user="U0CAROL")
            assert await eventually(lambda: fake.ephemerals, 10)
            refusal = fake.ephemerals[-1]
            assert refusal["user"] == "U0CAROL" and refusal["thread_ts"] == thread.ts
            assert "FOLLOWUP_PER_THREAD=1" in refusal["text"] and "last 30 minutes" in refusal["text"]
            await wf.drain(30)
            assert len(thread.answers()) == 1 and len(followups(factory)) == 1
            [limited] = audit_events(factory, "followup.rate_limited")
            assert limited["actor"] == "slack:U0CAROL" and limited["payload"]["limit"] == 1
            # once the window has passed, the thread may ask again
            later = followups(factory)[0].created_at + timedelta(minutes=31)
            again = store.ask(factory, wf.jobs, platform="slack", channel=OTHER_CHANNEL, thread=thread.ts,
                              request_key="slack:later", asked_by="slack:U0CAROL", question=SECOND, limit=1,
                              window_minutes=30, now=later)
            assert again.status == "queued"
            # a redelivered message asks nothing twice
            dup = store.ask(factory, wf.jobs, platform="slack", channel=OTHER_CHANNEL, thread=thread.ts,
                            request_key="slack:later", asked_by="slack:U0CAROL", question=SECOND, limit=5,
                            window_minutes=30, now=later)
            assert dup.status == "duplicate"
