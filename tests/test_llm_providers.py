"""What differs between the providers: Anthropic's pause_turn, OpenAI-compatible servers that report
no usage or reject a request, OpenAI's prefix-cache accounting; and tool budgets scaled to the window."""
from __future__ import annotations

import json

import pytest

from agents.llm.errors import EngineUnavailable
from agents.trigger import Trigger
from tests import fake_anthropic as fa
from tests import fake_openai as fo
from tests.anthropic_support import VALID, make_tool, runner_with
from tests.provider_kits import ANTHROPIC, OPENAI
from tools.base import MIN_BUDGET_BYTES, OUTPUT_SCALE, ToolRegistry
from tools.redact import Redactor

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

TRIGGER = Trigger(kind="command", text="why is cart restarting?", namespace="shop", service="cart")


async def test_anthropic_pause_turn_is_sent_back_to_continue():
    paused = fa.text("Looking at the pods first.", stop_reason="pause_turn")
    async with fa.FakeAnthropic([paused, fa.submit(VALID)]) as fake:
        d = await ANTHROPIC.engine(fake).diagnose(TRIGGER, runner_with(make_tool("pods", "ok")), {})
    assert d.category == "oom_killed" and len(fake.requests) == 2
    last = fake.requests[1].body["messages"][-1]
    assert last["role"] == "assistant" and last["content"][0]["text"] == "Looking at the pods first."


async def test_openai_server_without_usage_is_estimated():
    runner = runner_with(make_tool("pods", {"restarts": 6}))
    async with fo.FakeOpenAI([fo.tool_calls(("pods", {"q": "shop"})), fo.submit(VALID)], usage=False) as fake:
        d = await OPENAI.engine(fake).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed"
    first, second = runner.tracer.usages
    assert len(fake.requests[0].raw) // 5 < first.input_tokens < len(fake.requests[0].raw) // 3
    assert second.input_tokens > first.input_tokens and first.output_tokens > 0


async def test_openai_prefix_cache_is_read_from_usage_and_priced_lower():
    runner = runner_with(make_tool("pods", "ok"))
    async with fo.FakeOpenAI([fo.tool_calls(("pods", {"q": "a"})), fo.submit(VALID)]) as fake:
        await OPENAI.engine(fake).diagnose(TRIGGER, runner, {})
    first, second = runner.tracer.usages
    assert first.cache_read_tokens == 0 and second.cache_read_tokens >= 1024
    # gpt-4o: $2.50 per million input, cached at half price, $10 per million output.
    expected = (second.input_tokens * 2.5 + second.cache_read_tokens * 1.25 + second.output_tokens * 10) / 1e6
    assert second.cost_usd == pytest.approx(expected, rel=1e-3)
    # The request keeps the static system prompt first, so the prefix stays cacheable.
    system = fake.requests[0].body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are the incident engineer")


@pytest.mark.parametrize("status,type_", [(400, "invalid_request_error"), (401, "invalid_request_error"),
                                          (404, "not_found_error")])
async def test_openai_client_errors_are_not_retried(status, type_):
    async with fo.FakeOpenAI(default=fo.api_error(status, type_, "model 'qwen' not found")) as fake:
        with pytest.raises(EngineUnavailable) as err:
            await OPENAI.engine(fake).diagnose(TRIGGER, runner_with(), {})
    assert len(fake.requests) == 1 and err.value.status == status and "model 'qwen' not found" in err.value.reason


async def test_local_server_needs_no_key_and_unknown_model_is_tokens_only():
    from agents.openai import OpenAIEngine

    runner = runner_with(make_tool("pods", "ok"))
    async with fo.FakeOpenAI([fo.submit(VALID)], require_key=False) as fake:
        engine = OpenAIEngine("qwen2.5:14b-instruct", base_url=fake.base_url, retry_base_delay=0.001)
        d = await engine.diagnose(TRIGGER, runner, {})
        await engine.aclose()
    assert d.category == "oom_killed" and fake.requests[0].body["model"] == "qwen2.5:14b-instruct"
    assert runner.tracer.usages[0].cost_usd == 0 and runner.tracer.usages[0].output_tokens > 0
    assert any("no price known" in n for n in runner.tracer.notes)


async def test_tool_budget_follows_the_window_and_keeps_the_full_data():
    rows = [{"pod": f"cart-{i}", "line": "x" * 80} for i in range(200)]
    registry = ToolRegistry(redactor=Redactor()).register(make_tool("pods", lambda **_: {"rows": list(rows)}))
    wide = await registry.run("pods", {})
    token = OUTPUT_SCALE.set(0.05)  # a 10k-token window
    try:
        narrow = await registry.run("pods", {})
    finally:
        OUTPUT_SCALE.reset(token)
    assert 5000 < wide.size_bytes() <= 6000 and narrow.size_bytes() <= MIN_BUDGET_BYTES
    assert narrow.truncated and narrow.full == {"rows": rows} and wide.full == {"rows": rows}
    registry.register(make_tool("one", {"a": 1}))
    assert (await registry.run("one", {})).full is None  # within budget: nothing kept twice
    assert json.loads(narrow.to_text())["data"] != {"rows": rows}


@pytest.mark.parametrize("model,key", [("qwen2.5:14b-instruct", "max_tokens"), ("gpt-4o", "max_tokens"),
                                       ("o3-mini", "max_completion_tokens"), ("openai/gpt-5", "max_completion_tokens")])
async def test_reasoning_models_get_max_completion_tokens(model, key):
    from agents.openai import OpenAIEngine

    async with fo.FakeOpenAI([fo.submit(VALID)], require_key=False) as fake:
        engine = OpenAIEngine(model, base_url=fake.base_url, retry_base_delay=0.001)
        await engine.diagnose(TRIGGER, runner_with(make_tool("pods", "ok")), {})
        await engine.aclose()
    body = fake.requests[0].body
    other = {"max_tokens", "max_completion_tokens"} - {key}
    assert body[key] > 0 and not other & set(body)
