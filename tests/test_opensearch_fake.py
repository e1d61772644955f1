"""The fake OpenSearch through the real opensearch-py client: endpoints, DSL subset, response shapes."""
from __future__ import annotations

import json

import pytest
from opensearchpy.exceptions import NotFoundError, RequestError

from tools.opensearch import FakeOpenSearch, make_client

DOCS = [
    {"@timestamp": "2024-05-01T10:00:30Z", "log": "GET /health 200\n", "level": "info",
     "kubernetes": {"namespace_name": "shop", "pod_name": "api-0", "labels": {"app": "api"}}},
    {"@timestamp": "2024-05-01T10:01:10Z", "log": "ERROR db timeout after 30s", "level": "error",
     "kubernetes": {"namespace_name": "shop", "pod_name": "api-1", "labels": {"app": "api"}}},
    {"@timestamp": "2024-05-01T10:02:50Z", "message": "Connection refused by upstream payments",
     "kubernetes": {"namespace_name": "shop", "pod_name": "api-1", "labels": {"app": "api"}}},
    {"@timestamp": "2024-05-01T10:03:00.500+00:00", "message": "charge ok", "level": "info",
     "kubernetes": {"namespace_name": "payments", "pod_name": "pay-0"}},
    {"@timestamp": 1714557900000, "log": "warn: slow query took 2s", "level": "warn",  # 10:05:00 as epoch ms
     "kubernetes": {"namespace_name": "shop", "pod_name": "api-0", "labels": {"app": "api"}}},
]


@pytest.fixture(scope="module")
def fake():
    with FakeOpenSearch(DOCS, index="logs-test") as f:
        yield f


@pytest.fixture
def client(fake):
    return make_client(fake.url)


def ids(resp: dict) -> list[str]:
    return [h["_source"].get("log") or h["_source"].get("message") for h in resp["hits"]["hits"]]


def test_info_head_and_count(client, fake):
    assert client.info()["version"]["distribution"] == "opensearch"
    assert client.indices.exists(index="logs-test") is True
    assert client.indices.exists(index="logs-*") is True
    assert client.indices.exists(index="nope") is False
    assert client.count(index="logs-*", body={"query": {"term": {"kubernetes.namespace_name": "shop"}}})["count"] == 4
    assert client.count(index="logs-*")["count"] == 5


def test_response_shape_sort_size_and_source_filter(client):
    resp = client.search(index="logs-*", body={
        "size": 2, "sort": [{"@timestamp": {"order": "desc"}}], "track_total_hits": True,
        "_source": ["@timestamp", "log", "message", "kubernetes.pod_name"],
        "query": {"bool": {"filter": [{"term": {"kubernetes.namespace_name": "shop"}}]}}})
    assert resp["timed_out"] is False and resp["_shards"]["failed"] == 0
    assert resp["hits"]["total"] == {"value": 4, "relation": "eq"}
    first = resp["hits"]["hits"][0]
    assert first["_index"] == "logs-test" and first["_score"] is None and first["sort"] == [1714557900000]
    assert first["_source"] == {"@timestamp": 1714557900000, "log": "warn: slow query took 2s",
                                "kubernetes": {"pod_name": "api-0"}}
    assert ids(resp) == ["warn: slow query took 2s", "Connection refused by upstream payments"]
    asc = client.search(index="logs-test", body={"size": 10, "sort": ["@timestamp"]})
    assert ids(asc)[0] == "GET /health 200\n" and ids(asc)[-1] == "warn: slow query took 2s"


@pytest.mark.parametrize("query, expected", [
    ({"range": {"@timestamp": {"gte": "2024-05-01T10:01:00.000Z", "lte": "2024-05-01T10:03:00.500Z"}}}, 3),
    ({"range": {"@timestamp": {"gt": "2024-05-01T10:03:00.500Z"}}}, 1),  # epoch-millis doc compared as a date
    ({"match": {"log": "error"}}, 1),
    ({"match": {"message": {"query": "refused payments", "operator": "and"}}}, 1),
    ({"match": {"message": {"query": "refused charge", "operator": "and"}}}, 0),
    ({"match_phrase": {"message": "refused by upstream"}}, 1),
    ({"match_phrase": {"message": "upstream by"}}, 0),
    ({"term": {"log": "ERROR"}}, 0),  # term on analysed text sees lower-case tokens, as in OpenSearch
    ({"term": {"log": "error"}}, 1),
    ({"term": {"log.keyword": "ERROR db timeout after 30s"}}, 1),
    ({"terms": {"kubernetes.pod_name": ["api-1", "pay-0"]}}, 3),
    ({"exists": {"field": "kubernetes.labels.app"}}, 4),
    ({"bool": {"must_not": [{"exists": {"field": "level"}}]}}, 1),
    ({"bool": {"should": [{"term": {"level": "warn"}}, {"term": {"level": "error"}}]}}, 2),
    ({"bool": {"filter": [{"term": {"kubernetes.namespace_name": "shop"}}],
               "should": [{"term": {"level": "warn"}}]}}, 4),  # should is optional next to a filter
    ({"bool": {"filter": [{"term": {"kubernetes.namespace_name": "shop"}}],
               "should": [{"term": {"level": "warn"}}], "minimum_should_match": 1}}, 1),
    ({"simple_query_string": {"query": "timeout | refused", "fields": ["log", "message"]}}, 2),
    ({"simple_query_string": {"query": "slow -query", "fields": ["log", "message"], "default_operator": "and"}}, 0),
    ({"simple_query_string": {"query": "\"db timeout\" +error", "fields": ["log"], "default_operator": "and"}}, 1),
    ({"simple_query_string": {"query": "charg*", "fields": ["message"]}}, 1),
])
def test_query_dsl_subset(client, query, expected):
    assert client.count(index="logs-*", body={"query": query})["count"] == expected


@pytest.mark.parametrize("query, reason", [
    ({"fuzzy": {"log": "eror"}}, "unknown query [fuzzy]"),
    ({"range": {"@timestamp": {"gte": "now-1h"}}}, "date math"),
    ({"simple_query_string": {"query": "(a | b) c"}}, "does not support"),
    ({"match": {"log": {"query": "x", "fuzziness": "AUTO"}}}, "[match] query does not support [fuzziness]"),
])
def test_unsupported_dsl_is_a_real_shaped_400(client, query, reason):
    with pytest.raises(RequestError) as info:
        client.search(index="logs-*", body={"query": query})
    assert info.value.status_code == 400
    assert reason in info.value.info["error"]["root_cause"][0]["reason"]


def test_bad_requests(client, fake):
    with pytest.raises(NotFoundError) as nf:
        client.search(index="missing", body={})
    assert nf.value.info["error"]["root_cause"][0]["type"] == "index_not_found_exception"
    assert client.search(index="missing", body={}, params={"ignore_unavailable": "true"})["hits"]["total"]["value"] == 0
    assert client.search(index="other-*", body={})["hits"]["total"]["value"] == 0
    with pytest.raises(RequestError, match="Unknown key"):
        client.search(index="logs-*", body={"qery": {}})
    with pytest.raises(RequestError, match="Result window is too large"):
        client.search(index="logs-*", body={"size": 10_001})
    with pytest.raises(RequestError, match="unrecognized parameter"):
        client.search(index="logs-*", body={}, params={"filter_path": "hits"})
    with pytest.raises(RequestError, match="Text fields are not optimised"):
        client.search(index="logs-*", body={"aggs": {"m": {"terms": {"field": "log"}}}})


def test_aggregations(client):
    resp = client.search(index="logs-*", body={"size": 0, "aggs": {
        "ns": {"terms": {"field": "kubernetes.namespace_name", "size": 1}},
        "pods": {"terms": {"field": "kubernetes.pod_name"},
                 "aggs": {"lines": {"value_count": {"field": "@timestamp"}}}},
        "errors": {"filter": {"term": {"level": "error"}},
                   "aggs": {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}}},
        "hist": {"date_histogram": {"field": "@timestamp", "fixed_interval": "2m", "min_doc_count": 0,
                                    "extended_bounds": {"min": "2024-05-01T09:56:00Z",
                                                        "max": "2024-05-01T10:06:00Z"}}},
    }})
    assert resp["hits"]["hits"] == [] and resp["hits"]["total"]["value"] == 5
    a = resp["aggregations"]
    assert a["ns"]["buckets"] == [{"key": "shop", "doc_count": 4}] and a["ns"]["sum_other_doc_count"] == 1
    # Ties are ordered by key, like OpenSearch.
    assert [(b["key"], b["doc_count"], b["lines"]["value"]) for b in a["pods"]["buckets"]] == [
        ("api-0", 2, 2), ("api-1", 2, 2), ("pay-0", 1, 1)]
    assert a["errors"]["doc_count"] == 1
    assert a["errors"]["t"]["buckets"] == [
        {"key_as_string": "2024-05-01T10:01:00.000Z", "key": 1714557660000, "doc_count": 1}]
    hist = [(b["key_as_string"][11:16], b["doc_count"]) for b in a["hist"]["buckets"]]
    assert hist == [("09:56", 0), ("09:58", 0), ("10:00", 2), ("10:02", 2), ("10:04", 1), ("10:06", 0)]


def test_unknown_aggregation_is_400(client):
    with pytest.raises(RequestError, match="Unknown aggregation type \\[percentiles\\]"):
        client.search(index="logs-*", body={"aggs": {"p": {"percentiles": {"field": "x"}}}})


def test_from_jsonl_with_hit_shaped_records(tmp_path):
    path = tmp_path / "logs.jsonl"
    path.write_text("\n".join([
        json.dumps({"_index": "logs-a", "_id": "1", "_source": {"log": "alpha", "@timestamp": "2024-05-01T00:00:00Z"}}),
        "",
        json.dumps({"log": "beta", "@timestamp": "2024-05-01T00:00:01Z"}),
    ]))
    with FakeOpenSearch.from_jsonl(path, index="logs-b") as fake:
        c = make_client(fake.url)
        assert c.count(index="logs-a")["count"] == 1 and c.count(index="logs-b")["count"] == 1
        hit = c.search(index="logs-a", body={})["hits"]["hits"][0]
        assert hit["_id"] == "1" and hit["_source"]["log"] == "alpha"
        assert c.count(index="logs-*")["count"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        FakeOpenSearch.from_jsonl(bad)


def test_stop_releases_the_port():
    fake = FakeOpenSearch(DOCS)
    url = fake.start()
    assert make_client(url).count(index="logs-*")["count"] == 5
    fake.stop()
    with pytest.raises(RuntimeError):
        _ = fake.url
