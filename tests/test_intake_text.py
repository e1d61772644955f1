"""Free alert text, normalisation rules, parse_any sniffing, and robustness against junk."""
from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone

import pytest

from tests.support import dataset
from tools.intake import (AlertGroup, NotAnAlert, normalise_severity, normalise_status, parse_alert_text,
                          parse_alertmanager, parse_any, parse_grafana, parse_robusta, parse_slack_message,
                          parse_teams_activity)
from tools.intake.normalise import parse_time


def _one(text, **kw):
    result = parse_alert_text(text, **kw)
    assert isinstance(result, AlertGroup), (text, result)
    assert len(result.alerts) == 1
    return result.alerts[0]


def test_firing_title_with_namespace_pod_path_and_severity():
    alert = _one("[FIRING:1] KubePodCrashLooping prod/checkout-7d9f8c6b5-x2kqz (critical)")
    assert (alert.name, alert.status, alert.severity) == ("KubePodCrashLooping", "firing", "critical")
    assert (alert.namespace, alert.pod, alert.service) == ("prod", "checkout-7d9f8c6b5-x2kqz", None)
    assert alert.source == "text" and alert.labels["alertname"] == "KubePodCrashLooping"


def test_key_value_pairs():
    alert = _one("alertname=HighLatency service=payments namespace=prod severity=warning")
    assert (alert.name, alert.service, alert.namespace, alert.severity) == ("HighLatency", "payments", "prod", "warning")
    assert alert.status == "firing"
    assert alert.labels == {"alertname": "HighLatency", "service": "payments", "namespace": "prod", "severity": "warning"}


def test_prometheus_label_set_and_quoted_values():
    alert = _one('FIRING {alertname="KubeJobFailed", namespace="batch", job_name="nightly-etl", severity="warning"}')
    assert (alert.name, alert.namespace, alert.service, alert.severity) == ("KubeJobFailed", "batch", "nightly-etl", "warning")


def test_resolved_text_keeps_fingerprint_of_firing_text():
    fired = _one("[FIRING:1] KubePodCrashLooping prod/checkout-7d9f8c6b5-x2kqz (critical)")
    done = _one("[RESOLVED] KubePodCrashLooping prod/checkout-7d9f8c6b5-x2kqz")
    assert done.status == "resolved" and done.fingerprint == fired.fingerprint
    again = _one("[FIRING:1] KubePodCrashLooping prod/checkout-7d9f8c6b5-x2kqz (critical)")
    assert again.fingerprint == fired.fingerprint
    other = _one("[FIRING:1] KubePodCrashLooping prod/checkout-7d9f8c6b5-zzzzz (critical)")
    assert other.fingerprint != fired.fingerprint


@pytest.mark.parametrize("text,name,status", [
    ("FIRING: HighLatency in prod", "HighLatency", "firing"),
    ("RESOLVED KubeJobFailed batch/nightly-etl-28391", "KubeJobFailed", "resolved"),
    ("[FIRING:1] High memory usage (blue us-1)", "High memory usage", "firing"),
    ("please check [FIRING:1] TargetDown job=node-exporter severity=warning", "TargetDown", "firing"),
])
def test_alert_name_from_headline(text, name, status):
    alert = _one(text)
    assert (alert.name, alert.status) == (name, status)


def test_workload_path_and_priority_tags():
    alert = _one("[FIRING:3] HighErrorRate default/api [P2]")
    assert (alert.namespace, alert.service, alert.pod, alert.severity) == ("default", "api", None, "critical")
    assert parse_alert_text("[FIRING:3] HighErrorRate default/api").truncated_alerts == 2


def test_robusta_presentation_text_is_read_as_labels():
    issue = json.loads(dataset("holmesgpt", "tests", "llm", "fixtures", "test_investigate",
                               "11_KubePodCrashLooping", "issue_data.json").read_text())
    text = "[FIRING:1] " + issue["name"] + "\n" + issue["presentation_all_metadata"]
    alert = _one(text)
    assert alert.labels == issue["raw"]["labels"]
    assert alert.fingerprint == issue["raw"]["fingerprint"]  # full label set → Alertmanager's fingerprint
    assert alert.annotations["runbook_url"].startswith("https://runbooks.prometheus-operator.dev/")


@pytest.mark.parametrize("text", [
    "lunch?", "", "   \n\t ", "the deploy is done, all resolved", "Resolved", "Warn: deploy freeze at 5pm",
    "can someone look at prod/checkout?", "ok", "x=1", "a/b and/or c/d", "{not json", "[]", "{}", "null",
    "https://grafana.example.com/alerting/list", "FIRING" * 0 + "firing squad at noon",
])
def test_chatter_is_not_an_alert(text):
    result = parse_any(text)
    assert isinstance(result, NotAnAlert), (text, result)
    assert result.reason


@pytest.mark.parametrize("value,expected", [
    ("P1", "critical"), ("p2", "critical"), ("critical", "critical"), ("ERROR", "critical"), ("page", "critical"),
    ("High", "critical"), ("P3", "warning"), ("warning", "warning"), ("warn", "warning"), ("medium", "warning"),
    ("info", "info"), ("low", "info"), ("P4", "info"), ("P5", "info"), ("none", "info"), ("`critical`", "critical"),
    ("banana", "unknown"), (None, "unknown"), (3, "unknown"), ({"x": 1}, "unknown"), ("", "unknown"),
])
def test_severity_normalisation(value, expected):
    assert normalise_severity(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("firing", "firing"), ("active", "firing"), ("Triggered", "firing"), ({"state": "suppressed"}, "firing"),
    ("resolved", "resolved"), ("OK", "resolved"), ("Recovered", "resolved"), (True, "firing"), (False, "resolved"),
    ("", None), (None, None), (["firing"], None),
])
def test_status_normalisation(value, expected):
    assert normalise_status(value) == expected


def test_time_parsing():
    utc = timezone.utc
    assert parse_time("2024-11-29 08:40:57.669000+00:00") == datetime(2024, 11, 29, 8, 40, 57, 669000, tzinfo=utc)
    assert parse_time("2019-01-09T15:20:40.341301011Z") == datetime(2019, 1, 9, 15, 20, 40, 341301, tzinfo=utc)
    assert parse_time("2025-01-27 09:11:23.635001") == datetime(2025, 1, 27, 9, 11, 23, 635001, tzinfo=utc)
    assert parse_time(1756100400000) == datetime(2025, 8, 25, 5, 40, tzinfo=utc)
    for junk in ("0001-01-01T00:00:00Z", "yesterday", "", None, True, -5, "9" * 200, {"a": 1}, 1e300):
        assert parse_time(junk) is None


def test_parse_any_sniffs_every_shape():
    am = json.loads(dataset("alertmanager", "prometheus-msteams", "alert", "testdata", "prom_post_request.json").read_text())
    assert parse_any(json.dumps(am)).alerts[0].source == "alertmanager"
    slash = {"command": "/diagnose", "text": "[FIRING:1] KubePodCrashLooping prod/api-5f7c9d-abcde", "user_id": "U1"}
    assert parse_any(slash).alerts[0].source == "slack"
    event = {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "bot_id": "B1",
             "text": "alertname=DiskFull namespace=prod"}}
    assert parse_any(event).alerts[0].name == "DiskFull"
    card = {"@type": "MessageCard", "title": "Prometheus Alert (firing)", "themeColor": "8C1A1A",
            "sections": [{"facts": [{"name": "alertname", "value": "NodeDown"}, {"name": "node", "value": "n1"}]}]}
    assert parse_any(card).alerts[0].labels == {"alertname": "NodeDown", "node": "n1"}
    generic = {"title": "[FIRING:1] TargetDown job=node", "foo": 1}
    assert parse_any(generic).alerts[0].name == "TargetDown"
    unknown = parse_any({"hello": "world", "n": 3})
    assert isinstance(unknown, NotAnAlert) and "hello" in unknown.reason


# --- Robustness ---------------------------------------------------------------------------------

PARSERS = [parse_any, parse_alertmanager, parse_grafana, parse_slack_message, parse_teams_activity,
           parse_robusta, parse_alert_text]
KEYS = ["alerts", "labels", "annotations", "status", "event", "type", "text", "attachments", "blocks", "fields",
        "sections", "facts", "body", "content", "contentType", "elements", "raw", "subtype", "message", "title",
        "startsAt", "endsAt", "fingerprint", "commonLabels", "orgId", "@type", "channelId", "items", "columns",
        "video_links", "aggregation_key", "subject_type", "ruleName", "state", "truncatedAlerts", "command"]
STRINGS = ["", "firing", "resolved", "message", "AdaptiveCard", "MessageCard", "FactSet", "TextBlock",
           "rich_text", "section", "[FIRING:1] X", "alertname=Y", "0001-01-01T00:00:00Z", "\x00\udcff",
           "application/vnd.microsoft.card.adaptive", "a" * 3000, "<b>", "*Details:*\n • *alertname:* `Z`"]


def _junk(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 5 or roll < 0.35:
        return rng.choice([None, True, 0, -1, 3.5, float("nan"), 10**30, rng.choice(STRINGS), [], {}])
    if roll < 0.55:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS): _junk(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def _mutate(rng: random.Random, obj, rate=0.15):
    if isinstance(obj, dict):
        return {k: (_junk(rng, 3) if rng.random() < rate else _mutate(rng, v, rate)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_junk(rng, 3) if rng.random() < rate else _mutate(rng, v, rate) for v in obj]
    return obj


def _fixture_corpus():
    out = []
    for root in ("alertmanager", "slack", "teams"):
        for path in sorted(dataset(root).rglob("*.json")):
            out.append(json.loads(path.read_text()))
    for path in sorted(dataset("holmesgpt", "tests", "llm", "fixtures", "test_investigate").glob("*/issue_data.json")):
        out.append(json.loads(path.read_text()))
    return out


def _check(parser, payload):
    result = parser(payload)
    assert isinstance(result, (AlertGroup, NotAnAlert)), (parser.__name__, result)
    if isinstance(result, NotAnAlert):
        assert "internal error" not in result.reason, (parser.__name__, result.reason)
    else:
        assert result.alerts and all(a.name and a.fingerprint for a in result.alerts)
        assert all(a.status in ("firing", "resolved") for a in result.alerts)
        assert all(a.severity in ("critical", "warning", "info", "unknown") for a in result.alerts)
    result.model_dump_json()  # results are logged and stored: they must always serialise


def test_random_junk_never_raises():
    rng = random.Random(20240502)
    for _ in range(1500):
        payload = _junk(rng)
        for parser in PARSERS:
            _check(parser, payload)


def test_mutated_fixtures_never_raise():
    rng = random.Random(7)
    corpus = _fixture_corpus()
    assert len(corpus) >= 70
    for _ in range(6):
        for payload in corpus:
            mutated = _mutate(rng, payload)
            for parser in PARSERS:
                _check(parser, mutated)


def test_huge_inputs_are_bounded():
    big = "[FIRING:1] KubePodCrashLooping prod/checkout-7d9f8c6b5-x2kqz (critical)\n" + ("x=1 a/b-1 " * 500_000)
    assert len(big) > 5_000_000
    started = time.monotonic()
    result = parse_any(big)
    assert isinstance(result, AlertGroup) and result.alerts[0].name == "KubePodCrashLooping"
    assert len(result.alerts[0].raw) <= 20_000  # the stored copy is bounded too
    junk = "\u00e9 lorem ipsum " * 400_000
    assert isinstance(parse_any(junk), NotAnAlert)
    slack = {"type": "message", "bot_id": "B1", "text": big, "attachments": [{"text": big, "title": big}] * 60}
    assert isinstance(parse_slack_message(slack), AlertGroup)
    brackets = "[" * 200_000 + "]" * 200_000
    assert isinstance(parse_any(brackets), NotAnAlert)
    assert time.monotonic() - started < 10  # generous: CI machines vary; unbounded regexing takes minutes


def test_deeply_nested_payloads():
    deep: dict = {"type": "rich_text", "elements": []}
    node = deep
    for _ in range(5000):
        child = {"type": "rich_text_section", "elements": []}
        node["elements"].append(child)
        node = child
    node["elements"].append({"type": "text", "text": "[FIRING:1] Deep"})
    for parser in PARSERS:
        _check(parser, {"type": "message", "blocks": [deep]})
    # A real alert riding in a message with hostile nesting elsewhere: parsed, and raw is bounded.
    carried = parse_slack_message({"type": "message", "text": "[FIRING:1] KubeNodeNotReady node=n1", "blocks": [deep]})
    assert isinstance(carried, AlertGroup) and carried.alerts[0].labels["node"] == "n1"
    assert len(carried.model_dump_json()) < 200_000
    nested_json = '{"a":' * 50_000 + "1" + "}" * 50_000
    assert isinstance(parse_any(nested_json), NotAnAlert)
    card = {"type": "AdaptiveCard", "body": []}
    node = card["body"]
    for _ in range(3000):
        container = {"type": "Container", "items": []}
        node.append(container)
        node = container["items"]
    _check(parse_teams_activity, card)
