"""Teams intake: Bot Framework activities from the shared datasets, and alert cards."""
from __future__ import annotations

import copy
import json

from tests.support import dataset
from tools.intake import AlertGroup, NotAnAlert, parse_alertmanager, parse_any, parse_teams_activity

TEAMS = ("teams",)
AM_TESTDATA = ("alertmanager", "prometheus-msteams")


def _activity(path):
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "_source" in data:
        return data.get("activity") or data.get("payload")
    if isinstance(data, dict) and data.get("type") == "request":  # botbuilder recorder wrapper
        return data["body"]
    return data


def test_every_teams_dataset_activity_is_not_an_alert():
    files = [p for p in sorted(dataset(*TEAMS).rglob("*.json")) if "index" not in p.name]
    assert len(files) >= 40
    kinds = set()
    for path in files:
        activity = _activity(path)
        kinds.add(activity.get("type"))
        for result in (parse_teams_activity(activity), parse_any(activity)):
            assert isinstance(result, NotAnAlert), path.name
            assert result.reason and "internal error" not in result.reason, (path.name, result.reason)
    assert {"message", "invoke", "conversationUpdate"} <= kinds


def _am_payloads():
    out = []
    for path in sorted(dataset(*AM_TESTDATA).rglob("*.json")):
        payload = json.loads(path.read_text())
        if all(payload["commonLabels"].items() <= a["labels"].items() for a in payload["alerts"]):
            out.append((path.name, payload))
    assert len(out) >= 5
    return out


def message_card(payload: dict) -> dict:
    """prometheus-msteams default-message-card.tmpl rendered (Go ranges maps in key order)."""
    def esc(s):
        return s.replace("_", "\\_")
    status = payload["status"]
    return {
        "@type": "MessageCard", "@context": "http://schema.org/extensions",
        "themeColor": "2DC72D" if status == "resolved" else "8C1A1A",
        "summary": payload["commonAnnotations"].get("summary", ""),
        "title": f"Prometheus Alert ({status})",
        "sections": [{
            "activityTitle": f"[{a['annotations'].get('description', '')}]({payload['externalURL']})",
            "facts": [{"name": esc(k), "value": esc(v)} for k, v in sorted(a["annotations"].items())]
                     + [{"name": esc(k), "value": esc(v)} for k, v in sorted(a["labels"].items())],
            "markdown": True,
        } for a in payload["alerts"]],
    }


def workflow_card(payload: dict) -> dict:
    """prometheus-msteams default-message-workflow-card.tmpl: an Adaptive Card message for Workflows."""
    body = [{"type": "TextBlock", "text": f"Prometheus Alert ({payload['status'].title()})", "weight": "bolder"},
            {"type": "TextBlock", "text": payload["commonAnnotations"].get("summary") or payload["commonLabels"]["alertname"],
             "wrap": True}]
    for a in payload["alerts"]:
        body.append({"type": "TextBlock", "text": f"[{a['annotations'].get('description', '')}]({payload['externalURL']})",
                     "wrap": True})
        facts = [{"title": k, "value": v} if k != "description" else {} for k, v in sorted(a["annotations"].items())]
        facts += [{"title": k, "value": v} for k, v in sorted(a["labels"].items())]
        body.append({"type": "FactSet", "facts": facts})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.2", "body": body}}]}


def _same_alerts(card_result, payload, name):
    webhook = parse_alertmanager(payload)
    assert isinstance(card_result, AlertGroup), (name, card_result)
    assert [a.name for a in card_result.alerts] == [a.name for a in webhook.alerts], name
    assert [a.labels for a in card_result.alerts] == [a.labels for a in webhook.alerts], name
    assert [a.fingerprint for a in card_result.alerts] == [a.fingerprint for a in webhook.alerts], name
    assert [a.severity for a in card_result.alerts] == [a.severity for a in webhook.alerts], name
    assert [a.annotations.get("summary") for a in card_result.alerts] == [
        a.annotations.get("summary") for a in webhook.alerts], name


def test_prometheus_msteams_message_card_round_trip():
    for name, payload in _am_payloads():
        card = message_card(payload)
        _same_alerts(parse_teams_activity(card), payload, name)  # a bare card
        activity = {"type": "message", "channelId": "msteams", "from": {"id": "28:x", "name": "Prometheus"},
                    "attachments": [{"contentType": "application/vnd.microsoft.teams.card.o365connector",
                                     "content": card}]}
        result = parse_any(activity)
        _same_alerts(result, payload, name)
        assert all(a.source == "teams" and a.status == "firing" for a in result.alerts)


def test_prometheus_msteams_workflow_adaptive_card_round_trip():
    for name, payload in _am_payloads():
        _same_alerts(parse_any(workflow_card(payload)), payload, name)


def test_resolved_card_keeps_fingerprints():
    name, payload = _am_payloads()[0]
    resolved = copy.deepcopy(payload)
    resolved["status"] = "resolved"
    fired, done = parse_teams_activity(message_card(payload)), parse_teams_activity(message_card(resolved))
    assert fired.alerts[0].status == "firing" and done.alerts[0].status == "resolved"
    assert fired.alerts[0].fingerprint == done.alerts[0].fingerprint
    adaptive = parse_any(workflow_card(resolved))
    assert adaptive.alerts[0].status == "resolved"


def test_html_text_alert_in_a_teams_message():
    activity = {
        "type": "message", "channelId": "msteams", "textFormat": "xml", "id": "1710000400000",
        "from": {"id": "28:bot", "name": "Grafana"},
        "conversation": {"id": "19:abc@thread.tacv2", "conversationType": "channel"},
        "text": "<p><strong>[FIRING:1] KubePodCrashLooping</strong> (prod critical)</p>"
                "<p>Labels:<br> - alertname = KubePodCrashLooping<br> - namespace = prod<br>"
                " - pod = checkout-7d9f8c6b5-x2kqz<br> - severity = critical</p>"
                "<p>Annotations:<br> - summary = Pod is crash looping</p>",
        "attachments": [{"contentType": "text/html",
                         "content": "<p><strong>[FIRING:1] KubePodCrashLooping</strong> (prod critical)</p>"}],
    }
    result = parse_teams_activity(activity)
    assert isinstance(result, AlertGroup)
    (alert,) = result.alerts
    assert (alert.name, alert.namespace, alert.pod, alert.severity) == (
        "KubePodCrashLooping", "prod", "checkout-7d9f8c6b5-x2kqz", "critical")
    assert alert.summary == "Pod is crash looping" and alert.source == "grafana"


def test_adaptive_card_with_containers_and_styles():
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "Container", "style": "good", "items": [
            {"type": "TextBlock", "text": "RESOLVED: HighLatency", "weight": "bolder"},
            {"type": "ColumnSet", "columns": [{"type": "Column", "items": [
                {"type": "FactSet", "facts": [{"title": "alertname", "value": "HighLatency"},
                                              {"title": "namespace", "value": "prod"},
                                              {"title": "service", "value": "payments"},
                                              {"title": "summary", "value": "p99 above 2s"}]}]}]}]}]}
    alert = parse_any({"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}).alerts[0]
    assert (alert.name, alert.status, alert.service, alert.summary) == ("HighLatency", "resolved", "payments", "p99 above 2s")
    assert "summary" not in alert.labels


def test_teams_chatter_and_broken_activities():
    chatter = {"type": "message", "channelId": "msteams", "text": "<at>bot</at> is anything firing in prod?"}
    assert isinstance(parse_teams_activity(chatter), NotAnAlert)
    assert isinstance(parse_teams_activity({"type": "message", "attachments": [None, {"contentType": 5}]}), NotAnAlert)
    assert isinstance(parse_teams_activity({"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "body": "x"}}]}),
        NotAnAlert)
    assert isinstance(parse_teams_activity({"@type": "MessageCard", "sections": "x", "themeColor": 1}), NotAnAlert)
