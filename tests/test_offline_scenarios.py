"""Offline engine over the bundled scenarios: accuracy, determinism and proposal hygiene."""
from __future__ import annotations

import re

import pytest

from agents.offline import OfflineEngine
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer
from bench.diagnose_eval import trigger_for
from tests.support import REPO, need
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import iter_scenarios, load_expected, load_scenario
from tools.taxonomy import ACTIONS

BUNDLES = iter_scenarios(REPO / "scenarios")


def _need_prometheus() -> None:
    from tools.prometheus.server import prometheus_binaries

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")


async def _diagnose(path):
    sc = load_scenario(path)
    with ScenarioBackends(sc) as backends:
        sources = backends.sources()
        try:
            tracer = ListTracer()
            d = await OfflineEngine().diagnose(trigger_for(sc), ToolRunner(sources.registry, tracer),
                                               sources.unavailable)
        finally:
            sources.close()
    return d, tracer


async def test_accuracy_on_bundled_scenarios():
    _need_prometheus()
    assert len(BUNDLES) >= 17
    cat = comp = 0
    misses = []
    for b in BUNDLES:
        exp = load_expected(b)
        d, tracer = await _diagnose(b)
        cat += d.category == exp["category"]
        comp += (d.component or "").lower() == exp["component"].lower()
        if d.category != exp["category"] or (d.component or "").lower() != exp["component"].lower():
            misses.append((b.name, d.category, d.component))
        # Hygiene on every bundle: catalog actions, targets from the evidence, bounded session.
        seen = " ".join(e.finding + " " + e.query for e in d.evidence)
        assert all(p.action_type in ACTIONS and p.target in seen for p in d.proposals), b.name
        assert d.confidence < 1.0 and len(tracer.calls) <= 25, b.name
    assert cat / len(BUNDLES) >= 0.9, misses
    assert comp / len(BUNDLES) >= 0.9, misses


@pytest.mark.parametrize("name", ["shop-cart-crashloop", "ml-pods-not-ready"])
async def test_same_bundle_same_diagnosis(name):
    path = REPO / "scenarios" / name
    if load_scenario(path).metrics_file is not None:
        _need_prometheus()
    a, _ = await _diagnose(path)
    b, _ = await _diagnose(path)
    # Each replay serves the bundle on fresh loopback ports, which appear in the exact queries quoted.
    assert _portless(a) == _portless(b)


def _portless(d) -> str:
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", d.model_dump_json())
