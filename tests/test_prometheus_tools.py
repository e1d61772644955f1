"""Prometheus tools against a real Prometheus backfilled with a synthetic incident.

The incident lies two days in the past and the ToolContext's "now" is its end, so every
assertion here also checks that tools evaluate at ctx.now(), not at the wall clock.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import free_port, require_binary
from tools.base import ToolContext, ToolRegistry
from tools.prometheus import NOT_CONFIGURED, PrometheusServer, prometheus_tools
from tools.prometheus.openmetrics import OpenMetricsWriter

STEP = 60
NOW = (int(time.time()) - 2 * 86400) // 60 * 60  # the incident's "now", two days ago
START = NOW - 3 * 3600
MEM_LIMIT = 512 * 2**20
T_MEM = NOW - 30 * 60  # planted: checkout pod abcde jumps to 97 % of its memory limit
T_ERR = NOW - 15 * 60  # planted: checkout 5xx rate jumps from 0.5/s to 10/s
T_OUTAGE = NOW - 20 * 60  # planted: 2 of 3 checkout replicas become unavailable
T_PROBE = NOW - 10 * 60

CHECKOUT = ["checkout-7d9f8b6c5d-abcde", "checkout-7d9f8b6c5d-fghij", "checkout-7d9f8b6c5d-klmno"]
WEB = "web-5c6d7e8f9-qrstu"


def times():
    return range(START, NOW + 1, STEP)


def gauge_pts(fn):
    return [(t, fn(t)) for t in times()]


def counter_pts(rate_fn, start_value=0.0):
    out, total = [], start_value
    for t in times():
        out.append((t, total))
        total += rate_fn(t) * STEP
    return out


def build_openmetrics(path: Path) -> Path:
    w = OpenMetricsWriter()
    pods = [("shop", p, "app") for p in CHECKOUT] + [("other", WEB, "web")]
    for ns, pod, ctr in pods:
        lb = {"namespace": ns, "pod": pod, "container": ctr}
        hot = pod == CHECKOUT[0]
        w.gauge("kube_pod_container_info", {**lb, "image": f"registry.local/{ctr}:1.4.2"}, gauge_pts(lambda t: 1))
        w.gauge("kube_pod_container_resource_limits", {**lb, "resource": "memory", "unit": "byte"},
                gauge_pts(lambda t: MEM_LIMIT))
        w.gauge("kube_pod_container_resource_limits", {**lb, "resource": "cpu", "unit": "core"},
                gauge_pts(lambda t: 0.5))
        cadv = {**lb, "id": f"/kubepods/{pod}/{ctr}", "image": f"registry.local/{ctr}:1.4.2", "name": ctr}
        w.gauge("container_memory_working_set_bytes", cadv,
                gauge_pts(lambda t, hot=hot: (0.97 if hot and t >= T_MEM else 0.40) * MEM_LIMIT))
        w.counter("container_cpu_usage_seconds_total", {**cadv, "cpu": "total"},
                  counter_pts(lambda t, hot=hot: 0.47 if hot else 0.2))
        w.counter("container_cpu_cfs_periods_total", cadv, counter_pts(lambda t: 10))
        w.counter("container_cpu_cfs_throttled_periods_total", cadv,
                  counter_pts(lambda t, hot=hot: 4.0 if hot and t >= T_MEM else 0.2))
        crashing = pod == CHECKOUT[1]
        # Restarts at T-40m, -30m, -20m, -10m: 4 in the last hour.
        w.counter("kube_pod_container_status_restarts_total", lb,
                  [(t, sum(1 for r in (40, 30, 20, 10) if crashing and t >= NOW - r * 60)) for t in times()])
        if crashing:
            w.gauge("kube_pod_container_status_last_terminated_reason", {**lb, "reason": "OOMKilled"},
                    [(t, 1) for t in times() if t >= NOW - 40 * 60])
            w.gauge("kube_pod_container_status_waiting_reason", {**lb, "reason": "CrashLoopBackOff"},
                    [(t, 1) for t in times() if t >= NOW - 8 * 60])
    for ns, dep, desired in (("shop", "checkout", 3), ("other", "web", 2)):
        lb = {"namespace": ns, "deployment": dep}
        w.gauge("kube_deployment_spec_replicas", lb, gauge_pts(lambda t, d=desired: d))
        w.gauge("kube_deployment_status_replicas_available", lb,
                gauge_pts(lambda t, d=desired, dep=dep: 1 if dep == "checkout" and t >= T_OUTAGE else d))

    # HTTP RED, Prometheus-client style (code label) with a histogram.
    http = {"namespace": "shop", "service": "checkout", "job": "checkout", "method": "POST"}
    w.counter("http_requests_total", {**http, "code": "200"}, counter_pts(lambda t: 50))
    w.counter("http_requests_total", {**http, "code": "500"}, counter_pts(lambda t: 10 if t >= T_ERR else 0.5))
    w.counter("http_requests_total", {"namespace": "other", "service": "web", "job": "web", "code": "200"},
              counter_pts(lambda t: 20))
    fast = {0.1: 0.90, 0.5: 0.995, 1.0: 1.0, 2.5: 1.0}
    slow = {0.1: 0.20, 0.5: 0.40, 1.0: 0.70, 2.5: 0.95}
    hist, totals = [], {le: 0.0 for le in (*fast, float("inf"))}
    for t in times():
        hist.append((t, dict(totals), 0.0))
        shares = slow if t >= T_ERR else fast
        n = 60.5 * STEP
        for le in fast:
            totals[le] += shares[le] * n
        totals[float("inf")] += n
    w.histogram("http_request_duration_seconds", {"namespace": "shop", "service": "checkout", "job": "checkout"},
                [(t, b, 0.2 * b[float("inf")]) for t, b, _ in hist])
    # Micrometer style (status label): payments serves 2 % 503s, below the 5 % threshold.
    mm = {"namespace": "shop", "service": "payments", "uri": "/pay"}
    w.family("http_server_requests_seconds", "summary")
    for status, rate in (("200", 98), ("503", 2)):
        for t, v in counter_pts(lambda t, r=rate: r):
            w.sample("http_server_requests_seconds", "http_server_requests_seconds_count", {**mm, "status": status}, t, v)
            w.sample("http_server_requests_seconds", "http_server_requests_seconds_sum", {**mm, "status": status}, t, v * 0.05)

    for node in ("node-a", "node-b"):
        def cond_value(cond, status, t, node=node):
            # node-b comes under memory pressure at T_MEM; everything else is healthy.
            pressured = node == "node-b" and cond == "MemoryPressure" and t >= T_MEM
            is_true = pressured if cond == "MemoryPressure" else cond == "Ready"
            return 1 if status == ("true" if is_true else "false") else 0
        for cond, status in (("Ready", "true"), ("Ready", "false"), ("Ready", "unknown"),
                             ("MemoryPressure", "true"), ("MemoryPressure", "false"),
                             ("DiskPressure", "true"), ("DiskPressure", "false")):
            w.gauge("kube_node_status_condition", {"node": node, "condition": cond, "status": status},
                    gauge_pts(lambda t, c=cond, s=status: cond_value(c, s, t)))
        fs = {"instance": f"{node}:9100", "device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}
        size = 100e9
        w.gauge("node_filesystem_size_bytes", fs, gauge_pts(lambda t: size))
        w.gauge("node_filesystem_avail_bytes", fs, gauge_pts(lambda t, n=node: (0.05 if n == "node-b" else 0.6) * size))
        w.gauge("node_filesystem_avail_bytes", {**fs, "fstype": "tmpfs", "mountpoint": "/run", "device": "tmpfs"},
                gauge_pts(lambda t: 0.0))
        w.gauge("node_filesystem_size_bytes", {**fs, "fstype": "tmpfs", "mountpoint": "/run", "device": "tmpfs"},
                gauge_pts(lambda t: 1e9))
    pvc = {"namespace": "shop", "persistentvolumeclaim": "data-postgres-0", "node": "node-a"}
    w.gauge("kubelet_volume_stats_capacity_bytes", pvc, gauge_pts(lambda t: 20e9))
    w.gauge("kubelet_volume_stats_available_bytes", pvc, gauge_pts(lambda t: 10e9))

    w.gauge("probe_ssl_earliest_cert_expiry", {"instance": "https://checkout.shop.example", "job": "blackbox"},
            gauge_pts(lambda t: NOW + 5 * 86400))
    w.gauge("probe_ssl_earliest_cert_expiry", {"instance": "https://web.other.example", "job": "blackbox"},
            gauge_pts(lambda t: NOW + 60 * 86400))
    w.gauge("probe_success", {"instance": "https://checkout.shop.example", "job": "blackbox"},
            gauge_pts(lambda t: 0 if t >= T_PROBE else 1))
    w.gauge("probe_success", {"instance": "https://web.other.example", "job": "blackbox"}, gauge_pts(lambda t: 1))

    hk = {"namespace": "shop", "pool": "HikariPool-1", "pod": CHECKOUT[0], "service": "checkout"}
    w.gauge("hikaricp_connections_active", hk, gauge_pts(lambda t: 19))
    w.gauge("hikaricp_connections_max", hk, gauge_pts(lambda t: 20))
    w.gauge("pg_stat_activity_count", {"instance": "pg:9187", "datname": "shop", "state": "active"},
            gauge_pts(lambda t: 30))
    w.gauge("pg_settings_max_connections", {"instance": "pg:9187"}, gauge_pts(lambda t: 100))

    for rcode, rate in (("NOERROR", 100), ("NXDOMAIN", 50), ("SERVFAIL", 5)):
        w.counter("coredns_dns_responses_total", {"server": "dns://:53", "zone": ".", "rcode": rcode},
                  counter_pts(lambda t, r=rate: r))
    return w.write(path)


@pytest.fixture(scope="module")
def prom_url(tmp_path_factory):
    require_binary("prometheus")
    require_binary("promtool")
    work = tmp_path_factory.mktemp("prom")
    with PrometheusServer(work, [build_openmetrics(work / "incident.om")]) as server:
        yield server.url


def ctx(**kw) -> ToolContext:
    return ToolContext(now=lambda: datetime.fromtimestamp(NOW, timezone.utc), **kw)


def registry(url, **kw) -> ToolRegistry:
    return ToolRegistry().register(*prometheus_tools(url, ctx(**kw)))


async def named(url, name, **args):
    return await registry(url).run("prom_named", {"name": name, **args})


def rows_by(result, key):
    return {r["labels"].get(key): r for r in result.data["rows"]}


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes_between(a_iso: str, b: int) -> float:
    return (datetime.fromisoformat(a_iso.replace("Z", "+00:00")).timestamp() - b) / 60


# ------------------------------------------------------------------ named catalog

async def test_memory_vs_limit_abnormal_with_threshold_text(prom_url):
    r = await named(prom_url, "memory_vs_limit", namespace="shop")
    assert r.status == "ok", r.summary
    rows = rows_by(r, "pod")
    hot = rows[CHECKOUT[0]]
    assert hot["state"] == "abnormal" and hot["value"] == pytest.approx(0.97, abs=1e-3)
    assert "memory at 97.0% of limit" in hot["text"]
    assert "memory at 97.0% of limit (abnormal > 90%)" in r.summary
    assert abs(minutes_between(hot["abnormal_since"], T_MEM)) <= 1
    assert rows[CHECKOUT[1]]["state"] == "normal" and rows[CHECKOUT[1]]["value"] == pytest.approx(0.4, abs=1e-3)
    assert WEB not in rows  # namespace filter applied
    assert r.data["rows"][0]["labels"]["pod"] == CHECKOUT[0]  # abnormal first
    assert 'namespace="shop"' in r.query


async def test_deployment_filter_maps_to_pod_names(prom_url):
    r = await named(prom_url, "memory_vs_limit", deployment="checkout")
    assert set(rows_by(r, "pod")) == set(CHECKOUT)
    r = await named(prom_url, "replicas_available_vs_desired", deployment="checkout")
    assert [row["labels"]["deployment"] for row in r.data["rows"]] == ["checkout"]


async def test_replicas_one_of_three(prom_url):
    r = await named(prom_url, "replicas_available_vs_desired")
    rows = rows_by(r, "deployment")
    assert rows["checkout"]["state"] == "abnormal"
    assert rows["checkout"]["available"] == 1 and rows["checkout"]["desired"] == 3
    assert rows["checkout"]["text"].startswith("1/3 replicas available")
    assert abs(minutes_between(rows["checkout"]["abnormal_since"], T_OUTAGE)) <= 1
    assert rows["web"]["state"] == "normal" and rows["web"]["text"].startswith("2/2")


async def test_container_restarts_in_window(prom_url):
    r = await named(prom_url, "container_restarts", namespace="shop", minutes=60)
    rows = rows_by(r, "pod")
    crash = rows[CHECKOUT[1]]
    assert crash["state"] == "abnormal" and round(crash["value"]) == 4
    assert crash["restarts_total"] == 4
    assert rows[CHECKOUT[0]]["state"] == "normal" and rows[CHECKOUT[0]]["value"] == 0
    short = rows_by(await named(prom_url, "container_restarts", pod=CHECKOUT[1], minutes=25), "pod")
    assert round(short[CHECKOUT[1]]["value"]) == 2  # only the restarts at -20m and -10m


async def test_cpu_throttling_and_usage(prom_url):
    thr = rows_by(await named(prom_url, "cpu_throttling_ratio", namespace="shop"), "pod")
    assert thr[CHECKOUT[0]]["state"] == "abnormal" and thr[CHECKOUT[0]]["value"] == pytest.approx(0.4, abs=0.01)
    assert thr[CHECKOUT[2]]["state"] == "normal" and thr[CHECKOUT[2]]["value"] == pytest.approx(0.02, abs=0.005)
    cpu = rows_by(await named(prom_url, "cpu_usage_vs_limit"), "pod")
    assert cpu[CHECKOUT[0]]["state"] == "abnormal" and cpu[CHECKOUT[0]]["value"] == pytest.approx(0.94, abs=0.01)
    assert cpu[WEB]["state"] == "normal"


async def test_termination_and_waiting_reasons(prom_url):
    term = await named(prom_url, "last_termination_reason", namespace="shop")
    assert [(row["labels"]["pod"], row["labels"]["reason"], row["state"]) for row in term.data["rows"]] == \
        [(CHECKOUT[1], "OOMKilled", "abnormal")]
    assert "last terminated: OOMKilled" in term.summary
    wait = await named(prom_url, "waiting_reason")
    assert [row["labels"]["reason"] for row in wait.data["rows"]] == ["CrashLoopBackOff"]
    # Nothing waiting in "other": a healthy answer, not "no data", because containers exist there.
    healthy = await named(prom_url, "waiting_reason", namespace="other")
    assert healthy.status == "ok" and healthy.data["examined"] == 1 and "nothing abnormal" in healthy.summary
    missing = await named(prom_url, "waiting_reason", namespace="nope")
    assert missing.status == "no_data"


async def test_node_conditions_and_filesystem(prom_url):
    nodes = await named(prom_url, "node_conditions")
    assert [(row["labels"]["node"], row["labels"]["condition"]) for row in nodes.data["rows"]] == \
        [("node-b", "MemoryPressure")]
    healthy = await named(prom_url, "node_conditions", node="node-a")
    assert healthy.status == "ok" and healthy.data["examined"] == 1
    fs = await named(prom_url, "filesystem_free")
    by_mount = {(row["labels"].get("instance"), row["labels"].get("persistentvolumeclaim")): row
                for row in fs.data["rows"]}
    assert by_mount[("node-b:9100", None)]["state"] == "abnormal"
    assert by_mount[("node-b:9100", None)]["value"] == pytest.approx(0.05)
    assert by_mount[("node-a:9100", None)]["state"] == "normal"
    assert by_mount[(None, "data-postgres-0")]["value"] == pytest.approx(0.5)
    assert not any(row["labels"].get("mountpoint") == "/run" for row in fs.data["rows"])  # tmpfs excluded
    pvc_only = await named(prom_url, "filesystem_free", namespace="shop")
    assert [row["labels"].get("persistentvolumeclaim") for row in pvc_only.data["rows"]] == ["data-postgres-0"]
    node_b = await named(prom_url, "filesystem_free", node="node-b")
    assert {row["labels"].get("instance") for row in node_b.data["rows"]} == {"node-b:9100"}


async def test_certificate_expiry_counts_from_ctx_now(prom_url):
    r = await named(prom_url, "certificate_expiry")
    rows = rows_by(r, "instance")
    # 5 days at the incident's now; evaluated at the wall clock it would be ~3 days (or nothing).
    assert rows["https://checkout.shop.example"]["value"] == pytest.approx(5.0, abs=0.01)
    assert rows["https://checkout.shop.example"]["state"] == "abnormal"
    assert rows["https://web.other.example"]["state"] == "normal"
    assert "certificate expires in 5.0 days (abnormal < 14 days)" in r.summary
    only = await named(prom_url, "certificate_expiry", service="checkout")
    assert list(rows_by(only, "instance")) == ["https://checkout.shop.example"]


async def test_http_red_entries(prom_url):
    err = rows_by(await named(prom_url, "error_ratio"), "service")
    assert err["checkout"]["state"] == "abnormal" and err["checkout"]["value"] == pytest.approx(10 / 60, abs=0.01)
    assert 0 <= minutes_between(err["checkout"]["abnormal_since"], T_ERR) <= 3
    assert err["web"]["value"] == 0 and err["web"]["state"] == "normal"  # no 5xx series at all -> 0, not missing
    assert err["payments"]["value"] == pytest.approx(0.02, abs=0.002)  # Micrometer status= style
    assert err["payments"]["state"] == "normal"
    lat = rows_by(await named(prom_url, "latency_p99", service="checkout"), "service")
    assert lat["checkout"]["state"] == "abnormal" and lat["checkout"]["value"] > 1.0
    assert lat["checkout"]["peak"] >= lat["checkout"]["value"]
    rate = rows_by(await named(prom_url, "request_rate"), "service")
    assert rate["checkout"]["value"] == pytest.approx(60, rel=0.02) and rate["checkout"]["state"] == "normal"


async def test_db_dns_probe(prom_url):
    db = await named(prom_url, "db_connections")
    by_key = {row["labels"].get("pool") or row["labels"].get("instance"): row for row in db.data["rows"]}
    assert by_key["HikariPool-1"]["state"] == "abnormal" and by_key["HikariPool-1"]["value"] == pytest.approx(0.95)
    assert by_key["pg:9187"]["state"] == "normal" and by_key["pg:9187"]["value"] == pytest.approx(0.3)
    dns = rows_by(await named(prom_url, "dns_errors"), "rcode")
    assert dns["SERVFAIL"]["state"] == "abnormal" and dns["SERVFAIL"]["value"] == pytest.approx(5 / 155, abs=1e-3)
    assert dns["NXDOMAIN"]["state"] == "normal"
    probe = rows_by(await named(prom_url, "probe_success"), "instance")
    assert probe["https://checkout.shop.example"]["state"] == "abnormal"
    assert "probe failing" in probe["https://checkout.shop.example"]["text"]
    assert abs(minutes_between(probe["https://checkout.shop.example"]["abnormal_since"], T_PROBE)) <= 1
    assert probe["https://web.other.example"]["state"] == "normal"


async def test_every_catalog_entry_is_valid_promql(prom_url):
    reg = registry(prom_url)
    cat = await reg.run("prom_catalog", {})
    names = [e["name"] for e in cat.data["entries"]]
    assert len(names) >= 16 and all(e["abnormal"] for e in cat.data["entries"])
    for name in names:
        for filters in ({}, {"namespace": "shop", "deployment": "checkout", "node": "node-a", "service": "x"}):
            r = await reg.run("prom_named", {"name": name, **filters})
            assert r.status in ("ok", "no_data"), (name, filters, r.error)


async def test_filter_validation_and_ignored_filters(prom_url):
    bad = await named(prom_url, "memory_vs_limit", pod="checkout.*")
    assert bad.status == "error" and "prefix it with '~'" in bad.error
    regex = await named(prom_url, "memory_vs_limit", pod="~checkout-.*-(abcde|klmno)")
    assert set(rows_by(regex, "pod")) == {CHECKOUT[0], CHECKOUT[2]}
    quoted = await named(prom_url, "memory_vs_limit", pod='x"} or vector(1) #')
    assert quoted.status == "error"  # metacharacters refused before they reach PromQL
    injected = await named(prom_url, "memory_vs_limit", namespace='shop",namespace!="')
    assert injected.status == "no_data"  # escaped into a literal that matches nothing
    ignored = await named(prom_url, "node_conditions", pod=CHECKOUT[0])
    assert ignored.data["ignored_filters"] == ["pod"] and "ignored filters" in ignored.summary
    unknown = await named(prom_url, "no_such_query")
    assert unknown.status == "error" and "memory_vs_limit" in unknown.error


async def test_namespace_allowlist(prom_url):
    reg = registry(prom_url, namespace_allowlist=("other",))
    denied = await reg.run("prom_named", {"name": "memory_vs_limit", "namespace": "shop"})
    assert denied.status == "error" and "not in the allowed namespaces" in denied.error
    scoped = await reg.run("prom_named", {"name": "memory_vs_limit"})
    assert {row["labels"]["namespace"] for row in scoped.data["rows"]} == {"other"}
    unconfined = await reg.run("prom_query", {"query": "kube_pod_container_info"})
    assert unconfined.status == "error" and 'add namespace="other"' in unconfined.error
    raw = await reg.run("prom_query", {"query": 'kube_pod_container_info{namespace="other"}'})
    assert {row["labels"]["namespace"] for row in raw.data["result"]} == {"other"}
    # Second layer: rows that end up labelled with another namespace are still hidden.
    relabelled = await reg.run("prom_query", {"query": 'label_replace(kube_pod_container_info{namespace="other"}, '
                                                       '"namespace", "shop", "", "")'})
    assert relabelled.status == "no_data" and relabelled.data["hidden_outside_allowed_namespaces"] == 1
    ns = await reg.run("prom_labels", {"label": "namespace"})
    assert ns.data["values"] == ["other"]


# ------------------------------------------------------------------ raw PromQL and discovery

async def test_prom_query_at_ctx_now_and_explicit_time(prom_url):
    reg = registry(prom_url)
    r = await reg.run("prom_query", {"query": 'kube_deployment_status_replicas_available{deployment="checkout"}'})
    assert r.status == "ok" and r.data["result"][0]["value"] == 1 and r.data["time"] == iso(NOW)
    before = await reg.run("prom_query", {"query": 'kube_deployment_status_replicas_available{deployment="checkout"}',
                                          "time": "now-1h"})
    assert before.data["result"][0]["value"] == 3
    iso_time = await reg.run("prom_query", {"query": "kube_deployment_spec_replicas", "time": iso(NOW - 600)})
    assert iso_time.status == "ok" and iso_time.data["count"] == 2
    scalar = await reg.run("prom_query", {"query": "scalar(sum(kube_deployment_spec_replicas)) * 2"})
    assert scalar.data["result"] == [{"labels": {}, "value": 10}]
    empty = await reg.run("prom_query", {"query": 'up{job="nothing"}'})
    assert empty.status == "no_data"


async def test_prom_range_raw_points_then_reduced_with_change_point(prom_url):
    reg = registry(prom_url)
    small = await reg.run("prom_range", {"query": f'kube_deployment_status_replicas_available{{deployment="checkout"}}',
                                         "minutes": 60, "step": "1m"})
    assert small.status == "ok" and not small.reduced
    values = small.data["series"][0]["values"]
    assert len(values) == 61 and values[0] == 3 and values[-1] == 1
    big = await reg.run("prom_range", {"query": "container_memory_working_set_bytes", "minutes": 180})
    assert big.reduced and big.size_bytes() <= 6000
    first = big.data["series"][0]
    assert first["labels"]["pod"] == CHECKOUT[0]  # the series that changed comes first
    assert first["anomaly"] == "shift" and first["baseline"] == pytest.approx(0.4 * MEM_LIMIT, rel=1e-5)
    assert first["window"] == pytest.approx(0.97 * MEM_LIMIT, rel=1e-5) and first["last"] == pytest.approx(0.97 * MEM_LIMIT, rel=1e-5)
    assert first["change_point"] == iso(T_MEM)
    assert first["min"] == pytest.approx(0.4 * MEM_LIMIT, rel=1e-5) and first["max"] == pytest.approx(0.97 * MEM_LIMIT, rel=1e-5)
    assert all(s.get("anomaly") is None for s in big.data["series"][1:])
    assert big.data["common_labels"]["__name__"] == "container_memory_working_set_bytes"
    assert "shift" in big.summary and iso(T_MEM) in big.summary


async def test_prom_range_bad_arguments(prom_url):
    reg = registry(prom_url)
    r = await reg.run("prom_range", {"query": "up", "start": "now-10m", "end": "now-20m"})
    assert r.status == "error" and "not before" in r.error
    r = await reg.run("prom_range", {"query": "up", "step": "soon"})
    assert r.status == "error" and "bad duration" in r.error


async def test_series_and_labels(prom_url):
    reg = registry(prom_url)
    s = await reg.run("prom_series", {"match": '{namespace="shop", __name__=~"kube_pod_container_.*"}'})
    assert s.status == "ok"
    assert s.data["by_metric"]["kube_pod_container_info"] == 3
    assert s.data["by_metric"]["kube_pod_container_status_waiting_reason"] == 1
    names = await reg.run("prom_labels", {})
    assert {"namespace", "pod", "container", "persistentvolumeclaim"} <= set(names.data["labels"])
    values = await reg.run("prom_labels", {"label": "deployment"})
    assert values.data["values"] == ["checkout", "web"]
    bad = await reg.run("prom_labels", {"label": "not a label"})
    assert bad.status == "error"


async def test_prom_anomaly_finds_planted_change(prom_url):
    reg = registry(prom_url)
    r = await reg.run("prom_anomaly", {"query": 'sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))'})
    assert r.status == "ok"
    top = r.data["series"][0]
    assert top["labels"] == {"service": "checkout"} and top["anomalous"] and top["kind"] == "shift"
    assert top["direction"] == "up" and top["z"] > 10
    assert top["baseline_mean"] == pytest.approx(0.5, abs=0.05)
    assert 0 <= minutes_between(top["change_at"], T_ERR) <= 2
    assert "1 of 1 series anomalous" in r.summary
    calm = await reg.run("prom_anomaly", {"query": "sum(rate(coredns_dns_responses_total[5m]))"})
    assert calm.status == "ok" and not calm.data["series"][0]["anomalous"]
    # An hour before the incident nothing had changed yet.
    early = await reg.run("prom_anomaly", {"query": "container_memory_working_set_bytes", "at": "now-1h"})
    assert not any(s["anomalous"] for s in early.data["series"])
    none = await reg.run("prom_anomaly", {"query": 'up{job="nothing"}'})
    assert none.status == "no_data"


# ------------------------------------------------------------------ failures

async def test_bad_promql_reports_query_and_parse_error(prom_url):
    reg = registry(prom_url)
    q = "sum(rate(http_requests_total[5m])"
    r = await reg.run("prom_query", {"query": q})  # caught by the guard's parser, never sent
    assert r.status == "error" and r.query == q
    assert r.error == "PromQL syntax error (query not sent): unclosed left parenthesis"
    r = await reg.run("prom_range", {"query": "rate(http_requests_total)"})
    assert r.status == "error" and "expected type matrix in call to function 'rate'" in r.error
    # Parsed locally but refused by the server (experimental, behind a feature flag): its message.
    q = "limitk(2, http_requests_total)"
    r = await reg.run("prom_query", {"query": q})
    assert r.status == "error" and r.query == q
    assert "parse error" in r.error and "HTTP 400 bad_data" in r.error and prom_url in r.error


async def test_not_configured():
    reg = ToolRegistry().register(*prometheus_tools(None, ctx()))
    for name, args in (("prom_query", {"query": "up"}), ("prom_range", {"query": "up"}),
                       ("prom_series", {"match": "up"}), ("prom_labels", {}), ("prom_catalog", {}),
                       ("prom_named", {"name": "error_ratio"}), ("prom_anomaly", {"query": "up"})):
        r = await reg.run(name, args)
        assert r.status == "error" and r.error == NOT_CONFIGURED, name


async def test_server_down():
    url = f"http://127.0.0.1:{free_port()}"
    r = await registry(url).run("prom_query", {"query": "up"})
    assert r.status == "error" and url in r.error and "Connection refused" in r.error


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


async def test_timeout(silent_server):
    reg = ToolRegistry().register(*prometheus_tools(silent_server, ctx(timeout=0.5)))
    started = time.monotonic()
    r = await reg.run("prom_named", {"name": "memory_vs_limit"})
    assert r.status == "error" and silent_server in r.error and "timed out after 0.5s" in r.error
    assert time.monotonic() - started < 3


class _Garbage(BaseHTTPRequestHandler):
    seen_auth: list = []

    def do_GET(self):
        self.seen_auth.append(self.headers.get("Authorization"))
        status, body = (502, b"<html>bad gateway</html>") if "query_range" in self.path else (200, b"hello, not json")
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def garbage_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


async def test_garbage_and_5xx(garbage_server):
    reg = registry(garbage_server)
    r = await reg.run("prom_query", {"query": "up"})
    assert r.status == "error" and garbage_server in r.error and "non-JSON" in r.error
    r = await reg.run("prom_range", {"query": "up"})
    assert r.status == "error" and "HTTP 502" in r.error and "bad gateway" in r.error


async def test_tools_run_concurrently(prom_url):
    reg = registry(prom_url)
    results = await asyncio.gather(*(reg.run("prom_named", {"name": n}) for n in
                                     ("memory_vs_limit", "error_ratio", "container_restarts", "node_conditions")))
    assert all(r.status == "ok" for r in results)


async def test_headers_are_sent(garbage_server):
    _Garbage.seen_auth.clear()
    tools = prometheus_tools(garbage_server, ctx(), headers={"Authorization": "Bearer t0k"})
    await ToolRegistry().register(*tools).run("prom_labels", {})
    assert _Garbage.seen_auth == ["Bearer t0k"]


def _accepted_connections(url: str) -> float:
    """Prometheus's own count of HTTP connections it accepted (its /metrics, read on a connection of its own)."""
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("net_conntrack_listener_conn_accepted_total") and 'listener_name="http"' in line)


async def test_a_session_of_queries_reuses_its_connections(prom_url):
    # A diagnosis sends dozens of queries; a new HTTP session and TCP connection for each cost CPU
    # the engine waited on.
    reg = registry(prom_url)
    before = _accepted_connections(prom_url)
    assert before >= 1   # the counter exists (this very read was accepted)
    for name in ("memory_vs_limit", "error_ratio", "container_restarts", "node_conditions", "latency_p99", "dns_errors"):
        assert (await reg.run("prom_named", {"name": name})).status in ("ok", "no_data")
    await asyncio.gather(*(reg.run("prom_query", {"query": f"up + {i}"}) for i in range(4)))
    # One connection for the sequential queries, at most one more per parallel one, one for the count itself.
    assert _accepted_connections(prom_url) - before <= 1 + 4 + 1
