"""Log tools end-to-end against the loopback fake OpenSearch, with counts computed independently."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from tools.base import ToolContext
from tools.opensearch import FakeOpenSearch, LogFields, make_client, opensearch_tools

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@dataclass
class Truth:
    ts: datetime
    namespace: str
    pod: str
    app: str
    severity: int  # 0 info, 1 warn, 2 error
    text: str


def z(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def build() -> tuple[list[dict], list[Truth]]:
    docs: list[dict] = []
    truth: list[Truth] = []

    def add(minute: int, ns: str, pod: str, container: str, labels: dict, text: str, severity: int,
            level: str | None = None, field: str = "log"):
        ts = NOW - timedelta(minutes=minute)
        doc = {"@timestamp": z(ts), field: text + ("\n" if field == "log" else ""), "stream": "stdout",
               "kubernetes": {"namespace_name": ns, "pod_name": pod, "container_name": container, "labels": labels}}
        if level:
            doc["level"] = level
        docs.append(doc)
        truth.append(Truth(ts, ns, pod, labels.get("app") or labels.get("app_kubernetes_io/name", ""),
                           severity, text))

    for m in range(120):
        for p in range(3):
            add(m, "shop", f"api-{p}", "api", {"app": "api"}, f"GET /api/items/{m * 3 + p} 200 in {m + p}ms", 0)
        if m < 20:  # api-1 lost its database 20 minutes ago; no level field, the word is in the line
            add(m, "shop", "api-1", "api", {"app": "api"},
                f"ERROR connect to 10.0.3.{m}:5432 failed: connection refused", 2)
        pay = {"app_kubernetes_io/name": "payments"}
        if m % 2 == 0:
            add(m, "payments", "pay-0", "pay", pay, f"charge ok id=ch_{m:04d}", 0, "info", "message")
        if m % 10 == 0:
            add(m, "payments", "pay-0", "pay", pay, f"slow upstream took {1000 + m}ms", 1, "warn", "message")
        if m % 15 == 0:  # level field is authoritative: the word "error" in an INFO line is not an error
            add(m, "payments", "pay-0", "pay", pay, "retrying after error from cache", 0, "info", "message")
        if m < 10:
            add(m, "payments", "pay-1", "pay", pay, f"timeout calling bank after {5000 + m}ms", 2, "ERROR",
                "message")
        if m % 5 == 0:
            add(m, "kube-system", "coredns-5d78c9869d-abcde", "coredns", {"k8s-app": "kube-dns"},
                'level=error msg="plugin/errors: 2 example.org. A: read udp 10.244.0.5:53->8.8.8.8:53: i/o timeout"',
                2)
    return docs, truth


DOCS, TRUTH = build()


def count(minutes: float = 30, start: datetime | None = None, end: datetime | None = None, **match) -> int:
    end = end or NOW
    start = start or end - timedelta(minutes=minutes)
    min_sev = match.pop("min_severity", 0)
    text = match.pop("text", None)
    return sum(1 for t in TRUTH if start <= t.ts <= end and t.severity >= min_sev
               and all(getattr(t, k) == v for k, v in match.items()) and (text is None or text(t.text)))


@pytest.fixture(scope="module")
def fake():
    with FakeOpenSearch(DOCS, index="logs-2024.05.01") as f:
        yield f


@pytest.fixture
def tools(fake):
    def make(fields: LogFields | None = None, timeout: float = 5.0, index: str = "logs-*"):
        ctx = ToolContext(now=lambda: NOW, timeout=timeout)
        return {t.name: t for t in opensearch_tools(make_client(fake.url, timeout=timeout), ctx, index, fields)}
    return make


async def test_namespace_and_window(tools):
    t = tools()["search_logs"]
    for minutes in (5, 30, 120):
        r = await t.run(namespace="shop", minutes=minutes)
        assert r.status == "ok", r.error
        assert r.data["total_hits"] == count(minutes, namespace="shop")
    r = await t.run(namespace="payments", start=z(NOW - timedelta(minutes=50)), end=z(NOW - timedelta(minutes=40)))
    assert r.data["total_hits"] == count(start=NOW - timedelta(minutes=50), end=NOW - timedelta(minutes=40),
                                         namespace="payments")


async def test_pod_level_templates(tools):
    r = await tools()["search_logs"].run(namespace="shop", pod="api-1", level="error", minutes=60)
    expected = count(60, namespace="shop", pod="api-1", min_severity=2)
    assert r.data["total_hits"] == expected == 20
    assert len(r.data["templates"]) == 1 and r.reduced
    tpl = r.data["templates"][0]
    assert tpl["count"] == 20 and tpl["level"] == "ERROR" and "connection refused" in tpl["template"]
    assert tpl["first_seen"].startswith("2024-05-01T11:41") and tpl["last_seen"].startswith("2024-05-01T12:00")


async def test_level_uses_field_when_present_and_words_otherwise(tools):
    t = tools()["search_logs"]
    r = await t.run(level="error", minutes=120, limit=1000)
    assert r.data["total_hits"] == count(120, min_severity=2)
    assert r.data["pods"].keys() == {"api-1", "pay-1", "coredns-5d78c9869d-abcde"}
    assert not any("retrying after error" in tp["template"] for tp in r.data["templates"])
    r = await t.run(namespace="payments", level="warning", minutes=120)
    assert r.data["total_hits"] == count(120, namespace="payments", min_severity=1)


async def test_app_label_and_text_queries(tools):
    t = tools()["search_logs"]
    r = await t.run(app="payments", minutes=60)  # matched through app_kubernetes_io/name
    assert r.data["total_hits"] == count(60, app="payments") > 0
    r = await t.run(query='"connection refused"', minutes=120)
    assert r.data["total_hits"] == count(120, text=lambda s: "connection refused" in s) == 20
    r = await t.run(query="timeout -bank", minutes=120)
    assert r.data["total_hits"] == count(120, text=lambda s: "timeout" in s and "bank" not in s)
    assert set(r.data["pods"]) == {"coredns-5d78c9869d-abcde"}
    r = await t.run(namespace="shop", query="items", limit=7, minutes=120)
    assert r.data["sampled"] == 7 and r.data["total_hits"] == 360
    # Newest first: the sample is the last seven lines, not an arbitrary seven.
    assert all(tp["last_seen"].startswith("2024-05-01T12:00") or tp["last_seen"].startswith("2024-05-01T11:5")
               for tp in r.data["templates"])


async def test_no_data_outside_the_data(tools):
    r = await tools()["search_logs"].run(namespace="shop", start="2024-04-01T00:00:00Z",
                                         end="2024-04-01T01:00:00Z")
    assert r.status == "no_data"
    r = await tools(index="other-*")["search_logs"].run()
    assert r.status == "no_data"  # a wildcard matching no index is an empty result, as in OpenSearch


async def test_missing_concrete_index_is_404(tools):
    r = await tools(index="logs-missing")["search_logs"].run()
    assert r.status == "error" and "HTTP 404" in r.error and "no such index [logs-missing]" in r.error


async def test_aggregations_match_independent_counts(tools):
    r = await tools()["log_aggregations"].run(namespace="payments", minutes=60)
    assert r.status == "ok", r.error
    d = r.data
    assert d["total_hits"] == count(60, namespace="payments")
    assert {p["pod"]: p["count"] for p in d["by_pod"]} == {
        "pay-0": count(60, pod="pay-0"), "pay-1": count(60, pod="pay-1")}
    assert {p["pod"]: p["errors"] for p in d["by_pod"]} == {"pay-0": 0, "pay-1": 10}
    assert d["by_level"] == {"info": count(60, pod="pay-0", min_severity=0) - count(60, pod="pay-0", min_severity=1),
                             "warn": count(60, namespace="payments", min_severity=1)
                             - count(60, namespace="payments", min_severity=2),
                             "ERROR": 10}
    assert d["errors"]["total"] == count(60, namespace="payments", min_severity=2) == 10
    hist = d["errors"]["over_time"]
    assert len(hist) == 13 and sum(b["count"] for b in hist) == 10  # 5m buckets over 60 minutes, bounds included
    first_error = min(t.ts for t in TRUTH if t.namespace == "payments" and t.severity == 2)
    bucket = first_error.replace(minute=first_error.minute - first_error.minute % 5, second=0)
    assert d["errors"]["first_error_at"] == bucket.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert all(b["count"] == 0 for b in hist if b["at"] < d["errors"]["first_error_at"])
    # Whole-message buckets folded into templates: "charge ok id=<...>" is one template.
    charge = next(m for m in d["top_messages"] if "charge ok" in m["template"])
    expected = count(60, text=lambda s: s.startswith("charge ok"))
    assert charge["count"] == charge["distinct_messages"] == expected == 31


async def test_aggregations_for_varied_lines_mine_a_sample(tools):
    r = await tools()["log_aggregations"].run(namespace="shop", minutes=60)
    d = r.data
    assert "mined" in d["top_messages_source"]
    refused = next(m for m in d["top_messages"] if "connection refused" in m["template"])
    assert refused["count"] == 20 and refused["level"] == "ERROR"
    assert d["top_messages"][0] is refused  # errors rank first
    assert d["errors"]["total"] == 20 and d["by_level"] == {"(no level field)": count(60, namespace="shop")}


async def test_fielddata_error_from_text_field_falls_back(tools, fake):
    before = len(fake.requests)
    r = await tools(LogFields(message_keywords=("log",)))["log_aggregations"].run(namespace="shop", minutes=30)
    assert r.status == "ok", r.error
    assert any("fielddata" in n for n in r.data["notes"])
    assert len(fake.requests) - before == 3
    assert any("connection refused" in m["template"] for m in r.data["top_messages"])


async def test_injected_faults_and_slow_backend(tools, fake):
    fake.fail_with(503, raw="<html><body>upstream connect error</body></html>", times=1)
    try:
        r = await tools()["search_logs"].run(namespace="shop")
        assert r.status == "error" and "HTTP 503" in r.error and "upstream connect error" in r.error
        r = await tools()["search_logs"].run(namespace="shop")
        assert r.status == "ok"
        fake.fail_with(429, "rejected_execution_exception", "rejected execution of coordinating operation")
        r = await tools()["log_aggregations"].run(namespace="shop")
        assert r.status == "error" and "rejected execution" in r.error and "retry later" in r.error
    finally:
        fake.clear_fault()
    fake.delay = 1.0
    try:
        r = await tools(timeout=0.3)["search_logs"].run(namespace="shop")
        assert r.status == "error" and "timed out after 0.3s" in r.error
    finally:
        fake.delay = 0.0


async def test_connection_refused_on_a_closed_port():
    from tests.support import free_port

    ctx = ToolContext(now=lambda: NOW, timeout=2)
    t = {x.name: x for x in opensearch_tools(make_client(f"http://127.0.0.1:{free_port()}"), ctx)}
    r = await t["search_logs"].run()
    assert r.status == "error" and "connection failed" in r.error and "127.0.0.1" in r.query
