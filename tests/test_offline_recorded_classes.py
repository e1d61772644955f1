"""Failure classes the recorded investigations (bench/recorded_eval.py) exposed, each checked without the
dataset: a subject whose name contains "exporter", a hand-fired test alert with a constant expression,
a Job failed by its pod counts alone, a driver's "All host(s) tried" line, a node full of pods."""
from __future__ import annotations

from datetime import datetime, timezone

from agents.offline.crashlog import explain
from agents.offline.facts import Node
from agents.offline.heartbeat import heartbeat_kind
from agents.offline.logsig import classify
from agents.offline.rules_node import _pods_full
from agents.offline.scope import is_exporter_name
from agents.trigger import Trigger
from tools.intake.alertmanager import alert_from_object
from tools.k8s.jobs import job_view

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def test_an_application_named_with_exporter_is_not_a_scraper():
    assert not is_exporter_name("analytics-exporter-fast")
    assert not is_exporter_name("analytics-exporter-fast-76897854c-cw5wh")
    for scraper in ("node-exporter", "redis-exporter-7d9f8b6c5-abcde", "prometheus-node-exporter-22ncm",
                    "kube-state-metrics"):
        assert is_exporter_name(scraper), scraper


def _trigger(labels: dict, url: str) -> Trigger:
    return Trigger.from_alert(alert_from_object({"status": "firing", "labels": labels, "generatorURL": url,
                                                 "annotations": {"summary": "The service is down"}}), at=NOW)


def test_a_constant_expression_is_a_heartbeat_only_when_the_alert_is_about_nothing():
    url = "http://prometheus:9090/graph?g0.expr=vector%281%29&g0.tab=1"
    assert heartbeat_kind(_trigger({"alertname": "PipelineCheck", "severity": "none"}, url)) == "heartbeat"
    assert heartbeat_kind(_trigger({"alertname": "AppDown", "namespace": "shop", "pod": "client"}, url)) is None


def test_a_job_whose_failed_pods_exceed_its_backoff_limit_has_failed():
    job = {"metadata": {"name": "scrape"}, "spec": {"backoffLimit": 4, "template": {"spec": {"containers": []}}},
           "status": {"failed": 5}}
    view = job_view(job, NOW)
    assert view["status"] == "Failed" and view["failure_reason"] == "BackoffLimitExceeded"
    assert job_view({**job, "status": {"failed": 4}}, NOW)["status"] == "Running"      # one retry left
    assert job_view({**job, "status": {"failed": 5, "active": 1}}, NOW)["status"] == "Running"


def test_a_driver_that_tried_every_host_cannot_reach_its_dependency():
    line = "All host(s) tried for query failed (tried: cassandra-0:9042) - no available connection"
    assert classify(line) == "refused"
    why = explain(["Starting", line], 1)
    assert why is not None and why.kind == "refused" and why.detail == "cassandra-0:9042"


def test_a_node_at_its_pod_capacity_says_the_numbers():
    full = Node(name="n1", load={"pods": 110, "pods_allocatable": "110"})
    assert "110 pods of its 110 allocatable" in _pods_full(full)
    assert _pods_full(Node(name="n1", load={"pods": 40, "pods_allocatable": "110"})) is None
    assert _pods_full(Node(name="n1", load={})) is None
