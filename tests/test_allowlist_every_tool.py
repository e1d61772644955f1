"""Every tool of the registry honours KUBE_NAMESPACE_ALLOWLIST before its request.

The registry is the one production builds (tools.sources.build_sources plus the knowledge tool),
pointed at loopback backends that record every request: a tiny Prometheus stand-in, the fake
OpenSearch and the fake Kubernetes API server. A tool asked about a namespace outside the
allowlist must answer "error" with a message naming the allowlist, and its backend must have
received nothing. Tools that take no namespace each have an explicit case below saying why.
A tool added to the registry without a case here fails test_every_registered_tool_is_covered.
"""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from agents.offline import OfflineEngine
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer
from bench.diagnose_eval import trigger_for
from knowledge import IncidentRecord, KnowledgeBase
from knowledge.tool import knowledge_tools
from tests.knowledge_support import write_runbooks
from tests.support import REPO, need
from tools.base import ToolContext
from tools.k8s import FakeKubeAPI
from tools.opensearch.fake_api import FakeOpenSearch
from tools.prometheus.catalog import CATALOG, CLUSTER_SCOPED
from tools.prometheus.guard import check_query
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_expected, load_scenario
from tools.sources import SourceConfig, build_sources

ALLOW = ("shop", "pay")
NOW = datetime(2025, 11, 20, 10, 0, tzinfo=timezone.utc)

# A request for the namespace "other" per tool; every one must be refused before any request.
DENIED = {
    "prom_query": {"query": 'sum(rate(http_requests_total{namespace="other"}[5m]))'},  # the example
    "prom_range": {"query": 'sum(rate(http_requests_total{namespace="other"}[5m]))'},
    "prom_anomaly": {"query": 'sum by (service) (rate(http_requests_total{namespace=~"shop|other"}[5m]))'},
    "prom_series": {"match": '{namespace="other"}'},
    "prom_named": {"name": "memory_vs_limit", "namespace": "other"},
    "search_logs": {"namespace": "other", "query": "error"},
    "log_aggregations": {"namespace": "other"},
    "k8s_pods": {"namespace": "other"},
    "k8s_events": {"namespace": "other", "kind": "Pod", "name": "web-1"},
    "k8s_pod_logs": {"namespace": "other", "pod": "web-1"},
    "k8s_deployments": {"namespace": "other"},
    "k8s_jobs": {"namespace": "other"},
    "k8s_subject": {"namespace": "other", "pod": "web-1"},
    "k8s_network_policies": {"namespace": "other"},
}
# Tools without a namespace argument, each with its own test below.
NO_NAMESPACE = {
    "prom_catalog": "test_prom_catalog_sends_nothing",
    "prom_labels": "test_prom_labels_only_asks_about_allowed_namespaces",
    "k8s_nodes": "test_k8s_nodes_is_cluster_scoped",
    "k8s_find": "test_k8s_find_lists_only_allowed_namespaces",
    "search_knowledge": "test_search_knowledge_hides_incidents_of_other_namespaces",
}


class PromRecorder(BaseHTTPRequestHandler):
    """Answers every Prometheus API call with an empty success, recording what was asked."""

    seen: list[tuple[str, dict[str, list[str]]]] = []

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        params = parse_qs(url.query)
        for k, v in parse_qs(self.rfile.read(length).decode()).items():
            params.setdefault(k, []).extend(v)
        self.seen.append((url.path, params))
        if url.path.endswith(("/query", "/query_range")):
            kind = "matrix" if url.path.endswith("_range") else "vector"
            data: object = {"resultType": kind, "result": []}
        else:
            data = []
        body = json.dumps({"status": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("allowlist")
    prom = ThreadingHTTPServer(("127.0.0.1", 0), PromRecorder)
    threading.Thread(target=prom.serve_forever, daemon=True).start()
    kb = KnowledgeBase(tmp / "data")
    kb.ingest(write_runbooks(tmp / "rb"))
    for rec_id, ns in (("inc-shop", "shop"), ("inc-other", "other")):
        kb.remember_incident(IncidentRecord(
            id=rec_id, title=f"checkout pool exhausted in {ns}", service="checkout", namespace=ns,
            category="connection_pool_exhausted", alert="HikariPool-1 Connection is not available",
            diagnosis="pool too small", action="scale deployment/checkout to 12", outcome="succeeded",
            effective=True))
    with FakeOpenSearch() as logs, FakeKubeAPI() as kube:
        ctx = ToolContext(now=lambda: NOW, timeout=5.0, namespace_allowlist=ALLOW)
        cfg = SourceConfig(prometheus_url=f"http://127.0.0.1:{prom.server_address[1]}", opensearch_url=logs.url,
                           kube_host=kube.url)
        sources = build_sources(cfg, ctx, extra_tools=knowledge_tools(kb, ctx))
        assert not sources.unavailable
        yield sources.registry, logs, kube
        sources.close()
    kb.close()
    prom.shutdown()
    prom.server_close()


def requests_of(logs: FakeOpenSearch, kube: FakeKubeAPI) -> list:
    return [*PromRecorder.seen, *logs.requests, *kube.requests]


@pytest.fixture
def registry(backends):
    reg, logs, kube = backends
    PromRecorder.seen.clear()
    logs.requests.clear()
    kube.requests.clear()
    return reg


def test_every_registered_tool_is_covered(backends):
    reg, _, _ = backends
    assert set(reg.names()) == set(DENIED) | set(NO_NAMESPACE)
    assert not set(DENIED) & set(NO_NAMESPACE)
    for test in NO_NAMESPACE.values():
        assert callable(globals()[test])


@pytest.mark.parametrize("tool", sorted(DENIED))
async def test_namespace_outside_the_allowlist_is_refused_before_any_request(tool, registry, backends):
    _, logs, kube = backends
    r = await registry.run(tool, DENIED[tool])
    assert r.status == "error", (tool, r.summary)
    assert "other" in r.error and "shop" in r.error and "pay" in r.error, r.error  # what to ask for instead
    assert requests_of(logs, kube) == [], tool


async def test_prom_query_inside_the_allowlist_is_sent_as_written(registry):
    q = 'sum(rate(http_requests_total{namespace="shop"}[5m]))'
    r = await registry.run("prom_query", {"query": q})
    assert r.status == "no_data"
    assert [(p, params["query"]) for p, params in PromRecorder.seen] == [("/api/v1/query", [q])]


async def test_prom_catalog_sends_nothing(registry, backends):
    # It lists the catalog's definitions, which are code, not data from any namespace.
    r = await registry.run("prom_catalog", {})
    assert r.status == "ok" and len(r.data["entries"]) == 16
    assert requests_of(*backends[1:]) == []


async def test_prom_labels_only_asks_about_allowed_namespaces(registry):
    # Label names and values (pod names, services...) come from every namespace unless match[] confines them.
    for args in ({}, {"label": "pod"}):
        r = await registry.run("prom_labels", args)
        assert r.status == "no_data" and 'namespace=~"shop|pay"' in r.query
    assert [(p, params.get("match[]")) for p, params in PromRecorder.seen] == [
        ("/api/v1/labels", ['{namespace=~"shop|pay"}']), ("/api/v1/label/pod/values", ['{namespace=~"shop|pay"}'])]


async def test_prom_named_sends_only_confined_or_cluster_scoped_queries(registry):
    for name in ("memory_vs_limit", "container_restarts", "node_conditions", "dns_errors", "certificate_expiry"):
        r = await registry.run("prom_named", {"name": name})
        assert r.status in ("ok", "no_data"), (name, r.error)
    sent = [params["query"][0] for _, params in PromRecorder.seen]
    assert len(sent) >= 6
    for q in sent:
        check_query(q, ALLOW, cluster_metrics=CLUSTER_SCOPED)
    assert any('namespace=~"shop|pay"' in q for q in sent)


async def test_a_catalog_bug_cannot_leak(registry, monkeypatch):
    # An entry that forgot the namespace matcher on one of its queries is refused, not sent.
    entry = CATALOG["container_restarts"]
    leaky = replace(entry, parts={"restarts_total": lambda f, w: "max(kube_pod_container_status_restarts_total)"})
    monkeypatch.setitem(CATALOG, entry.name, leaky)
    r = await registry.run("prom_named", {"name": entry.name})
    assert r.status == "error" and "kube_pod_container_status_restarts_total (no namespace matcher)" in r.error
    assert PromRecorder.seen == []


async def test_offline_engine_named_queries_pass_under_an_allowlist():
    from tools.prometheus.server import prometheus_binaries
    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    sc = load_scenario(REPO / "scenarios" / "shop-cart-crashloop")
    tracer = ListTracer()
    with ScenarioBackends(sc, namespace_allowlist=("shop",)) as backends:
        sources = backends.sources()
        try:
            d = await OfflineEngine().diagnose(trigger_for(sc), ToolRunner(sources.registry, tracer),
                                               sources.unavailable)
        finally:
            sources.close()
    named = {c.arguments["name"]: c for c in tracer.calls if c.tool == "prom_named"}
    assert {"dns_errors", "certificate_expiry", "probe_success", "filesystem_free", "memory_vs_limit"} <= set(named)
    assert [(n, c.error) for n, c in named.items() if c.status == "error"] == []
    assert not [c for c in tracer.calls if c.tool.startswith("prom_") and "not sent" in (c.error or "")]
    exp = load_expected(REPO / "scenarios" / "shop-cart-crashloop")
    assert (d.category, d.component) == (exp["category"], exp["component"])


async def test_k8s_nodes_is_cluster_scoped(registry, backends):
    # Nodes belong to no namespace, and a node view holds conditions, taints and capacity, never the
    # pods it runs; so under an allowlist the tool still answers, and reads nothing namespaced.
    _, _, kube = backends
    r = await registry.run("k8s_nodes", {})
    assert r.status == "no_data"
    assert [(q["method"], q["path"]) for q in kube.requests] == [("GET", "/api/v1/nodes")]


async def test_k8s_nodes_counts_a_nodes_pods_in_allowed_namespaces_only(registry, backends):
    # A named node's load lists the pods bound to it: per allowed namespace, never cluster-wide, so
    # pods of "other" on the same node are neither counted nor named.
    _, _, kube = backends
    kube.add({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
              "status": {"allocatable": {"pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}},
             *({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{ns}", "namespace": ns},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
                "status": {"phase": "Running"}} for ns in ("shop", "other")))
    r = await registry.run("k8s_nodes", {"name": "n1"})
    assert r.status == "ok", r.error
    assert r.data["nodes"][0]["load"]["pods"] == 1 and r.data["nodes"][0]["load"]["counted_in"] == list(ALLOW)
    pod_paths = [q["path"] for q in kube.requests if q["path"].endswith("/pods")]
    assert pod_paths == ["/api/v1/namespaces/shop/pods", "/api/v1/namespaces/pay/pods"]


async def test_k8s_find_lists_only_allowed_namespaces(registry, backends):
    # Looking a name up across namespaces: under an allowlist it lists each allowed namespace, never
    # the cluster-wide collections, so a workload in "other" cannot even be found.
    _, _, kube = backends
    kube.add({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "other"}},
             {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "pay"}})
    r = await registry.run("k8s_find", {"names": ["web"]})
    assert [(m["namespace"], m["name"]) for m in r.data["matches"]] == [("pay", "web")]
    paths = [q["path"] for q in kube.requests]
    assert paths and all(p.split("/namespaces/")[1].split("/")[0] in ALLOW for p in paths), paths


async def test_search_knowledge_hides_incidents_of_other_namespaces(registry, backends):
    # Runbooks belong to no namespace; remembered incidents do (a shared Chroma server may hold
    # another deployment's), and those outside the allowlist are not returned.
    r = await registry.run("search_knowledge", {"query": "HikariPool Connection is not available checkout pool",
                                                "limit": 10})
    assert r.status == "ok"
    sources = {d["source"] for d in r.data}
    assert "incident:inc-shop" in sources and "incident:inc-other" not in sources
    assert "rb/pool-checkout.md" in sources
    assert requests_of(*backends[1:]) == []
