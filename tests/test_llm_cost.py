"""Tokens and cost of a diagnosis: on the Diagnosis, in the text, Slack and Teams renderings, in the
stored document, and in /metrics for an OpenAI-compatible session; plus the settings that pick a provider."""
from __future__ import annotations

import json

import pytest

from agents.diagnosis import Diagnosis, ModelCost, submit_schema
from agents.trigger import Trigger
from bot.render_text import render_diagnosis
from bot.sessions import diagnose_and_record
from bot.settings import Settings
from bot.slack import blocks as slack_blocks
from bot.teams import cards as teams_cards
from bot.wiring import engine_settings
from bot.workflow.surface import DiagnosisPost
from tests.anthropic_support import VALID, make_tool
from tests.fake_openai import FakeOpenAI, submit, tool_calls
from tests.provider_kits import OPENAI
from tests.test_metrics import changed, key, samples
from tools.base import ToolRegistry
from tools.redact import Redactor

TRIGGER = Trigger(kind="command", text="why is shop/cart restarting?", namespace="shop", service="cart")
PRICED = ModelCost(model="gpt-4o", input_tokens=12_000, output_tokens=340, cache_read_tokens=40_000, usd=0.0512)
UNPRICED = ModelCost(model="qwen2.5:14b-instruct", input_tokens=9_000, output_tokens=500)


def diagnosis(cost: ModelCost | None) -> Diagnosis:
    return Diagnosis.model_validate({**VALID, "proposals": []}).model_copy(update={"cost": cost})


def test_cost_line_and_schema():
    assert PRICED.line() == "gpt-4o: 12,340 tokens (+40,000 read from cache) · $0.0512"
    assert UNPRICED.line() == "qwen2.5:14b-instruct: 9,500 tokens · no price known"
    assert "cost" not in json.dumps(submit_schema())  # the model never fills it in
    d = diagnosis(PRICED)
    assert Diagnosis.model_validate(d.model_dump(mode="json")).cost == PRICED  # survives the stored document


@pytest.mark.parametrize("cost", [PRICED, UNPRICED])
def test_cost_rendered_in_text_slack_and_teams(cost):
    d = diagnosis(cost)
    assert f"Model use: {cost.line()}" in render_diagnosis(d)
    _, blocks = slack_blocks.diagnosis(DiagnosisPost("INC1", "S1", d, engine="openai"))
    meta = next(b for b in blocks if b.get("block_id") == "diagnosis_meta")
    assert cost.line() in json.dumps(meta, ensure_ascii=False)
    card = teams_cards.diagnosis_card(DiagnosisPost("INC1", "S1", d, engine="openai"))
    assert cost.line() in json.dumps(card, ensure_ascii=False)
    # Without a model (the offline engine) no line at all.
    plain = diagnosis(None)
    assert "Model use" not in render_diagnosis(plain)
    assert "tokens" not in json.dumps(slack_blocks.diagnosis(DiagnosisPost("INC1", "S1", plain))[1])


async def test_openai_session_counts_tokens_and_cost_in_metrics(migrated):
    _, factory = migrated
    registry = ToolRegistry(redactor=Redactor()).register(make_tool("k8s_pods", {"items": [{"name": "cart-1"}]}))
    before = samples()
    async with FakeOpenAI([tool_calls(("k8s_pods", {"q": "shop"})), submit(VALID)]) as fake:
        rec = await diagnose_and_record(factory, TRIGGER, registry, {}, OPENAI.settings(fake))
    d, u = rec.result.diagnosis, rec.result.usage
    assert rec.result.engine == "openai" and d.cost.usd == pytest.approx(u.cost_usd) and u.cost_usd > 0
    moved = changed(before, samples(), "chatops_sessions_total", "chatops_model")
    model = OPENAI.model
    assert moved.pop(key("chatops_model_cost_usd_total", model=model)) == pytest.approx(u.cost_usd)
    assert moved == {key("chatops_sessions_total", engine="openai", outcome="succeeded"): 1,
                     **{key("chatops_model_tokens_total", model=model, kind=k): n
                        for k, n in {"input": u.input_tokens, "output": u.output_tokens,
                                     "cache_read": u.cache_read_tokens}.items() if n}}


def test_settings_pick_the_provider(monkeypatch):
    for k in ("LLM_PROVIDER", "LLM_MODEL", "ANTHROPIC_MODEL", "LLM_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
              "AGENT_ENGINE", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    default = engine_settings(Settings(_env_file=None))
    assert default.chosen() == "offline" and default.provider == "anthropic" and default.model == "claude-sonnet-5-5"
    monkeypatch.setenv("ANTHROPIC_MODEL", "claude-opus-4-5")  # the old name still works
    assert engine_settings(Settings(_env_file=None)).model == "claude-opus-4-5"
    local = engine_settings(Settings(_env_file=None, llm_provider="openai", llm_model="qwen2.5:14b-instruct",
                                     llm_base_url="http://127.0.0.1:11434/v1", llm_context_window=32_768,
                                     agent_max_tool_calls_per_turn=4))
    # A self-hosted server needs no key: its URL is enough for auto to choose it.
    assert local.chosen() == "openai" and local.api_key is None and local.model == "qwen2.5:14b-instruct"
    assert local.limits()["context_window"] == 32_768 and local.limits()["max_tool_calls_per_turn"] == 4
    keyed = engine_settings(Settings(_env_file=None, llm_provider="openai", llm_model="gpt-4o",
                                     openai_api_key="sk-proj-x", anthropic_api_key="sk-ant-y"))
    assert keyed.chosen() == "openai" and keyed.api_key == "sk-proj-x" and keyed.base_url is None
    assert "sk-proj-x" not in repr(Settings(_env_file=None, openai_api_key="sk-proj-x"))


async def test_openai_without_model_falls_back_with_a_clear_reason():
    from agents.session import EngineSettings, run_diagnosis

    registry = ToolRegistry(redactor=Redactor()).register(make_tool("k8s_pods", {"items": []}))
    async with FakeOpenAI([submit(VALID)]) as fake:
        result = await run_diagnosis(TRIGGER, registry, {}, EngineSettings(engine="openai", base_url=fake.base_url,
                                                                          model=""))
    assert result.engine == "offline" and "LLM_MODEL is not set" in result.fallback_reason and not fake.requests
    assert result.diagnosis.cost is None
