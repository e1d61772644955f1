"""Sessions: engine fallback, tracing into the database, `chatops session show`."""
from __future__ import annotations

import pytest
from sqlalchemy import select

import agents.session as session_mod
from agents.diagnosis import Diagnosis, Evidence
from agents.session import EngineSettings, run_diagnosis
from agents.trigger import Trigger
from bot import audit
from bot.models import AgentSession, Diagnosis as DiagRow, ToolCall
from bot.sessions import diagnose_and_record
from tools.base import Tool, ToolRegistry, ToolResult


def _registry():
    async def pods(namespace: str) -> ToolResult:
        return ToolResult(status="ok", data={"pods": [{"name": "cart-7d9f8c6b5-x2kqz", "namespace": namespace}]},
                          summary="1 pod", query=f"GET /api/v1/namespaces/{namespace}/pods")

    async def broken() -> ToolResult:
        raise RuntimeError("backend exploded")

    return ToolRegistry().register(
        Tool("k8s_pods", "pods", {"type": "object"}, pods, source="kubernetes"),
        Tool("broken", "always fails", {"type": "object"}, broken, source="x"))


class ScriptedEngine:
    """Calls two tools (one twice) and concludes; stands in for either engine."""

    def __init__(self, fail_with: Exception | None = None):
        self.fail_with = fail_with

    async def diagnose(self, trigger, runner, unavailable):
        runner.step = 1
        await runner.run_many([("k8s_pods", {"namespace": "shop"}), ("broken", {})])
        runner.step = 2
        again = await runner.run("k8s_pods", {"namespace": "shop"})
        assert "already made" in again.summary
        if self.fail_with:
            raise self.fail_with
        return Diagnosis(category="oom_killed", component="cart", confidence=0.7, summary="cart OOM.",
                         evidence=[Evidence(tool="k8s_pods", finding="cart restarts")],
                         proposals=[{"action_type": "set_resources", "target": "cart", "namespace": "shop",
                                     "parameters": {"memory_limit": "1Gi"}},
                                    {"action_type": "scale_deployment", "target": "payments", "namespace": "prod"}])


@pytest.fixture
def engines(monkeypatch):
    made = []

    def make(name, settings):
        made.append(name)
        if name == "anthropic":
            return ScriptedEngine(fail_with=RuntimeError("overloaded after 3 retries"))
        return ScriptedEngine()

    monkeypatch.setattr(session_mod, "build_engine", make)
    return made


async def test_fallback_reuses_tool_results_and_coordinator_filters(engines):
    # No k8s_subject tool here: the scope is what the trigger names (service cart), never payments.
    trig = Trigger(kind="alert", text="KubePodCrashLooping shop/cart", namespace="shop", service="cart")
    res = await run_diagnosis(trig, _registry(), {}, EngineSettings(engine="anthropic", api_key="k"))
    assert engines == ["anthropic", "offline"]
    assert res.engine == "offline" and "overloaded" in res.fallback_reason
    # k8s_pods ran against the backend once; every later identical call was answered from memory.
    fresh = [c for c in res.trace.calls if c.tool == "k8s_pods" and not c.cached]
    assert len(fresh) == 1
    assert [p.target for p in res.diagnosis.proposals] == ["cart"]
    assert [(p.target, why.split(":")[0]) for p, why in res.dropped_proposals] == \
        [("payments", "outside this incident's scope")]


async def test_session_is_recorded_with_tool_calls_and_audit(migrated, engines):
    engine, factory = migrated
    trig = Trigger(kind="command", text="shop/cart", namespace="shop", service="cart", requested_by="U1")
    rec = await diagnose_and_record(factory, trig, _registry(), {"prometheus": "PROMETHEUS_URL is not set"},
                                    EngineSettings(engine="offline"))
    with factory() as s:
        row = s.get(AgentSession, rec.session_id)
        assert row.status == "succeeded" and row.engine == "offline" and row.finished_at is not None
        calls = s.execute(select(ToolCall).where(ToolCall.session_id == row.id)).scalars().all()
        assert [c.tool for c in calls] == ["k8s_pods", "broken", "k8s_pods"] or \
            [c.tool for c in calls] == ["broken", "k8s_pods", "k8s_pods"]
        assert {c.status for c in calls} == {"ok", "error"} and [c.cached for c in calls][-1] is True
        broken = next(c for c in calls if c.tool == "broken")
        assert "backend exploded" in broken.error
        d = s.get(DiagRow, rec.diagnosis_id)
        assert d.category == "oom_killed" and d.document["proposals"][0]["target"] == "cart"
        assert (d.scope["namespace"], d.scope["workloads"]) == ("shop", [["Deployment", "cart"]])
        events = [e.event for e in s.execute(select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars()]
        assert events == ["session.started", "diagnosis.recorded"]
        assert audit.verify(s).ok


async def test_offline_failure_still_returns_unknown(monkeypatch):
    class Boom:
        async def diagnose(self, *a):
            raise ValueError("bug")

    monkeypatch.setattr(session_mod, "build_engine", lambda name, s: Boom())
    res = await run_diagnosis(Trigger(kind="command", text="x"), _registry(), {"opensearch": "down"})
    assert res.diagnosis.category == "unknown" and "bug" in res.diagnosis.summary
    assert res.diagnosis.unavailable_sources == ["opensearch: down"]
