"""Catalog filter rendering, argument parsing and helpers that need no server."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_api_client.exceptions import PrometheusApiClientException

from tools.base import ToolResult
from tools.prometheus.catalog import CATALOG, ENTRIES, POD, FilterError, Filters, promql_string, re2_literal
from tools.prometheus.client import explain_http_error
from tools.prometheus.openmetrics import OpenMetricsWriter
from tools.prometheus.reduce import fit_list
from tools.prometheus.timeparse import ArgError, nice_step, parse_duration, parse_time

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_string_and_regex_escaping():
    assert promql_string('a"b\\c\nd') == r'"a\"b\\c\nd"'
    assert re2_literal("ip-10-0-0-1.ec2.internal") == r"ip-10-0-0-1\.ec2\.internal"
    assert re.fullmatch(re2_literal("a.b+(c)"), "a.b+(c)") and not re.fullmatch(re2_literal("a.b"), "axb")


def test_filters_render_per_metric_family():
    f = Filters.parse({"namespace": "shop", "deployment": "checkout", "node": None})
    assert f.sel("container_memory_working_set_bytes", 'container!=""', on=POD) == \
        'container_memory_working_set_bytes{container!="",namespace="shop",pod=~"(?:checkout)-[a-z0-9]{1,10}-[a-z0-9]{5}"}'
    pod_re = re.compile("(?:checkout)-[a-z0-9]{1,10}-[a-z0-9]{5}")
    assert pod_re.fullmatch("checkout-7d9f8b6c5d-abcde") and not pod_re.fullmatch("checkout-db-0")
    assert Filters.parse({}).sel("up", on=POD) == "up"  # no empty braces


def test_filters_reject_metachars_unless_regex_requested():
    with pytest.raises(FilterError, match="prefix it with '~'"):
        Filters.parse({"pod": "api-.*"})
    f = Filters.parse({"pod": "~api-.*"})
    assert f.matchers(POD) == ['pod=~"api-.*"']
    with pytest.raises(FilterError, match="not a valid regex"):
        Filters.parse({"pod": "~api-("})
    with pytest.raises(FilterError, match="unknown filter"):
        Filters.parse({"cluster": "x"})
    # Dots are ordinary in Kubernetes names and stay exact matches.
    assert Filters.parse({"node": "ip-10-0-0-1.ec2.internal"}).values["node"] == "ip-10-0-0-1.ec2.internal"


def test_namespace_allowlist_rendering():
    f = Filters.parse({}, namespace_allowlist=("shop", "pay.ments"))
    assert f.matchers(POD) == [r'namespace=~"shop|pay\\.ments"']
    assert Filters.parse({"namespace": "shop"}, ("shop",)).matchers(POD) == ['namespace="shop"']
    with pytest.raises(FilterError, match="not in the allowed"):
        Filters.parse({"namespace": "kube-system"}, ("shop",))
    with pytest.raises(FilterError, match="not in the allowed"):
        Filters.parse({"namespace": "~.*"}, ("shop",))  # a regex could escape the allowlist


def test_catalog_entries_are_complete():
    required = {"error_ratio", "latency_p99", "cpu_throttling_ratio", "memory_vs_limit", "container_restarts",
                "last_termination_reason", "waiting_reason", "replicas_available_vs_desired", "node_conditions",
                "filesystem_free", "certificate_expiry", "cpu_usage_vs_limit", "db_connections", "dns_errors",
                "probe_success", "request_rate"}
    assert required <= set(CATALOG)
    for e in ENTRIES:
        assert e.description and e.abnormal_text and e.phrase, e.name
        assert e.threshold is not None or e.judge is not None, e.name
        q = e.build(Filters.parse({}), "60m")
        assert q.count("(") == q.count(")") and q.count("{") == q.count("}"), e.name


def test_thresholds():
    mem = CATALOG["memory_vs_limit"]
    assert mem.is_abnormal(0.95, {}) and not mem.is_abnormal(0.85, {}) and mem.fmt(0.973) == "97.3%"
    fs = CATALOG["filesystem_free"]
    assert fs.is_abnormal(0.05, {}) and not fs.is_abnormal(0.5, {})
    dns = CATALOG["dns_errors"]
    assert dns.is_abnormal(0.05, {"rcode": "SERVFAIL"}) and not dns.is_abnormal(0.9, {"rcode": "NXDOMAIN"})
    term = CATALOG["last_termination_reason"]
    assert term.is_abnormal(1, {"reason": "OOMKilled"}) and not term.is_abnormal(1, {"reason": "Completed"})
    assert CATALOG["latency_p99"].fmt(0.25) == "250ms" and CATALOG["latency_p99"].fmt(2.5) == "2.50s"


def test_parse_time_and_duration():
    assert parse_time(None, NOW) == NOW and parse_time("now", NOW) == NOW
    assert parse_time("now-15m", NOW) == NOW - timedelta(minutes=15)
    assert parse_time("-2h", NOW) == NOW - timedelta(hours=2)
    assert parse_time("2024-05-01T11:00:00Z", NOW) == NOW - timedelta(hours=1)
    assert parse_time("2024-05-01T11:00:00", NOW) == NOW - timedelta(hours=1)  # naive means UTC
    assert parse_time(NOW.timestamp() - 60, NOW) == NOW - timedelta(minutes=1)
    assert parse_time(str(int(NOW.timestamp())), NOW) == NOW
    with pytest.raises(ArgError):
        parse_time("yesterday-ish", NOW)
    assert parse_duration("90s") == 90 and parse_duration("1.5h") == 5400 and parse_duration(30) == 30
    for bad in ("0s", "-5m", "5 parsecs"):
        with pytest.raises(ArgError):
            parse_duration(bad)
    assert nice_step(3600, 240) == 15 and nice_step(86400, 240) == 600


def test_explain_http_error():
    exc = PrometheusApiClientException(
        "HTTP Status Code 422 (b'{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"many-to-many\"}')")
    assert explain_http_error(exc) == "HTTP 422 execution: many-to-many"
    html = PrometheusApiClientException("HTTP Status Code 502 (b'<html>\\n  bad gateway </html>')")
    assert explain_http_error(html) == "HTTP 502: <html> bad gateway </html>"
    assert explain_http_error(PrometheusApiClientException("odd")) == "odd"


def test_fit_list_keeps_ranked_prefix():
    r = ToolResult("ok", {"rows": [{"i": i, "pad": "x" * 50} for i in range(100)]})
    out = fit_list(r, "rows", 1000)
    assert out.size_bytes() <= 1000
    kept = out.data["rows"]
    assert [x["i"] for x in kept] == list(range(len(kept))) and out.data["rows_omitted"] == 100 - len(kept)


def test_openmetrics_writer_format():
    w = OpenMetricsWriter()
    w.counter("http_requests_total", {"code": "500", "path": 'a"b'}, [(1700000060, 2), (1700000000, 1)])
    w.gauge("temp", {}, [(1700000000.5, 21.5)])
    w.histogram("lat_seconds", {"svc": "x"}, [(1700000000, {0.5: 3, float("inf"): 4}, 1.25)])
    text = w.text()
    assert text.splitlines() == [
        "# TYPE http_requests counter",
        'http_requests_total{code="500",path="a\\"b"} 1 1700000000',
        'http_requests_total{code="500",path="a\\"b"} 2 1700000060',
        "# TYPE temp gauge",
        "temp 21.5 1700000000.5",
        "# TYPE lat_seconds histogram",
        'lat_seconds_bucket{svc="x",le="0.5"} 3 1700000000',
        'lat_seconds_bucket{svc="x",le="+Inf"} 4 1700000000',
        'lat_seconds_count{svc="x"} 4 1700000000',
        'lat_seconds_sum{svc="x"} 1.25 1700000000',
        "# EOF",
    ]
    with pytest.raises(ValueError):
        w.family("temp", "counter")
