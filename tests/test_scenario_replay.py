"""Every bundle replays through the production tool interfaces, and `chatops scenario check` passes."""
from __future__ import annotations

import pytest

from bot.cli import main as cli_main
from tests.support import REPO, need
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import iter_scenarios, load_scenario

BUNDLES = iter_scenarios(REPO / "scenarios")


def test_cli_check_passes_on_every_bundle(capsys):
    assert len(BUNDLES) >= 12
    assert cli_main(["scenario", "check", str(REPO / "scenarios")]) == 0
    out = capsys.readouterr().out
    assert f"{len(BUNDLES)}/{len(BUNDLES)} bundles OK" in out


def test_cli_check_fails_on_broken_bundle(tmp_path, capsys):
    (tmp_path / "scenario.yaml").write_text("id: x\ntitle: y\n")
    assert cli_main(["scenario", "check", str(tmp_path)]) == 1
    assert cli_main(["scenario", "check", str(tmp_path / "missing")]) == 2


def _namespace(sc):
    labels = (sc.alert or {}).get("labels", {})
    return labels.get("namespace")


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
async def test_bundle_replays_through_tools(bundle, monkeypatch):
    from tools.prometheus.server import prometheus_binaries

    sc = load_scenario(bundle)
    if sc.metrics_file is not None:
        need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    with ScenarioBackends(sc) as backends:
        sources = backends.sources()
        reg = sources.registry
        ns = _namespace(sc)
        if sc.metrics_file is not None:
            r = await reg.run("prom_query", {"query": "count(up) or vector(0)"})
            assert r.status == "ok", r.summary
            r = await reg.run("prom_named", {"name": "container_restarts", **({"namespace": ns} if ns else {})})
            assert r.status in ("ok", "no_data"), r.summary
        else:
            assert "prometheus" in sources.unavailable
        if sc.logs_file is not None:
            # The alert's namespace may be the exporter's (blackbox in monitoring), so no filter.
            r = await reg.run("search_logs", {"minutes": 180})
            assert r.status == "ok" and r.data["total_hits"] > 0, r.summary
        if sc.k8s_dir is not None and ns:
            for name in ("k8s_pods", "k8s_deployments", "k8s_events"):
                r = await reg.run(name, {"namespace": ns})
                assert r.status in ("ok", "no_data"), (name, r.summary)
            assert (await reg.run("k8s_nodes", {})).status in ("ok", "no_data")
        sources.close()


async def test_missing_prometheus_binaries_report_unavailable_and_rest_goes_on(monkeypatch):
    import tools.prometheus.server as server

    monkeypatch.setattr(server, "prometheus_binaries", lambda: None)
    sc = next(load_scenario(b) for b in BUNDLES
              if load_scenario(b).metrics_file and load_scenario(b).logs_file and load_scenario(b).k8s_dir)
    with ScenarioBackends(sc) as backends:
        sources = backends.sources()
        assert "not installed" in sources.unavailable["prometheus"]
        r = await sources.registry.run("prom_named", {"name": "error_ratio"})
        assert r.status == "error" and "not configured" in r.summary
        r = await sources.registry.run("search_logs", {"minutes": 180})
        assert r.status == "ok"
        sources.close()
