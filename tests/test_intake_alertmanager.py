"""Alertmanager webhooks (old and current schema) and Robusta/HolmesGPT alert payloads."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

from tests.support import dataset
from tools.intake import (AlertGroup, NotAnAlert, label_fingerprint, parse_alertmanager, parse_any,
                          parse_robusta)

AM_TESTDATA = ("alertmanager", "prometheus-msteams")
HOLMES = ("holmesgpt", "tests", "llm", "fixtures", "test_investigate")


def _am_payloads():
    files = sorted(dataset(*AM_TESTDATA).rglob("*.json"))
    assert len(files) >= 8
    return [(p.name, json.loads(p.read_text())) for p in files]


def test_old_style_payloads_from_dataset():
    for name, payload in _am_payloads():
        result = parse_any(payload)
        assert isinstance(result, AlertGroup), name
        assert len(result.alerts) == len(payload["alerts"]), name
        assert result.receiver == payload["receiver"] and result.group_key == payload["groupKey"]
        assert result.external_url == payload["externalURL"] and result.status == "firing"
        for alert, src in zip(result.alerts, payload["alerts"]):
            assert alert.name == src["labels"]["alertname"]
            assert alert.labels == src["labels"]
            assert alert.status == "firing"  # no per-alert status: the group's stands in
            assert alert.source == "alertmanager"
            # No per-alert fingerprint: recomputed from the alert's own labels.
            assert alert.fingerprint == label_fingerprint(src["labels"]) and len(alert.fingerprint) == 16
            expected_sev = src["labels"].get("severity") or payload["commonLabels"].get("severity")
            assert alert.severity == {"page": "critical", "warning": "warning"}[expected_sev]
            assert alert.starts_at is not None and alert.starts_at.tzinfo is not None
            assert alert.ends_at is None  # 0001-01-01T00:00:00Z means unset
            assert alert.description == src["annotations"]["description"]


def test_nanosecond_timestamps_with_offsets():
    payload = json.loads(dataset(*AM_TESTDATA, "alert", "testdata", "prom_post_request.json").read_text())
    alert = parse_alertmanager(payload).alerts[0]
    # 2018-03-07T06:33:21.873077559-05:00
    assert alert.starts_at == datetime(2018, 3, 7, 11, 33, 21, 873077, tzinfo=timezone.utc)


def test_distinct_alerts_get_distinct_fingerprints_and_repeats_the_same():
    for name, payload in _am_payloads():
        first = parse_alertmanager(payload)
        again = parse_alertmanager(copy.deepcopy(payload))
        assert [a.fingerprint for a in first.alerts] == [a.fingerprint for a in again.alerts], name
        label_sets = {json.dumps(a["labels"], sort_keys=True) for a in payload["alerts"]}
        assert len({a.fingerprint for a in first.alerts}) == len(label_sets), name


def _current_schema(payload: dict) -> dict:
    """The same alerts as Alertmanager ≥0.15 sends them: per-alert status, fingerprint, generatorURL."""
    payload = copy.deepcopy(payload)
    for i, a in enumerate(payload["alerts"]):
        a["status"] = "resolved" if i % 2 else "firing"
        a["fingerprint"] = f"{i:04x}c0ffee{i:06x}"
        a["generatorURL"] = f"http://prometheus:9090/graph?g0.expr=up%3D%3D0&g0.tab=1&i={i}"
        if a["status"] == "resolved":
            a["endsAt"] = "2019-01-10T03:00:00.000000001Z"
    payload["truncatedAlerts"] = 3
    return payload


def test_current_schema_per_alert_fields_win():
    payload = json.loads(dataset(*AM_TESTDATA, "alert", "testdata", "large_prom_post_request.json").read_text())
    result = parse_alertmanager(_current_schema(payload))
    assert result.truncated_alerts == 3 and result.status == "firing"
    assert [a.status for a in result.alerts[:4]] == ["firing", "resolved", "firing", "resolved"]
    assert result.alerts[1].fingerprint == "0001c0ffee000001"
    assert result.alerts[1].ends_at == datetime(2019, 1, 10, 3, 0, tzinfo=timezone.utc)
    assert result.alerts[2].generator_url.endswith("i=2")
    assert len(result.firing) == (len(payload["alerts"]) + 1) // 2


def test_firing_then_resolved_same_fingerprint():
    for name, payload in _am_payloads():
        resolved = copy.deepcopy(payload)
        resolved["status"] = "resolved"
        a, b = parse_alertmanager(payload), parse_alertmanager(resolved)
        assert [x.fingerprint for x in a.alerts] == [x.fingerprint for x in b.alerts], name
        assert b.status == "resolved" and all(x.status == "resolved" for x in b.alerts)


def test_every_alert_is_kept_and_alertmanagers_truncation_reported():
    payload = json.loads(dataset(*AM_TESTDATA, "alert", "testdata", "prom_post_request.json").read_text())
    template = payload["alerts"][0]
    payload["alerts"] = [{**template, "labels": {**template["labels"], "instance": f"n{i}"}} for i in range(500)]
    payload["truncatedAlerts"] = 5
    result = parse_alertmanager(payload)
    # No silent cut: all 500 reach the workflow; truncated_alerts is only what Alertmanager left out.
    assert len(result.alerts) == 500 and result.truncated_alerts == 5
    assert len({a.fingerprint for a in result.alerts}) == 500


def test_values_are_storable_nul_removed_and_cuts_marked():
    result = parse_alertmanager({"version": "4", "status": "firing", "alerts": [{
        "labels": {"alertname": "Bad\x00Name" + "N" * 300, "namespace": "sh\x00op", "pod": "p" * 5000,
                   "ke\x00y": "v"},
        "annotations": {"summary": "a\x00b"}}]})
    [alert] = result.alerts
    assert alert.name.startswith("BadNameNNN") and len(alert.name) == 200 and alert.name.endswith("chars]")
    assert alert.namespace == "shop" and alert.labels["key"] == "v" and alert.summary == "ab"
    assert len(alert.labels["pod"]) == 1000 and alert.labels["pod"].endswith("…[+4014 chars]")
    assert "\\u0000" not in json.dumps(alert.model_dump(mode="json"))


def test_bad_alert_entries_are_skipped_not_fatal():
    payload = {"version": "4", "status": "firing", "alerts": [None, 7, "x", {"labels": None},
                                                               {"labels": {"alertname": "Ok", "n": {"nested": 1}}}]}
    result = parse_alertmanager(payload)
    assert [a.name for a in result.alerts] == ["Ok"] and result.alerts[0].labels == {"alertname": "Ok"}
    assert isinstance(parse_alertmanager({"alerts": []}), NotAnAlert)
    assert isinstance(parse_alertmanager({"alerts": "many"}), NotAnAlert)
    assert isinstance(parse_alertmanager([]), NotAnAlert)  # type: ignore[arg-type]


def test_api_v2_alert_list():
    items = [{"labels": {"alertname": "TargetDown", "job": "node", "severity": "warning"},
              "annotations": {"summary": "1 target down"}, "fingerprint": "0123456789abcdef",
              "startsAt": "2024-05-02T10:00:00.000Z", "endsAt": "2024-05-02T10:20:00.000Z",
              "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
              "receivers": [{"name": "bot"}], "updatedAt": "2024-05-02T10:16:00.000Z"}]
    result = parse_any(items)  # type: ignore[arg-type]
    alert = result.alerts[0]
    assert (alert.name, alert.status, alert.fingerprint, alert.service) == ("TargetDown", "firing", "0123456789abcdef", "node")
    assert parse_any(json.dumps(items)).alerts[0].fingerprint == "0123456789abcdef"


# --- Robusta / HolmesGPT ---------------------------------------------------------------------

def _holmes_issues():
    files = sorted(dataset(*HOLMES).glob("*/issue_data.json"))
    assert len(files) == 17
    return [(p.parent.name, json.loads(p.read_text())) for p in files]


def test_holmesgpt_issue_data_files():
    parsed = 0
    for case, issue in _holmes_issues():
        result = parse_any(issue)
        if not issue:
            assert isinstance(result, NotAnAlert), case
            continue
        assert isinstance(result, AlertGroup), (case, result)
        (alert,) = result.alerts
        raw = issue.get("raw") or issue
        labels = raw.get("labels") or {}
        expected_name = labels.get("alertname") or issue.get("aggregation_key") or issue.get("title")
        assert alert.name == expected_name, case
        assert alert.status == "firing", case
        if raw.get("fingerprint"):
            assert alert.fingerprint == raw["fingerprint"], case
        expected_ns = labels.get("namespace") or issue.get("subject_namespace")
        assert alert.namespace == expected_ns, case
        assert alert.starts_at is not None, case
        parsed += 1
    assert parsed == 11


def test_holmesgpt_fingerprints_follow_alertmanagers_algorithm():
    # Where the recorded alert kept its original labels, Alertmanager's fingerprint is reproduced.
    checks = [(issue["raw"]["labels"], issue["raw"]["fingerprint"]) for _, issue in _holmes_issues()
              if isinstance(issue.get("raw"), dict) and len(issue["raw"].get("fingerprint", "")) == 16]
    checks += [(issue["labels"], issue["fingerprint"]) for _, issue in _holmes_issues()
               if issue.get("aggregation_key") and len(issue.get("fingerprint") or "") == 16]
    matches = sum(label_fingerprint(labels) == fp for labels, fp in checks)
    assert len(checks) >= 5 and matches >= 3


def test_robusta_shapes_details():
    issues = dict(_holmes_issues())
    crash = parse_robusta(issues["11_KubePodCrashLooping"]).alerts[0]
    assert crash.pod == "payment-processing-worker-747ccfb9db-pd6wz" and crash.severity == "warning"
    assert crash.generator_url.startswith("http://robusta-kube-prometheus") and crash.source == "alertmanager"
    assert parse_robusta(issues["13_Watchdog"]).alerts[0].severity == "info"  # severity "none"
    # kube-state-metrics alerts carry the exporter's own pod/service labels: not the workload.
    mismatch = parse_robusta(issues["10_KubeDeploymentReplicasMismatch"]).alerts[0]
    assert mismatch.labels["pod"].startswith("robusta-kube-state-metrics")
    assert mismatch.pod is None and mismatch.service == "user-profile-resources"
    image = parse_robusta(issues["04_image_pull_backoff"]).alerts[0]
    assert image.pod == "customer-relations-webapp-5d98ffcfd-tz4nc" and image.source == "robusta"
    assert image.severity == "info"  # priority DEBUG
    job = parse_robusta(issues["06_job_failure"]).alerts[0]
    assert job.severity == "critical" and job.service == "java-api-checker"  # priority HIGH, subject job
    node = parse_robusta(issues["17_investigate_correct_date"]).alerts[0]
    assert node.labels["node"].startswith("aks-agentpool") and node.status == "firing"
    resolved = dict(issues["10_KubeDeploymentReplicasMismatch"], ends_at="2025-01-27T07:00:00+00:00")
    assert parse_robusta(resolved).alerts[0].status == "resolved"
