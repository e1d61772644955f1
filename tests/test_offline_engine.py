"""The offline engine end to end: canned tools, every source down, determinism, proposal hygiene."""
from __future__ import annotations

import time

from agents.offline import OfflineEngine
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer
from agents.trigger import Trigger
from tests.offline_support import NOW, ago, canned_registry, pod
from tests.support import free_port
from tools.base import ToolContext, ToolResult
from tools.intake.model import build_alert
from tools.sources import SourceConfig, build_sources
from tools.taxonomy import ACTIONS

POD = "cart-h28nlk7vcb-hsb6l"


def _oom_answers() -> dict:
    pods = {"namespace": "shop", "pods": [
        pod(POD, "Deployment/cart (via ReplicaSet/cart-h28nlk7vcb)", ready=False, restarts=6, state="waiting",
            reason="CrashLoopBackOff", last_reason="OOMKilled", last_exit=137, limits={"memory": "1Gi"}),
        pod("web-6c9bd5f7d8-aaaa2", "Deployment/web (via ReplicaSet/web-6c9bd5f7d8)")]}
    deps = {"namespace": "shop", "deployments": [
        {"name": "web", "replicas": {"desired": 2}, "rollout_history": [
            {"revision": 9, "name": "web-6c9bd5f7d8", "created": ago(40), "images": {"web": "r/web:2"}},
            {"revision": 8, "name": "web-7f8c9d6b5c", "created": ago(9000), "images": {"web": "r/web:1"}}]},
        {"name": "cart", "replicas": {"desired": 3}, "rollout_history": [
            {"revision": 3, "name": "cart-h28nlk7vcb", "created": ago(5000), "images": {"cart": "r/cart:1"}}]}]}

    def named(args):
        if args.get("name") == "memory_vs_limit":
            return ToolResult("ok", {"name": "memory_vs_limit", "evaluated_at": NOW.isoformat(), "rows": [
                {"labels": {"namespace": "shop", "pod": POD, "container": "cart"}, "value": 0.95, "peak": 0.99,
                 "state": "abnormal", "abnormal_since": ago(20), "text": "memory at 95% of limit"}]})
        return None

    return {"k8s_pods": ToolResult("ok", pods), "k8s_deployments": ToolResult("ok", deps), "prom_named": named}


def _trigger() -> Trigger:
    a = build_alert(name="KubePodCrashLooping", status="firing", source="alertmanager", raw={},
                    labels={"namespace": "shop", "pod": POD, "job": "kube-state-metrics"}, starts_at=NOW)
    return Trigger.from_alert(a, at=NOW)


async def _run(registry, unavailable=None):
    tracer = ListTracer()
    d = await OfflineEngine().diagnose(_trigger(), ToolRunner(registry, tracer), unavailable or {})
    return d, tracer


async def test_engine_diagnoses_from_canned_tools_and_proposes_only_seen_catalog_targets():
    d, tracer = await _run(canned_registry(_oom_answers()))
    assert d.category == "oom_killed" and d.component == "cart"
    assert 0 < d.confidence < 1
    assert d.evidence and all(e.tool and e.finding for e in d.evidence)
    assert "oom" in d.summary.lower() and any(ch.isdigit() for ch in d.summary)
    seen = " ".join(e.finding + " " + e.query for e in d.evidence)
    for p in d.proposals:
        assert p.action_type in ACTIONS and p.target in seen
    assert d.proposals[0].action_type == "set_resources" and d.proposals[0].parameters["memory_limit"] == "1536Mi"
    assert len(tracer.calls) <= 25
    assert {s[2].split(":")[0] for s in tracer.steps} >= {"monitoring analysis", "fault diagnosis"}


async def test_engine_is_deterministic():
    a, _ = await _run(canned_registry(_oom_answers()))
    b, _ = await _run(canned_registry(_oom_answers()))
    assert a.model_dump() == b.model_dump()


async def test_engine_skips_sources_known_to_be_unavailable():
    _, tracer = await _run(canned_registry(_oom_answers()), {"opensearch": "the scenario has no logs"})
    assert not any(c.tool in ("search_logs", "log_aggregations") for c in tracer.calls)


async def test_all_sources_down_is_unknown_fast_and_names_them():
    ports = [free_port() for _ in range(3)]
    cfg = SourceConfig(prometheus_url=f"http://127.0.0.1:{ports[0]}", opensearch_url=f"http://127.0.0.1:{ports[1]}",
                       kube_host=f"http://127.0.0.1:{ports[2]}")
    sources = build_sources(cfg, ToolContext(timeout=2.0))
    started = time.monotonic()
    try:
        tracer = ListTracer()
        d = await OfflineEngine().diagnose(_trigger(), ToolRunner(sources.registry, tracer), sources.unavailable)
    finally:
        sources.close()
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed
    assert d.category == "unknown" and d.confidence <= 0.3 and not d.proposals
    text = " ".join(d.unavailable_sources)
    for src in ("prometheus", "opensearch", "kubernetes"):
        assert src in text and src in d.summary
    assert all(c.status == "error" for c in tracer.calls)


def test_proposal_parameters_are_exactly_what_the_catalog_accepts():
    """Every parameter the offline engine can emit must pass the action catalog's schema."""
    import re
    from pathlib import Path

    from tools.actions import CATALOG

    src = Path(__file__).resolve().parent.parent.joinpath("agents", "offline", "remedy.py").read_text()
    emitted = set(re.findall(r'params\.update\((\w+)=', src)) | set(re.findall(r'"(\w+)": ', src.split("params = {", 1)[-1][:0]))
    emitted |= set(re.findall(r'params = \{"(\w+)"', src)) | set(re.findall(r'params\["(\w+)"\]', src))
    allowed = set()
    for spec in CATALOG.values():
        allowed |= set(spec.params_schema.get("properties", {}))
    assert emitted and emitted <= allowed, emitted - allowed
