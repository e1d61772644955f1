"""The shared tool loop, run the same way against the Anthropic and the OpenAI-compatible fakes:
parallel tools, budgets, retries then fallback, malformed arguments corrected, the per-turn cap,
cut answers and refusals, redaction of every request, and full results read back with read_result."""
from __future__ import annotations

import itertools
import json
import re
import time

import pytest

from agents.session import run_diagnosis
from agents.trigger import Trigger
from tests.anthropic_support import VALID, make_tool, runner_with
from tests.provider_kits import KITS
from tests.test_anthropic_api import SECRETS, secret_alert
from tools.base import ToolRegistry
from tools.redact import Redactor

pytestmark = [pytest.mark.parametrize("kit", KITS),
              pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")]

TRIGGER = Trigger(kind="command", text="why is cart restarting?", namespace="shop", service="cart")


def endless(kit, tool: str = "pods"):
    """A model that always wants one more tool call, but obeys a forced submit_diagnosis."""
    counter = itertools.count()

    def respond(req: dict) -> dict:
        if req.get("tool_choice") not in ({"type": "auto"}, "auto", None):
            return kit.submit(VALID)
        return kit.tool_use((tool, {"q": f"call {next(counter)}"}))
    return respond


async def test_parallel_tools_answered_with_matching_ids(kit):
    turn = kit.tool_use(("slow_a", {"q": "a"}), ("slow_b", {"q": "b"}))
    runner = runner_with(make_tool("slow_a", {"pods": ["cart-1"]}, sleep=1.0),
                         make_tool("slow_b", status="error", error="connection refused", sleep=1.0, source="prometheus"))
    async with kit.fake([turn, kit.submit(VALID)]) as fake:
        started = time.monotonic()
        d = await kit.engine(fake).diagnose(TRIGGER, runner, {})
        elapsed = time.monotonic() - started
    assert d.category == "oom_killed" and 1.0 <= elapsed < 1.8, elapsed
    a_id, b_id = kit.ids(turn)
    results = kit.results(fake.requests[1])
    assert set(results) == {a_id, b_id}
    assert json.loads(results[a_id][0])["data"] == {"pods": ["cart-1"]} and results[a_id][1] is False
    assert results[b_id][1] is True and "connection refused" in results[b_id][0]
    assert any(s.startswith("prometheus:") for s in d.unavailable_sources)


async def test_step_budget_ends_with_forced_submit(kit):
    runner = runner_with(make_tool("pods", "ok"))
    async with kit.fake(default=endless(kit)) as fake:
        d = await kit.engine(fake, max_steps=3).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed"
    assert [kit.forced(r) for r in fake.requests] == [False, False, False, True]
    assert "step limit 3" in fake.requests[-1].raw and len(runner.tracer.calls) == 3


def _usage(kit, fresh: int, cached: int, output: int = 100) -> dict:
    if kit.name == "anthropic":
        return {"input_tokens": fresh, "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0,
                "output_tokens": output}
    return {"prompt_tokens": fresh + cached, "completion_tokens": output,
            "prompt_tokens_details": {"cached_tokens": cached}}


async def test_cache_reads_do_not_count_in_the_token_budget(kit):
    respond = endless(kit)

    def cached_heavily(req: dict) -> dict:
        return {**respond(req), "usage": _usage(kit, fresh=200, cached=60_000)}

    runner = runner_with(make_tool("pods", "ok"))
    async with kit.fake(default=cached_heavily) as fake:
        d = await kit.engine(fake, max_steps=6, max_tokens=1000, max_total_tokens=20_000).diagnose(TRIGGER, runner, {})
    # 60k cached tokens a turn would end the session after one turn if they counted at full weight.
    assert d.category == "oom_killed" and len(fake.requests) == 7
    assert not any("token limit" in n for n in runner.tracer.notes)
    assert all(u.cache_read_tokens == 60_000 and u.input_tokens == 200 for u in runner.tracer.usages)


async def test_uncached_tokens_stop_the_loop(kit):
    respond = endless(kit)

    def costly(req: dict) -> dict:
        return {**respond(req), "usage": _usage(kit, fresh=3000, cached=0, output=200)}

    runner = runner_with(make_tool("pods", "ok"))
    async with kit.fake(default=costly) as fake:
        d = await kit.engine(fake, max_steps=50, max_tokens=1000, max_total_tokens=24_000).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed" and 2 < len(fake.requests) < 10 and kit.forced(fake.requests[-1])
    assert sum(u.input_tokens + u.output_tokens for u in runner.tracer.usages) <= 24_000
    assert any("token limit" in n for n in runner.tracer.notes)


async def test_dollar_budget_stops_the_loop(kit):
    runner = runner_with(make_tool("pods", "ok"))
    async with kit.fake(default=endless(kit)) as fake:
        d = await kit.engine(fake, max_steps=50, max_tokens=1000, max_cost_usd=0.1).diagnose(TRIGGER, runner, {})
    spent = sum(u.cost_usd for u in runner.tracer.usages)
    assert d.category == "oom_killed" and kit.forced(fake.requests[-1]) and 0 < spent <= 0.1
    assert any("cost limit $0.1" in n for n in runner.tracer.notes) and 3 < len(fake.requests) < 50


async def test_transient_failure_retried_then_unavailable_falls_back_to_offline(kit):
    registry = ToolRegistry(redactor=Redactor()).register(make_tool("k8s_pods", {"items": []}))
    async with kit.fake([kit.tool_use(("k8s_pods", {"q": "a"})), kit.overloaded(), kit.submit(VALID)]) as fake:
        ok = await run_diagnosis(TRIGGER, registry, {}, kit.settings(fake, retry_base_delay=0.001))
    assert ok.engine == kit.name and ok.diagnosis.category == "oom_killed" and len(fake.requests) == 3
    assert fake.requests[1].body == fake.requests[2].body  # the same conversation, retried
    async with kit.fake(default=kit.overloaded()) as fake:
        down = await run_diagnosis(TRIGGER, registry, {}, kit.settings(fake, retry_base_delay=0.001))
    assert len(fake.requests) == 4  # 1 try + 3 retries
    assert down.engine == "offline" and down.fallback_reason.startswith("EngineUnavailable")
    assert "overloaded" in down.fallback_reason.lower()


async def test_malformed_arguments_get_one_corrective_turn(kit):
    calls: list = []
    runner = runner_with(make_tool("pods", {"restarts": 6}, calls=calls))
    bad = kit.malformed("pods")
    async with kit.fake([bad, kit.tool_use(("pods", {"q": "shop"})), kit.submit(VALID)]) as fake:
        d = await kit.engine(fake).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed" and calls == [{"q": "shop"}]  # the malformed call never ran
    content, is_error = kit.results(fake.requests[1])[kit.ids(bad)[0]]
    assert is_error and "arguments of pods are invalid" in content and "did not run" in content
    assert not kit.forced(fake.requests[1]) and not kit.forced(fake.requests[2])
    # Still malformed after the correction: the model is asked for its final answer.
    runner = runner_with(make_tool("pods", {"restarts": 6}))
    async with kit.fake([kit.malformed("pods"), kit.malformed("pods"), kit.submit(VALID)]) as fake:
        d = await kit.engine(fake).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed" and [kit.forced(r) for r in fake.requests] == [False, False, True]
    assert runner.tracer.calls == []


async def test_per_turn_cap_on_tool_calls(kit):
    calls: list = []
    runner = runner_with(make_tool("pods", "ok", calls=calls))
    turn = kit.tool_use(*(("pods", {"q": f"p{i}"}) for i in range(5)))
    async with kit.fake([turn, kit.submit(VALID)]) as fake:
        await kit.engine(fake, max_tool_calls_per_turn=2).diagnose(TRIGGER, runner, {})
    assert calls == [{"q": "p0"}, {"q": "p1"}]
    results = kit.results(fake.requests[1])
    assert len(results) == 5  # every call answered, as both APIs require
    refused = [results[i] for i in kit.ids(turn)[2:]]
    assert all(err and "at most 2 tool calls per turn" in c for c, err in refused)


async def test_answer_cut_at_max_tokens_is_dropped_and_asked_again(kit):
    calls: list = []
    runner = runner_with(make_tool("pods", "ok", calls=calls))
    script = [kit.cut(("pods", {"q": "cut"})), kit.tool_use(("pods", {"q": "whole"})), kit.submit(VALID)]
    async with kit.fake(script) as fake:
        d = await kit.engine(fake).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed" and calls == [{"q": "whole"}]
    assert "cut off at the output limit" in fake.requests[1].raw and '\\"cut\\"' not in fake.requests[1].raw
    assert any("answer cut" in n for n in runner.tracer.notes)
    async with kit.fake(default=kit.cut(("pods", {"q": "cut"}))) as fake:
        d = await kit.engine(fake).diagnose(TRIGGER, runner_with(make_tool("pods", "ok")), {})
    assert d.category == "unknown" and len(fake.requests) == 2


async def test_refusal_falls_back_to_offline(kit):
    registry = ToolRegistry(redactor=Redactor()).register(make_tool("k8s_pods", {"items": []}))
    async with kit.fake([kit.refusal()]) as fake:
        result = await run_diagnosis(TRIGGER, registry, {}, kit.settings(fake))
    assert result.engine == "offline" and "refused" in result.fallback_reason and len(fake.requests) == 1


def _page_reader(kit, first_turn: dict):
    """Calls `logs`, then pages through its full result with read_result, then submits."""
    state: dict = {"rid": None, "pages": [], "turns": 0}

    def respond(req: dict) -> dict:
        state["turns"] += 1
        if state["turns"] == 1:
            return first_turn
        last = _last_result(kit, req)
        if state["rid"] is None:
            found = json.loads(last)
            assert found.get("truncated") or found.get("reduced"), found
            state["rid"], state["full"] = found["result_id"], found["full_chars"]
            return kit.tool_use(("read_result", {"result_id": state["rid"]}))
        page = json.loads(last)
        state["pages"].append(page["text"])
        if page["next_offset"] is None:
            return kit.submit(VALID)
        return kit.tool_use(("read_result", {"result_id": state["rid"], "offset": page["next_offset"]}))
    return respond, state


def _last_result(kit, req: dict) -> str:
    last = req["messages"][-1]
    if kit.name == "anthropic":
        return [b for b in last["content"] if b.get("type") == "tool_result"][-1]["content"]
    return [m for m in req["messages"] if m["role"] == "tool"][-1]["content"]


LINES = [f"2026-09-14T10:{i // 60:02d}:{i % 60:02d}Z cart ERROR request {i} failed: pool exhausted" for i in range(300)]


async def test_full_result_read_back_through_read_result(kit):
    runner = runner_with(make_tool("logs", lambda **_: {"lines": list(LINES)}))  # fresh: trimming cuts in place
    respond, state = _page_reader(kit, kit.tool_use(("logs", {"q": "cart"})))
    async with kit.fake(default=respond) as fake:
        d = await kit.engine(fake).diagnose(TRIGGER, runner, {})
    assert d.category == "oom_killed"
    reduced = fake.requests[1].raw
    assert "request 299 failed" not in reduced  # the model first saw the trimmed result
    full = json.loads("".join(state["pages"]))
    assert full["data"] == {"lines": LINES} and len("".join(state["pages"])) == state["full"]
    assert [c.tool for c in runner.tracer.calls].count("read_result") == len(state["pages"]) >= 2


async def test_every_request_is_redacted_including_pages(kit):
    def leaky(**_):
        return {"log": [f'config loaded "api_key": "{SECRETS["tool_api_key"]}"'] + LINES
                + [f"calling billing with Authorization: Bearer {SECRETS['bearer']}"]}

    runner = runner_with(make_tool("pod_logs", leaky), redactor=None)  # the loop masks even then
    unavailable = {"opensearch": f"cannot connect to https://admin:{SECRETS['url_password']}@logs:9200"}
    respond, state = _page_reader(kit, kit.tool_use(("pod_logs", {"q": "cart"})))
    async with kit.fake(default=respond) as fake:
        d = await kit.engine(fake).diagnose(Trigger.from_alert(secret_alert()), runner, unavailable)
    assert d.category == "oom_killed" and len(state["pages"]) >= 2
    for raw in fake.bodies:
        for name, secret in SECRETS.items():
            assert secret not in raw, f"{name} leaked"
        assert "plain-token-in-an-annotation-value" not in raw
    assert "[REDACTED" in fake.requests[0].raw and "KubePodCrashLooping" in fake.requests[0].raw
    pages = "".join(state["pages"])
    assert "config loaded" in pages and "calling billing" in pages and "[REDACTED" in pages


async def test_long_session_stays_within_a_small_context_window(kit):
    window, max_tokens = 8192, 512
    events = [f"event {i}: Back-off restarting failed container cart in pod cart-{i}" for i in range(200)]
    runner = runner_with(*(make_tool(n, lambda **_: {"events": list(events)}) for n in ("pods", "events", "logs")))
    counter = itertools.count()

    def respond(req: dict) -> dict:
        if req.get("tool_choice") not in ({"type": "auto"}, "auto"):
            return kit.submit(VALID)
        n = next(counter)
        return kit.tool_use(*((t, {"q": f"{t} {n}"}) for t in ("pods", "events", "logs")))

    async with kit.fake(default=respond) as fake:
        d = await kit.engine(fake, max_steps=14, context_window=window, max_tokens=max_tokens).diagnose(
            TRIGGER, runner, {})
    assert d.category == "oom_killed" and len(fake.requests) == 15
    sizes = [kit.input_tokens(r) for r in fake.requests]
    assert all(s + max_tokens <= window for s in sizes), sizes
    assert max(sizes) > window // 2  # the window was really used, not just left empty
    assert any("compacted" in n for n in runner.tracer.notes)
    last = fake.requests[-1].raw
    assert "why is cart restarting?" in last and "Earlier steps, compacted" in last
    # Each result got the small window's share, not the 6000 bytes a 200k window gives.
    first_results = kit.results(fake.requests[1])
    assert all(len(c) < 1500 for c, _ in first_results.values())
    assert all(json.loads(c).get("truncated") for c, _ in first_results.values())


async def test_cost_and_tokens_reach_the_diagnosis(kit):
    registry = ToolRegistry(redactor=Redactor()).register(make_tool("k8s_pods", {"items": []}))
    async with kit.fake([kit.tool_use(("k8s_pods", {"q": "a"})), kit.submit(VALID)]) as fake:
        result = await run_diagnosis(TRIGGER, registry, {}, kit.settings(fake))
    cost = result.diagnosis.cost
    u = result.usage
    assert cost.model == kit.model and cost.usd == pytest.approx(u.cost_usd, abs=1e-6) and cost.usd > 0
    assert cost.tokens == u.input_tokens + u.cache_write_tokens + u.output_tokens > 0
    assert re.fullmatch(rf"{re.escape(kit.model)}: [\d,]+ tokens( \(\+[\d,]+ read from cache\))? · \$0\.\d{{4}}",
                        cost.line()), cost.line()
