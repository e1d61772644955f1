"""The digest's summary paragraph: written by the model through the real Anthropic SDK against the
loopback Messages API when an engine is configured, from the digest's own figures; the fixed
deterministic text without one, and whenever the API errors or answers nothing."""
from __future__ import annotations

import json

import pytest

from agents.session import EngineSettings
from bot.digest.render_slack import render_slack
from bot.digest.render_text import render_text
from bot.digest.service import DigestConfig, DigestService
from bot.digest.summary import SYSTEM, deterministic
from bot.digest.week import parse_week, zone
from tests.digest_support import WEEK, seed
from tests.fake_anthropic import FakeAnthropic, api_error, server_error, text
from tests.teams_support import sqlite_factory  # noqa: F401

PARAGRAPH = ("A busy week: 8 incidents against 3. KubePodCrashLooping on cart fired three times and cleared "
             "itself each time, so tune it; NodeNotReady needs a runbook.")


def _service(factory, base_url: str | None, retries: int = 0) -> DigestService:
    engine = EngineSettings(engine="auto", api_key="sk-ant-test" if base_url else None, model="claude-digest-test",
                            base_url=base_url, max_retries=retries)
    return DigestService(factory, {}, DigestConfig(tz=zone("UTC"), engine=engine))


@pytest.fixture
def factory(sqlite_factory):  # noqa: F811
    seed(sqlite_factory)
    return sqlite_factory


async def test_the_model_writes_the_summary_from_the_digest_figures(factory):
    async with FakeAnthropic([text(PARAGRAPH)]) as fake:
        d = await _service(factory, fake.base_url).build(parse_week(WEEK, zone("UTC")))
    assert (d.summary, d.summary_by) == (PARAGRAPH, "claude-digest-test")
    [req] = fake.requests
    assert req.body["model"] == "claude-digest-test" and req.body["system"] == SYSTEM
    facts = json.loads(req.body["messages"][0]["content"])
    assert facts["incidents"] == 8 and facts["scorecard"]["total"]["wrong"] == 2 and "summary" not in facts
    assert facts["recurring"][0]["suggestions"] == ["noisy"]
    assert "summary written by claude-digest-test" in render_text(d)
    assert "summary written by claude-digest-test" in json.dumps(render_slack(d)[1])


@pytest.mark.parametrize("reply", [server_error(), api_error(401, "authentication_error", "invalid x-api-key"),
                                   text("   ")])
async def test_an_api_error_or_an_empty_answer_falls_back_to_the_deterministic_text(factory, reply):
    async with FakeAnthropic([reply, reply, reply]) as fake:
        d = await _service(factory, fake.base_url).build(parse_week(WEEK, zone("UTC")))
    assert fake.requests  # the model was asked
    assert d.summary_by == "deterministic" and d.summary == deterministic(d) and d.summary.startswith("8 incidents")


async def test_retries_of_an_overloaded_api_then_the_model_answers(factory):
    async with FakeAnthropic([server_error(), text(PARAGRAPH)]) as fake:
        d = await _service(factory, fake.base_url, retries=2).build(parse_week(WEEK, zone("UTC")))
    assert len(fake.requests) == 2 and d.summary == PARAGRAPH


async def test_without_a_model_the_summary_is_deterministic(factory):
    d = await _service(factory, None).build(parse_week(WEEK, zone("UTC")))
    assert d.summary_by == "deterministic" and d.summary == deterministic(d)
    assert "summary written by" not in render_text(d)


async def test_an_openai_compatible_server_writes_the_summary_without_a_key(factory):
    """LLM_PROVIDER=openai (a self-hosted vLLM or Ollama: a URL, no key) writes the paragraph too."""
    from tests.fake_openai import FakeOpenAI
    from tests.fake_openai import text as openai_text

    async with FakeOpenAI([openai_text(PARAGRAPH)], require_key=False) as fake:
        engine = EngineSettings(engine="auto", provider="openai", api_key=None, model="qwen2.5:14b-instruct",
                                base_url=fake.base_url, max_retries=0)
        d = await DigestService(factory, {}, DigestConfig(tz=zone("UTC"), engine=engine)).build(
            parse_week(WEEK, zone("UTC")))
    assert (d.summary, d.summary_by) == (PARAGRAPH, "qwen2.5:14b-instruct")
    [req] = fake.requests
    assert req.body["messages"][0] == {"role": "system", "content": SYSTEM}
    assert json.loads(req.body["messages"][1]["content"])["incidents"] == 8
