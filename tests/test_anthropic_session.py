"""The Anthropic engine inside agents.session: success path, and offline fallback when the API is down."""
from __future__ import annotations

import pytest

from agents.session import EngineSettings, run_diagnosis
from agents.trigger import Trigger
from tests.anthropic_support import VALID, make_tool
from tests.fake_anthropic import FakeAnthropic, api_error, submit, tool_use
from tools.base import ToolRegistry
from tools.redact import Redactor

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

TRIGGER = Trigger(kind="command", text="why is shop/cart restarting?", namespace="shop", service="cart")


def registry() -> ToolRegistry:
    return ToolRegistry(redactor=Redactor()).register(
        make_tool("k8s_pods", {"items": [{"name": "cart-7d9-x", "namespace": "shop", "restarts": 6}]}))


def settings(fake: FakeAnthropic) -> EngineSettings:
    return EngineSettings(engine="anthropic", api_key="sk-ant-api03-test", base_url=fake.base_url, max_steps=4)


async def test_session_runs_the_anthropic_engine():
    async with FakeAnthropic([tool_use(("k8s_pods", {"q": "shop"})), submit(VALID)]) as fake:
        result = await run_diagnosis(TRIGGER, registry(), {}, settings(fake))
    assert result.engine == "anthropic" and result.fallback_reason is None
    assert result.diagnosis.category == "oom_killed" and result.tool_calls == 1
    assert result.usage.cost_usd > 0 and result.usage.cache_write_tokens > 0
    assert [p.action_type for p in result.diagnosis.proposals] == ["set_resources"]


async def test_overloaded_api_falls_back_to_offline():
    # retry-after keeps the test fast: the session builds the engine with its default backoff.
    overloaded = api_error(529, "overloaded_error", "Overloaded", {"retry-after": "0.01"})
    async with FakeAnthropic(default=overloaded) as fake:
        result = await run_diagnosis(TRIGGER, registry(), {}, settings(fake))
    assert len(fake.requests) == 4  # the engine's default: 1 try + 3 retries
    assert result.engine == "offline"
    assert result.fallback_reason.startswith("EngineUnavailable") and "Overloaded" in result.fallback_reason
    assert any("fallback to offline" in n for n in result.trace.notes)


async def test_rejected_key_falls_back_without_retries():
    async with FakeAnthropic(default=api_error(401, "authentication_error", "invalid x-api-key")) as fake:
        result = await run_diagnosis(TRIGGER, registry(), {}, settings(fake))
    assert len(fake.requests) == 1
    assert result.engine == "offline" and "invalid x-api-key" in result.fallback_reason


async def test_scenario_replay_tools_through_the_engine():
    """The production registry (k8s and OpenSearch fakes of a bundle) behind the engine."""
    from agents.toolrunner import ToolRunner
    from agents.trace import ListTracer
    from tests.anthropic_support import engine_for
    from tests.support import REPO
    from tools.scenario.backends import ScenarioBackends
    from tools.scenario.bundle import load_scenario

    scenario = load_scenario(REPO / "scenarios" / "shop-cart-crashloop")
    with ScenarioBackends(scenario, use_prometheus=False) as backends:
        sources = backends.sources()
        runner = ToolRunner(sources.registry, ListTracer())
        turn = tool_use(("k8s_pods", {"namespace": "shop"}), ("k8s_events", {"namespace": "shop"}))
        async with FakeAnthropic([turn, submit(VALID)]) as fake:
            d = await engine_for(fake).diagnose(Trigger(kind="command", text=scenario.alert_text),
                                                runner, sources.unavailable)
    offered = {t["name"] for t in fake.requests[0].body["tools"]}
    assert {"k8s_pods", "k8s_events", "search_logs", "prom_named", "submit_diagnosis"} <= offered
    results = fake.requests[1].tool_results()
    assert len(results) == 2 and all('"status":"ok"' in r["content"] for r in results.values())
    assert "cart" in results[turn["content"][0]["id"]]["content"]
    assert d.category == "oom_killed" and d.unavailable_sources[0].startswith("prometheus:")
