"""Secrets planted in real backends never reach text bound for a model.

Log lines go through the OpenSearch fake and pod logs, metric labels through a real
Prometheus, env vars through the Kubernetes fake; every tool result passes the registry.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from tests.test_redact import METRIC_SECRETS, PLANTED, POD, POD_SECRETS
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario


def _bundle(tmp_path, now: datetime):
    b = tmp_path / "bundle"
    (b / "k8s" / "logs").mkdir(parents=True)
    (b / "scenario.yaml").write_text(yaml.safe_dump({
        "id": "secrets", "title": "planted secrets", "now": now.isoformat().replace("+00:00", "Z"),
        "alert": {"status": "firing", "labels": {"alertname": "X", "severity": "warning", "namespace": "shop"},
                  "annotations": {"summary": "s"}, "startsAt": now.isoformat()},
        "expected": {"category": "unknown", "component": "checkout", "action": "none"}}))
    start = int((now - timedelta(minutes=30)).timestamp())
    om = ["# TYPE http_requests counter"]
    for i in range(31):
        om.append('http_requests_total{job="api",namespace="shop",token="pr0m-T0ken-9z8y",'
                  f'api_key="k3y-in-label-42"}} {i * 10} {start + i * 60}')
    om.append("# EOF")
    (b / "metrics.om").write_text("\n".join(om) + "\n")
    docs = []
    for i, (_, _, line) in enumerate(PLANTED):
        ts = (now - timedelta(minutes=20) + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        docs.append({"@timestamp": ts, "log": f"ERROR {line}", "stream": "stderr",
                     "kubernetes": {"namespace_name": "shop", "pod_name": "checkout-7d9f8c6b5-x2kqz",
                                    "container_name": "checkout", "labels": {"app": "checkout"}}})
    (b / "logs.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    pod = json.loads(json.dumps(POD))
    pod.pop("auth"), pod.pop("headers")
    pod["status"] = {"phase": "Running", "containerStatuses": [{"name": "checkout", "ready": True, "restartCount": 0,
                                                                 "image": "x", "imageID": "x", "state": {"running": {}}}]}
    (b / "k8s" / "pod.json").write_text(json.dumps(pod))
    (b / "k8s" / "logs" / "checkout-7d9f8c6b5-x2kqz.log").write_text("\n".join(l for _, _, l in PLANTED) + "\n")
    return b


async def test_no_planted_secret_reaches_model_text(tmp_path):
    from tools.prometheus.server import prometheus_binaries
    from tests.support import need

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    now = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0)
    scenario = load_scenario(_bundle(tmp_path, now))
    with ScenarioBackends(scenario) as backends:
        sources = backends.sources()
        assert sources.unavailable == {}
        calls = [
            ("search_logs", {"namespace": "shop", "minutes": 60}),
            ("search_logs", {"namespace": "shop", "minutes": 60, "level": "error", "limit": 500}),
            ("log_aggregations", {"namespace": "shop", "minutes": 60}),
            ("prom_query", {"query": "http_requests_total"}),
            ("prom_range", {"query": "http_requests_total", "minutes": 30}),
            ("prom_series", {"match": "http_requests_total"}),
            ("prom_labels", {"label": "token"}),
            ("k8s_pods", {"namespace": "shop"}),
            ("k8s_pod_logs", {"namespace": "shop", "pod": "checkout-7d9f8c6b5-x2kqz"}),
        ]
        texts = []
        for name, args in calls:
            result = await sources.registry.run(name, args)
            assert result.status == "ok", (name, result.summary)
            texts.append(result.to_text())
        sources.close()
    blob = "\n".join(texts)
    # The tools did return the surrounding content, so the check below is meaningful.
    assert "checkout" in blob and "http_requests_total" in blob
    secrets = [s for _, s, _ in PLANTED] + METRIC_SECRETS + POD_SECRETS
    leaked = [s for s in secrets if s in blob]
    assert leaked == []
