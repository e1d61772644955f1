"""The Anthropic engine's tool loop, against the real SDK and a loopback Messages API."""
from __future__ import annotations

import itertools
import json
import time
from datetime import datetime, timezone

import pytest

from agents.llm.pricing import cost_usd
from agents.diagnosis import Diagnosis
from agents.toolrunner import REPEAT_NOTE
from agents.trigger import Trigger
from tools.base import ToolResult
from tests.anthropic_support import VALID, engine_for, make_tool, runner_with
from tests.fake_anthropic import FakeAnthropic, submit, text, tool_use

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

TRIGGER = Trigger(kind="command", text="why is cart restarting?", namespace="shop", service="cart")


def ids(item: dict) -> list[str]:
    return [b["id"] for b in item["content"] if b["type"] == "tool_use"]


def forced(req) -> bool:
    return req.body.get("tool_choice") == {"type": "tool", "name": "submit_diagnosis"}


async def test_tool_results_return_with_matching_ids():
    turn = tool_use(("pods", {"q": "shop"}), ("metrics", {"q": "mem"}))
    runner = runner_with(make_tool("pods", {"pods": ["cart-1"]}),
                         make_tool("metrics", status="error", error="connection refused", source="prometheus"))
    async with FakeAnthropic([turn, submit(VALID)]) as fake:
        d = await engine_for(fake).diagnose(TRIGGER, runner, {})
    assert isinstance(d, Diagnosis) and d.category == "oom_killed" and d.component == "cart"
    results = fake.requests[1].tool_results()
    pods_id, metrics_id = ids(turn)
    assert set(results) == {pods_id, metrics_id}
    assert json.loads(results[pods_id]["content"])["data"] == {"pods": ["cart-1"]}
    assert "is_error" not in results[pods_id]
    assert results[metrics_id]["is_error"] is True and "connection refused" in results[metrics_id]["content"]
    # The assistant turn is echoed back verbatim before the results.
    echoed = fake.requests[1].body["messages"][1]
    assert echoed["role"] == "assistant" and [b["id"] for b in echoed["content"]] == [pods_id, metrics_id]
    assert [c.step for c in runner.tracer.calls] == [1, 1]
    # A source whose tools only failed is reported unavailable.
    assert any(s.startswith("prometheus:") and "connection refused" in s for s in d.unavailable_sources)


async def test_tools_of_one_turn_run_in_parallel():
    runner = runner_with(make_tool("slow_a", "a", sleep=1.0), make_tool("slow_b", "b", sleep=1.0))
    async with FakeAnthropic([tool_use(("slow_a", {}), ("slow_b", {})), submit(VALID)]) as fake:
        started = time.monotonic()
        d = await engine_for(fake).diagnose(TRIGGER, runner, {})
        elapsed = time.monotonic() - started
    assert d.category == "oom_killed"
    assert 1.0 <= elapsed < 1.8, elapsed
    assert len(runner.tracer.calls) == 2


def endless_tools(tool: str = "pods"):
    """A model that always wants one more tool call, but obeys a forced submit_diagnosis."""
    counter = itertools.count()

    def respond(req: dict) -> dict:
        if req.get("tool_choice", {}).get("type") == "tool":
            return submit(VALID)
        return tool_use((tool, {"q": f"call {next(counter)}"}))
    return respond


async def test_step_budget_ends_with_forced_submit():
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic(default=endless_tools()) as fake:
        d = await engine_for(fake, max_steps=3).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed"
    assert len(fake.requests) == 4
    assert [forced(r) for r in fake.requests] == [False, False, False, True]
    last_user = fake.requests[-1].body["messages"][-1]["content"]
    assert last_user[-1]["type"] == "text" and "step limit 3" in last_user[-1]["text"]
    assert len(runner.tracer.calls) == 3


async def test_model_ignoring_the_budget_still_yields_a_diagnosis():
    def stubborn(req: dict) -> dict:
        return tool_use(("pods", {"q": str(len(req["messages"]))}), text="let me look at more pods")

    runner = runner_with(make_tool("pods", {"restarts": 6}))
    async with FakeAnthropic(default=stubborn) as fake:
        d = await engine_for(fake, max_steps=2).diagnose(TRIGGER, runner, {})
    assert len(fake.requests) == 3 and forced(fake.requests[-1])
    assert d.category == "unknown" and d.confidence == 0.0
    assert d.summary == "let me look at more pods"
    assert [e.tool for e in d.evidence] == ["pods", "pods"]


async def test_token_budget_stops_the_loop():
    respond = endless_tools()

    def costly(req: dict) -> dict:
        msg = respond(req)
        msg["usage"] = {"input_tokens": 3000, "output_tokens": 200}
        return msg

    runner = runner_with(make_tool("pods", "ok"))
    # The fake charges the cached system prompt and tools too: the limit leaves room for a few turns of them.
    async with FakeAnthropic(default=costly) as fake:
        d = await engine_for(fake, max_steps=50, max_tokens=1000, max_total_tokens=24_000).diagnose(
            TRIGGER, runner, {})
    assert d.category == "oom_killed"
    assert 2 < len(fake.requests) < 10 and forced(fake.requests[-1])
    used = sum(u.input_tokens + u.output_tokens for u in runner.tracer.usages)
    assert used <= 24_000
    assert any("token limit" in n for n in runner.tracer.notes)


async def test_wall_time_budget_stops_the_loop():
    runner = runner_with(make_tool("pods", "ok", sleep=0.3))
    async with FakeAnthropic(default=endless_tools()) as fake:
        started = time.monotonic()
        d = await engine_for(fake, max_steps=50, max_seconds=1.5).diagnose(TRIGGER, runner, {})
        elapsed = time.monotonic() - started
    assert d.category == "oom_killed"
    assert elapsed < 1.9, elapsed
    assert 3 <= len(fake.requests) <= 6 and forced(fake.requests[-1])
    assert any("time limit" in n for n in runner.tracer.notes)


async def test_no_time_left_gives_best_effort_without_final_request():
    runner = runner_with(make_tool("pods", {"restarts": 4}, sleep=0.5))
    async with FakeAnthropic(default=endless_tools()) as fake:
        d = await engine_for(fake, max_steps=50, max_seconds=0.5).diagnose(TRIGGER, runner, {})
    # One turn, a tool batch that ate the whole budget, then no room for a final answer.
    assert len(fake.requests) == 1
    assert d.category == "unknown" and d.evidence and d.evidence[0].tool == "pods"


async def test_invalid_submit_gets_one_corrective_turn():
    bad = submit({**VALID, "category": "memory_leak", "confidence": 2})
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic([bad, submit(VALID)]) as fake:
        d = await engine_for(fake).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed" and len(fake.requests) == 2
    result = fake.requests[1].tool_results()[ids(bad)[0]]
    assert result["is_error"] is True
    assert "category" in result["content"] and "confidence" in result["content"]
    assert forced(fake.requests[1])


async def test_still_invalid_after_correction_is_best_effort():
    bad = {**VALID, "category": "memory_leak", "summary": "cart leaks memory since the 14:02 deploy"}
    runner = runner_with(make_tool("pods", {"restarts": 6}))
    async with FakeAnthropic([tool_use(("pods", {"q": "shop"})), submit(bad), submit(bad)]) as fake:
        d = await engine_for(fake).diagnose(TRIGGER, runner, {})
    assert len(fake.requests) == 3
    assert d.category == "unknown" and d.summary == bad["summary"] and d.component == "cart"
    assert [e.tool for e in d.evidence] == ["pods"]


async def test_plain_text_answer_is_nudged_once_then_best_effort():
    runner = runner_with(make_tool("pods", {"restarts": 6}))
    script = [tool_use(("pods", {"q": "shop"})), text("I think cart is out of memory."),
              text("Really, it is memory.")]
    async with FakeAnthropic(script) as fake:
        d = await engine_for(fake).diagnose(TRIGGER, runner, {})
    assert len(fake.requests) == 3 and forced(fake.requests[2]) and not forced(fake.requests[1])
    assert d.category == "unknown" and d.summary == "Really, it is memory."
    assert d.evidence[0].tool == "pods"


async def test_repeated_identical_call_returns_earlier_result():
    calls: list = []
    runner = runner_with(make_tool("pods", {"restarts": 6}, calls=calls))
    first, second = tool_use(("pods", {"q": "shop"})), tool_use(("pods", {"q": "shop"}))
    async with FakeAnthropic([first, second, submit(VALID)]) as fake:
        await engine_for(fake).diagnose(TRIGGER, runner, {})
    assert len(calls) == 1
    again = fake.requests[2].tool_results()[ids(second)[0]]
    assert REPEAT_NOTE in again["content"] and '"restarts":6' in again["content"]
    assert [c.cached for c in runner.tracer.calls] == [False, True]


async def test_acting_tools_are_neither_offered_nor_run():
    acted: list = []
    runner = runner_with(make_tool("pods", "ok"), make_tool("restart_deployment", "done", read_only=False,
                                                             calls=acted))
    turn = tool_use(("restart_deployment", {"q": "cart"}))
    async with FakeAnthropic([turn, submit(VALID)]) as fake:
        await engine_for(fake).diagnose(TRIGGER, runner, {})
    offered = [t["name"] for t in fake.requests[0].body["tools"]]
    assert offered == ["pods", "read_result", "submit_diagnosis"]
    assert acted == []
    result = fake.requests[1].tool_results()[ids(turn)[0]]
    assert result["is_error"] is True and "not available" in result["content"]


async def test_usage_and_cost_are_reported_per_response():
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic([tool_use(("pods", {"q": "shop"})), submit(VALID)]) as fake:
        await engine_for(fake, model="claude-sonnet-4-5-20250929").diagnose(TRIGGER, runner, {})
    first, second = runner.tracer.usages
    # The fake caches at each breakpoint: the first request writes, the second reads the prefix.
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens >= first.cache_write_tokens
    for u in (first, second):
        assert u.output_tokens > 0
        expected = (u.input_tokens * 3 + u.output_tokens * 15 + u.cache_write_tokens * 3.75
                    + u.cache_read_tokens * 0.3) / 1e6
        assert u.cost_usd == pytest.approx(expected, rel=1e-3) and u.cost_usd > 0


async def test_unknown_model_costs_zero_with_a_note():
    runner = runner_with(make_tool("pods", "ok"))
    async with FakeAnthropic([submit(VALID)]) as fake:
        await engine_for(fake, model="claude-future-9").diagnose(TRIGGER, runner, {})
    usage = runner.tracer.usages[0]
    assert usage.cost_usd == 0.0 and usage.cache_write_tokens > 0 and usage.output_tokens > 0
    assert any("no price known" in n for n in runner.tracer.notes)
    assert cost_usd("claude-future-9", 10, 10) is None


async def test_unavailable_sources_and_context_reach_the_model_and_the_diagnosis():
    answers = iter([ToolResult.fail("pods(bad)", "bad selector", "test"), {"ok": True}])
    runner = runner_with(make_tool("pods", lambda **_: next(answers)),
                         make_tool("logs", status="error", error="index not found", source="opensearch_logs"))
    script = [tool_use(("pods", {"q": "bad"}), ("logs", {"q": "x"})), tool_use(("pods", {"q": "good"})),
              submit({**VALID, "unavailable_sources": ["opensearch_logs: down", "jaeger: not configured"]})]
    at = datetime(2026, 9, 14, 10, 0, tzinfo=timezone.utc)
    async with FakeAnthropic(script) as fake:
        d = await engine_for(fake).diagnose(Trigger(kind="command", text="cart", at=at), runner,
                                            {"kubernetes": "no kubeconfig"})
    context = fake.requests[0].body["system"][1]["text"]
    assert "2026-09-14T10:00:00+00:00" in context and "kubernetes: no kubeconfig" in context
    assert d.unavailable_sources[0] == "kubernetes: no kubeconfig"
    # Ours win over the model's entry for the same source; its other entries are kept.
    assert [s for s in d.unavailable_sources if s.startswith("opensearch_logs:")] == [
        "opensearch_logs: logs failed: index not found"]
    assert "jaeger: not configured" in d.unavailable_sources
    # "pods" failed once on a bad query and then worked: not an unavailable source.
    assert not any(s.startswith("test:") for s in d.unavailable_sources)
