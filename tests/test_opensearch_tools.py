"""OpenSearch log tools through opensearch-py's RequestsHttpConnection, with `responses` as the server."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from tools.base import ToolContext
from tools.opensearch import LogFields, make_client, opensearch_tools

BASE = "http://os.test:9200"
SEARCH = f"{BASE}/logs-*/_search"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def tools(namespace_allowlist: tuple[str, ...] = ()):
    ctx = ToolContext(now=lambda: NOW, timeout=2.0, namespace_allowlist=namespace_allowlist)
    return {t.name: t for t in opensearch_tools(make_client(BASE), ctx)}


def hit(i: int, line: str, pod: str = "api-1", level: str | None = None, field: str = "log") -> dict:
    src = {"@timestamp": (NOW - timedelta(seconds=i)).isoformat().replace("+00:00", "Z"), field: line,
           "kubernetes": {"namespace_name": "shop", "pod_name": pod, "container_name": "api"}}
    if level:
        src["level"] = level
    return {"_index": "logs-2024.05.01", "_id": f"id{i}", "_score": None, "_source": src, "sort": [i]}


def search_response(hits: list[dict], total: int | None = None) -> dict:
    return {"took": 3, "timed_out": False, "_shards": {"total": 2, "successful": 2, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": len(hits) if total is None else total, "relation": "eq"},
                     "max_score": None, "hits": hits}}


def sent_body(call_index: int = 0) -> dict:
    return json.loads(responses.calls[call_index].request.body)


def filters_of(body: dict) -> list[dict]:
    return body["query"]["bool"]["filter"]


@responses.activate
async def test_search_logs_sends_scoped_query_and_returns_templates():
    hits = [hit(i, f"connect to 10.0.0.{i} failed: connection refused", level="error") for i in range(40)]
    hits += [hit(100 + i, f"GET /api/items/{i} 200 in {i}ms", pod="api-2") for i in range(10)]
    responses.post(SEARCH, json=search_response(hits, total=900))
    r = await tools()["search_logs"].run(namespace="shop", pod="api-1", app="api", query="refused",
                                         level="error", minutes=15, limit=50)
    assert r.status == "ok", r.error
    body = sent_body()
    flt = filters_of(body)
    assert {"term": {"kubernetes.namespace_name": "shop"}} in flt
    assert {"term": {"kubernetes.pod_name": "api-1"}} in flt
    rng = next(f["range"]["@timestamp"] for f in flt if "range" in f)
    assert rng["gte"] == "2024-05-01T11:45:00.000Z" and rng["lte"] == "2024-05-01T12:00:00.000Z"
    app = next(f for f in flt if "bool" in f and any("kubernetes.labels.app" in json.dumps(s)
                                                      for s in f["bool"]["should"]))
    assert {"term": {"kubernetes.labels.app": "api"}} in app["bool"]["should"]
    sqs = next(f["simple_query_string"] for f in flt if "simple_query_string" in f)
    assert sqs["query"] == "refused" and sqs["fields"] == ["log", "message"]
    level = json.dumps([f for f in flt if "bool" in f and "level" in json.dumps(f)])
    assert '"ERROR"' in level and '"fatal"' in level and '"exists"' in level and '"warn"' not in level
    assert body["size"] == 50 and body["sort"] == [{"@timestamp": {"order": "desc"}}]
    # The agent sees templates with counts, not 50 raw lines.
    templates = r.data["templates"]
    assert r.data["total_hits"] == 900 and r.data["sampled"] == 50
    assert len(templates) == 2 and r.reduced
    assert templates[0]["count"] == 40 and templates[0]["level"] == "ERROR"
    assert "<IP>" in templates[0]["template"] or "<*>" in templates[0]["template"]
    assert sum(t["count"] for t in templates) == 50
    assert "newest 50 of 900" in r.data["note"]
    assert r.query.startswith(f"POST {SEARCH} {{")
    assert json.loads(r.query.split(" ", 2)[2]) == body


@responses.activate
async def test_explicit_window_and_custom_fields_and_index():
    responses.post(f"{BASE}/k8s-logs/_search", json=search_response([hit(1, "hello", field="message")]))
    fields = LogFields(namespace="kubernetes.namespace_name.keyword", messages=("message",))
    t = {x.name: x for x in opensearch_tools(make_client(BASE), ToolContext(now=lambda: NOW), "k8s-logs", fields)}
    r = await t["search_logs"].run(namespace="shop", start="2024-05-01T10:00:00Z", end="2024-05-01T10:30:00+00:00")
    assert r.status == "ok"
    flt = filters_of(sent_body())
    assert {"term": {"kubernetes.namespace_name.keyword": "shop"}} in flt
    rng = next(f["range"]["@timestamp"] for f in flt if "range" in f)
    assert (rng["gte"], rng["lte"]) == ("2024-05-01T10:00:00.000Z", "2024-05-01T10:30:00.000Z")
    # A line with no variables is its own template: no separate example is repeated.
    assert r.data["templates"][0]["template"] == "hello" and "example" not in r.data["templates"][0]


@responses.activate
async def test_no_hits_is_no_data():
    responses.post(SEARCH, json=search_response([]))
    r = await tools()["search_logs"].run(namespace="shop", query="nothing-like-this")
    assert r.status == "no_data" and r.data["total_hits"] == 0
    assert "nothing-like-this" in r.summary


@responses.activate
async def test_namespace_allowlist():
    responses.post(SEARCH, json=search_response([hit(1, "x")]))
    t = tools(namespace_allowlist=("shop", "payments"))
    r = await t["search_logs"].run(namespace="kube-system")
    assert r.status == "error" and "kube-system" in r.error and len(responses.calls) == 0
    r = await t["search_logs"].run()
    assert r.status == "ok"
    assert {"terms": {"kubernetes.namespace_name": ["shop", "payments"]}} in filters_of(sent_body())


@pytest.mark.parametrize("args, fragment", [
    ({"level": "loud"}, "unknown level"),
    ({"start": "2024-05-01T12:00:00Z", "end": "2024-05-01T11:00:00Z"}, "empty time window"),
    ({"start": "yesterday"}, "invalid arguments"),
    ({"minutes": -5}, "minutes must be positive"),
])
@responses.activate
async def test_bad_arguments_are_errors_without_a_request(args, fragment):
    r = await tools()["search_logs"].run(**args)
    assert r.status == "error" and fragment in r.error
    assert len(responses.calls) == 0


ERROR_CASES = [
    (400, {"error": {"root_cause": [{"type": "query_shard_exception",
                                     "reason": "failed to create query: For input string: \"abc\"",
                                     "index": "logs-2024.05.01"}],
                     "type": "search_phase_execution_exception", "reason": "all shards failed"}, "status": 400},
     ["HTTP 400", "query_shard_exception", "failed to create query: For input string"]),
    (401, "Unauthorized", ["HTTP 401", "Unauthorized", "credentials"]),
    (404, {"error": {"root_cause": [{"type": "index_not_found_exception", "reason": "no such index [logs-*]",
                                     "index": "logs-*", "resource.type": "index_or_alias"}],
                     "type": "index_not_found_exception", "reason": "no such index [logs-*]"}, "status": 404},
     ["HTTP 404", "index_not_found_exception", "no such index [logs-*]", "index pattern"]),
    (429, {"error": {"root_cause": [{"type": "circuit_breaking_exception",
                                     "reason": "[parent] Data too large, data for [<http_request>] would be "
                                               "[1030mb], which is larger than the limit of [1020mb]"}],
                     "type": "circuit_breaking_exception", "reason": "[parent] Data too large"}, "status": 429},
     ["HTTP 429", "circuit_breaking_exception", "Data too large", "retry later"]),
    (503, "OpenSearch Security not initialized.", ["HTTP 503", "Security not initialized", "unavailable"]),
]


@pytest.mark.parametrize("status, payload, fragments", ERROR_CASES)
@responses.activate
async def test_backend_errors_carry_status_reason_and_exact_query(status, payload, fragments):
    if isinstance(payload, dict):
        responses.post(SEARCH, json=payload, status=status)
    else:
        responses.post(SEARCH, body=payload, status=status, content_type="text/plain")
    r = await tools()["search_logs"].run(namespace="shop")
    assert r.status == "error"
    for frag in fragments:
        assert frag in r.error, (frag, r.error)
    assert r.query.startswith(f"POST {SEARCH} ") and '"kubernetes.namespace_name":"shop"' in r.query
    assert len(responses.calls) == 1  # no client-side retries eating the time budget


@pytest.mark.parametrize("exc, fragment", [
    (requests.exceptions.ReadTimeout("Read timed out. (read timeout=2.0)"), "timed out after 2s"),
    (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "connection failed"),
])
@responses.activate
async def test_transport_failures(exc, fragment):
    responses.post(SEARCH, body=exc)
    r = await tools()["log_aggregations"].run(namespace="shop")
    assert r.status == "error" and fragment in r.error
    assert r.query.startswith(f"POST {SEARCH} ") and '"aggs"' in r.query
    assert len(responses.calls) == 1


@pytest.mark.parametrize("body, ctype, fragment", [
    ("<html>502 Bad Gateway</html>", "application/json", "unparseable response"),
    ('{"acknowledged": true}', "application/json", "unexpected response shape"),
    ("not json at all", "text/plain", "unexpected response shape"),
])
@responses.activate
async def test_garbage_bodies(body, ctype, fragment):
    responses.post(SEARCH, body=body, status=200, content_type=ctype)
    r = await tools()["search_logs"].run()
    assert r.status == "error" and fragment in r.error


@responses.activate
async def test_search_timed_out_flag_is_an_error():
    resp = search_response([hit(1, "x")])
    resp["timed_out"] = True
    responses.post(SEARCH, json=resp)
    r = await tools()["search_logs"].run()
    assert r.status == "error" and "timed_out" in r.error


async def test_missing_client_is_an_error():
    r = await {t.name: t for t in opensearch_tools(None, ToolContext())}["search_logs"].run()
    assert r.status == "error" and "not configured" in r.error


def agg_response(total: int = 120) -> dict:
    hist = [{"key_as_string": f"2024-05-01T11:{m:02d}:00.000Z", "key": 0, "doc_count": c}
            for m, c in [(30, 0), (35, 0), (40, 4), (45, 9), (50, 2), (55, 0)]]
    return {
        "took": 5, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": total, "relation": "eq"}, "max_score": None, "hits": []},
        "aggregations": {
            "by_pod": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                {"key": "api-1", "doc_count": 70}, {"key": "api-2", "doc_count": 50}]},
            "by_level": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                {"key": "info", "doc_count": 80}, {"key": "error", "doc_count": 15}]},
            "errors": {"doc_count": 15,
                       "over_time": {"buckets": hist},
                       "by_pod": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                                  "buckets": [{"key": "api-2", "doc_count": 15}]}},
            "top_messages_0": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                {"key": "cache warmed\n", "doc_count": 60},
                *[{"key": f"connect to 10.1.0.{i} failed: connection refused\n", "doc_count": 3}
                  for i in range(5)]]},
            "top_messages_1": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []},
        },
    }


@responses.activate
async def test_log_aggregations_shapes_buckets():
    responses.post(SEARCH, json=agg_response())
    r = await tools()["log_aggregations"].run(namespace="shop", minutes=30, top=5)
    assert r.status == "ok", r.error
    body = sent_body()
    assert body["size"] == 0
    hist = body["aggs"]["errors"]["aggs"]["over_time"]["date_histogram"]
    assert hist["fixed_interval"] == "2m"  # 30 minutes in <= 20 buckets
    assert hist["extended_bounds"] == {"min": "2024-05-01T11:30:00.000Z", "max": "2024-05-01T12:00:00.000Z"}
    assert body["aggs"]["top_messages_0"]["terms"]["field"] == "log.keyword"
    d = r.data
    assert d["by_pod"] == [{"pod": "api-1", "count": 70, "errors": 0}, {"pod": "api-2", "count": 50, "errors": 15}]
    assert d["by_level"] == {"info": 80, "error": 15, "(no level field)": 25}
    assert d["errors"]["total"] == 15 and d["errors"]["first_error_at"] == "2024-05-01T11:40:00.000Z"
    assert d["errors"]["peak"] == {"at": "2024-05-01T11:45:00.000Z", "count": 9}
    # The five "connect to <ip>" buckets fold into one weighted template.
    top = {m["count"]: m for m in d["top_messages"]}
    assert set(top) == {60, 15} and top[15]["distinct_messages"] == 5
    assert "api-2" in r.summary and "11:40" in r.summary


@responses.activate
async def test_log_aggregations_fielddata_error_falls_back_to_mined_sample():
    fielddata = {"error": {"root_cause": [{"type": "illegal_argument_exception", "reason":
                 "Text fields are not optimised for operations that require per-document field data like "
                 "aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                 "field instead. Alternatively, set fielddata=true on [log] in order to load field data"}],
                 "type": "search_phase_execution_exception", "reason": "all shards failed"}, "status": 400}
    no_msgs = agg_response()
    for k in ("top_messages_0", "top_messages_1"):
        no_msgs["aggregations"].pop(k)
    sample = search_response([hit(i, f"timeout calling payments after {i}ms", level="error") for i in range(30)])
    responses.post(SEARCH, json=fielddata, status=400)
    responses.post(SEARCH, json=no_msgs)
    responses.post(SEARCH, json=sample)
    r = await tools()["log_aggregations"].run(namespace="shop")
    assert r.status == "ok", r.error
    assert len(responses.calls) == 3
    assert "top_messages_0" in sent_body(0)["aggs"] and "top_messages_0" not in sent_body(1)["aggs"]
    assert sent_body(2)["size"] > 0
    assert "mined" in r.data["top_messages_source"]
    assert r.data["top_messages"][0]["count"] == 30
    assert any("fielddata" in n for n in r.data["notes"])


@responses.activate
async def test_log_aggregations_other_400_is_not_retried():
    responses.post(SEARCH, json={"error": {"root_cause": [{"type": "parsing_exception", "reason": "bad agg"}],
                                           "type": "parsing_exception", "reason": "bad agg"}, "status": 400},
                   status=400)
    r = await tools()["log_aggregations"].run()
    assert r.status == "error" and "bad agg" in r.error and len(responses.calls) == 1


@responses.activate
async def test_many_templates_are_reduced_to_budget():
    # Drain only merges lines with equal token counts: 40 lengths give 40 distinct templates.
    words = [f"word{k}" for k in range(60)]
    hits = [hit(i, " ".join(words[: 5 + i % 40]) + " " + "x" * 120) for i in range(300)]
    responses.post(SEARCH, json=search_response(hits))
    t = tools()["search_logs"]
    r = await t.run(limit=300)
    assert r.status == "ok" and r.reduced
    assert r.size_bytes() <= t.budget_bytes
    kept = [x for x in r.data["templates"] if isinstance(x, dict) and "template" in x]
    assert 1 <= len(kept) < 40 and r.data["templates_omitted"] == 40 - len(kept)
    assert all(len(x.get("example", "")) <= 340 for x in kept)  # one example each, clipped at a boundary
