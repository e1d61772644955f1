"""Slack intake: real Slack envelopes from the shared datasets, and alert messages other bots post."""
from __future__ import annotations

import copy
import json

import pytest

from tests.support import dataset
from tools.intake import (AlertGroup, NotAnAlert, parse_alertmanager, parse_any, parse_grafana,
                          parse_slack_message)

SLACK = ("slack",)
AM_TESTDATA = ("alertmanager", "prometheus-msteams")


def _load(path):
    data = json.loads(path.read_text())
    return data["payload"] if isinstance(data, dict) and "_source" in data else data


def _slack_files():
    return sorted(p for p in dataset(*SLACK).rglob("*.json"))


def _am_files():
    return sorted(dataset(*AM_TESTDATA).rglob("*.json"))


# --- Real envelopes: none of them is an alert, and every field in them must be tolerated --------

def test_every_slack_dataset_payload_is_not_an_alert():
    files = _slack_files()
    assert len(files) >= 14
    for path in files:
        payload = _load(path)
        result = parse_any(payload)
        assert isinstance(result, NotAnAlert), path.name
        assert result.reason and "internal error" not in result.reason, (path.name, result.reason)
        event = payload.get("event") if isinstance(payload.get("event"), dict) else payload
        direct = parse_slack_message(event)
        assert isinstance(direct, NotAnAlert) and "internal error" not in direct.reason, path.name


def test_urlencoded_slash_command_text_is_not_an_alert():
    raw = dataset(*SLACK, "bolt-python", "tests", "scenario_tests",
                  "test_slash_command__slash_command_body.urlencoded.txt").read_text()
    assert isinstance(parse_any(raw), NotAnAlert)


def _skeleton(name):
    return json.loads(dataset(*SLACK, "java-slack-sdk", "json-logs", "samples", "events", name).read_text())


@pytest.mark.parametrize("name", ["MessageBotPayload.json", "MessagePayload.json"])
def test_full_schema_skeleton_filled_with_an_alert_parses(name):
    """Slack's schema samples carry every optional field; filled with alert text they must parse."""
    envelope = _skeleton(name)
    att = envelope["event"]["attachments"][0]
    att["title"] = "[FIRING:1] KubePodCrashLooping (prod critical)"
    att["text"] = ("*Alert:* Pod is crash looping - `critical`\n*Description:* Pod prod/api-5f7c9d-abcde restarts\n"
                   "*Details:*\n  • *alertname:* `KubePodCrashLooping`\n  • *namespace:* `prod`\n"
                   "  • *pod:* `api-5f7c9d-abcde`\n  • *severity:* `critical`\n")
    att["color"] = "danger"
    result = parse_any(envelope)
    assert isinstance(result, AlertGroup), result
    (alert,) = result.alerts
    assert (alert.name, alert.status, alert.severity) == ("KubePodCrashLooping", "firing", "critical")
    assert (alert.namespace, alert.pod) == ("prod", "api-5f7c9d-abcde")


def test_message_changed_skeleton_reads_the_edited_message():
    envelope = _skeleton("MessageChangedPayload.json")
    envelope["event"]["message"]["text"] = "[RESOLVED] HighLatency service=payments namespace=prod"
    result = parse_slack_message(envelope)
    assert isinstance(result, AlertGroup)
    assert result.alerts[0].status == "resolved"
    assert result.alerts[0].labels["service"] == "payments"


# --- Alertmanager's Slack notifier ---------------------------------------------------------------

def render_alertmanager_slack(payload: dict) -> dict:
    """What Alertmanager's slack_configs post with the widely used title/text template."""
    status = payload["status"]
    alerts = payload["alerts"]
    firing = [a for a in alerts if a.get("status", status) == "firing"]
    title = f"[{status.upper()}" + (f":{len(firing)}" if status == "firing" else "") + "] "
    title += " ".join(v for _, v in sorted(payload["groupLabels"].items()))
    rest = {k: v for k, v in payload["commonLabels"].items() if k not in payload["groupLabels"]}
    if rest:
        title += " (" + " ".join(v for _, v in sorted(rest.items())) + ")"
    text = ""
    for a in alerts:
        sev = a["labels"].get("severity")
        text += f"*Alert:* {a['annotations'].get('summary', '')}" + (f" - `{sev}`" if sev else "") + "\n"
        text += f"*Description:* {a['annotations'].get('description', '')}\n*Details:*\n"
        text += "".join(f"  • *{k}:* `{v}`\n" for k, v in sorted(a["labels"].items()))
        text += "\n"
    return {
        "type": "message", "subtype": "bot_message", "bot_id": "B0AM00001", "username": "alertmanager",
        "text": "", "ts": "1710000000.000100", "channel": "C0ALERTS", "event_ts": "1710000000.000100",
        "channel_type": "channel",
        "attachments": [{
            "id": 1, "color": "danger" if status == "firing" else "good",
            "fallback": f"{title} | {payload['externalURL']}/#/alerts?receiver={payload['receiver']}",
            "title": title, "title_link": f"{payload['externalURL']}/#/alerts?receiver={payload['receiver']}",
            "text": text, "mrkdwn_in": ["fallback", "pretext", "text"],
        }],
    }


def _obeys_alertmanager_semantics(payload):
    # commonLabels must be a subset of every alert's labels (true for real Alertmanager output).
    return all(payload["commonLabels"].items() <= a["labels"].items() for a in payload["alerts"])


def test_alertmanager_slack_copy_matches_the_webhook_for_every_dataset_payload():
    checked = 0
    for path in _am_files():
        payload = json.loads(path.read_text())
        if not _obeys_alertmanager_semantics(payload):
            continue
        webhook = parse_alertmanager(payload)
        slack = parse_slack_message(render_alertmanager_slack(payload))
        assert isinstance(slack, AlertGroup), (path.name, slack)
        assert [a.name for a in slack.alerts] == [a.name for a in webhook.alerts], path.name
        assert [a.labels for a in slack.alerts] == [a.labels for a in webhook.alerts], path.name
        # Same labels → same Alertmanager-compatible fingerprint, so the bot can dedupe the two copies.
        assert [a.fingerprint for a in slack.alerts] == [a.fingerprint for a in webhook.alerts], path.name
        assert [a.severity for a in slack.alerts] == [a.severity for a in webhook.alerts], path.name
        assert all(a.source == "alertmanager" and a.status == "firing" for a in slack.alerts)
        # Slack markup (backticks) is dropped from the text, the words survive.
        assert slack.alerts[0].description == webhook.alerts[0].annotations["description"].replace("`", "")
        checked += 1
    assert checked >= 5


def test_alertmanager_slack_resolved_keeps_the_fingerprint():
    payload = json.loads(dataset(*AM_TESTDATA, "alert", "testdata", "prom_post_request.json").read_text())
    firing = parse_slack_message(render_alertmanager_slack(payload))
    resolved_payload = copy.deepcopy(payload)
    resolved_payload["status"] = "resolved"
    resolved = parse_slack_message(render_alertmanager_slack(resolved_payload))
    assert firing.alerts[0].status == "firing" and resolved.alerts[0].status == "resolved"
    assert firing.alerts[0].fingerprint == resolved.alerts[0].fingerprint
    assert resolved.status == "resolved"


def test_alertmanager_slack_title_only_message():
    event = {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "Prometheus",
             "attachments": [{"fallback": "[FIRING:2] KubePodCrashLooping (default/api critical)",
                              "color": "danger"}]}
    result = parse_slack_message(event)
    assert isinstance(result, AlertGroup)
    alert = result.alerts[0]
    assert alert.name == "KubePodCrashLooping" and alert.severity == "critical"
    assert alert.namespace == "default" and alert.service == "api"
    assert result.truncated_alerts == 1  # the title announces two, the message details one


# --- Grafana's Slack contact point ---------------------------------------------------------------

def render_grafana_slack(payload: dict) -> dict:
    """Grafana's default Slack message: title from default.title, text from default.message."""
    def block(alerts):
        out = ""
        for a in alerts:
            values = ", ".join(f"{k}={v}" for k, v in a.get("values", {}).items())
            out += f"Value: {values}\nLabels:\n" + "".join(f" - {k} = {v}\n" for k, v in sorted(a["labels"].items()))
            out += "Annotations:\n" + "".join(f" - {k} = {v}\n" for k, v in sorted(a["annotations"].items()))
            for key, label in (("generatorURL", "Source"), ("silenceURL", "Silence"),
                               ("dashboardURL", "Dashboard"), ("panelURL", "Panel")):
                if a.get(key):
                    out += f"{label}: {a[key]}\n"
            out += "\n"
        return out
    firing = [a for a in payload["alerts"] if a["status"] == "firing"]
    resolved = [a for a in payload["alerts"] if a["status"] == "resolved"]
    text = ""
    if firing:
        text += "**Firing**\n\n" + block(firing)
    if resolved:
        text += "**Resolved**\n\n" + block(resolved)
    return {"type": "message", "subtype": "bot_message", "bot_id": "B0GRAFANA", "username": "Grafana",
            "ts": "1710000100.000200", "channel": "C0ALERTS",
            "attachments": [{"title": payload["title"], "title_link": payload["externalURL"], "text": text,
                             "fallback": payload["title"], "color": "#D63232",
                             "footer": "Grafana v10.4.1", "footer_icon": "https://grafana.com/static/assets/img/fav32.png",
                             "ts": 1710000100}]}


def test_grafana_slack_copy_matches_the_grafana_webhook():
    from tests.test_intake_grafana import grafana_webhook

    payload = grafana_webhook()
    webhook = parse_grafana(payload)
    slack = parse_slack_message(render_grafana_slack(payload))
    assert isinstance(slack, AlertGroup)
    # Grafana's per-alert fingerprint is the label-set fingerprint, so the Slack copy dedupes against it.
    assert {a.fingerprint: a.status for a in slack.alerts} == {a.fingerprint: a.status for a in webhook.alerts}
    assert all(a.source == "grafana" for a in slack.alerts)
    assert sorted(a.status for a in slack.alerts) == ["firing", "firing", "resolved"]
    firing = [a for a in slack.alerts if a.status == "firing"]
    assert {a.name for a in firing} == {"HighErrorRate"}
    assert {a.namespace for a in firing} == {"prod"}
    assert firing[0].annotations["summary"].startswith("Error rate")
    assert firing[0].annotations["values"].startswith("A=")
    hooks = {a.fingerprint: a for a in webhook.alerts}
    for a in slack.alerts:  # each alert keeps its own links, named as parse_grafana names them
        assert a.generator_url == hooks[a.fingerprint].generator_url
        assert a.annotations.get("dashboard_url") == hooks[a.fingerprint].annotations.get("dashboard_url")


def test_grafana_title_counts_firing_and_resolved():
    event = {"type": "message", "subtype": "bot_message", "bot_id": "B0GRAFANA", "username": "Grafana",
             "attachments": [{"title": "[FIRING:2, RESOLVED:1] HighErrorRate (Checkout prod)",
                              "color": "#D63232", "footer": "Grafana v10.4.1"}]}
    result = parse_slack_message(event)
    assert result.alerts[0].name == "HighErrorRate" and result.alerts[0].status == "firing"
    assert result.alerts[0].source == "grafana" and result.truncated_alerts == 2


# --- PagerDuty and Datadog apps ------------------------------------------------------------------

def pagerduty_v2(status: str) -> dict:
    """PagerDuty Slack app (v2) incident message: Block Kit sections with Status/Urgency/Service fields."""
    return {
        "type": "message", "subtype": "bot_message", "bot_id": "B0PAGERDUTY", "app_id": "A1FKYAUUX",
        "text": f"{status}: [#4211] High error rate on checkout-api", "ts": "1710000200.000300",
        "bot_profile": {"id": "B0PAGERDUTY", "name": "PagerDuty", "app_id": "A1FKYAUUX", "deleted": False,
                        "icons": {"image_36": "https://a.slack-edge.com/pd_36.png"}, "team_id": "T1"},
        "blocks": [
            {"type": "section", "block_id": "title",
             "text": {"type": "mrkdwn",
                      "text": "*<https://acme.pagerduty.com/incidents/Q1ABCDEF|[#4211] High error rate on checkout-api>*"}},
            {"type": "section", "block_id": "fields", "fields": [
                {"type": "mrkdwn", "text": f"*Status:*\n{status}"},
                {"type": "mrkdwn", "text": "*Urgency:*\nHigh"},
                {"type": "mrkdwn", "text": "*Service:*\n<https://acme.pagerduty.com/service-directory/PSVC1|checkout-api>"},
                {"type": "mrkdwn", "text": "*Assigned:*\n<https://acme.pagerduty.com/users/PU1|Jane Doe>"}]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "value": "ack"},
                {"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "value": "resolve"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Triggered via Prometheus integration"}]},
        ],
    }


def test_pagerduty_triggered_then_resolved_via_message_changed():
    triggered = parse_slack_message(pagerduty_v2("Triggered"))
    assert isinstance(triggered, AlertGroup)
    alert = triggered.alerts[0]
    assert alert.source == "pagerduty" and alert.status == "firing"
    assert alert.name == "High error rate on checkout-api"
    assert alert.severity == "critical"  # urgency High
    assert alert.service == "checkout-api"
    edited = {"type": "message", "subtype": "message_changed", "channel": "C0ALERTS", "hidden": True,
              "message": pagerduty_v2("Resolved"), "previous_message": pagerduty_v2("Triggered")}
    resolved = parse_slack_message({"type": "event_callback", "event_id": "Ev1", "event": edited})
    assert resolved.alerts[0].status == "resolved"
    assert resolved.alerts[0].fingerprint == alert.fingerprint


def test_pagerduty_legacy_attachment_fields():
    event = {"type": "message", "subtype": "bot_message", "bot_id": "B0PD", "username": "PagerDuty",
             "attachments": [{"fallback": "Triggered #812: Disk almost full on db-1", "color": "#d00000",
                              "title": "#812: Disk almost full on db-1",
                              "fields": [{"title": "Status", "value": "Triggered", "short": True},
                                         {"title": "Urgency", "value": "Low", "short": True},
                                         {"title": "Service", "value": "postgres-primary", "short": True}]}]}
    alert = parse_slack_message(event).alerts[0]
    assert (alert.name, alert.status, alert.severity, alert.service) == (
        "Disk almost full on db-1", "firing", "info", "postgres-primary")


def datadog(transition: str, priority: str = "[P1] ") -> dict:
    return {"type": "message", "subtype": "bot_message", "bot_id": "B0DATADOG", "username": "Datadog",
            "attachments": [{
                "title": f"{transition}: {priority}High error rate on checkout",
                "title_link": "https://app.datadoghq.com/monitors/123456?to_ts=1710000300000",
                "text": "Error rate is 7.2% (threshold 5%) for service:checkout in env:prod\n@slack-sre-alerts",
                "color": "#e01e5a" if transition != "Recovered" else "#2eb886",
                "footer": "env:prod, service:checkout, team:payments",
                "fallback": f"{transition}: High error rate on checkout"}]}


def test_datadog_triggered_and_recovered():
    fired = parse_slack_message(datadog("Triggered"))
    alert = fired.alerts[0]
    assert alert.source == "datadog" and alert.status == "firing" and alert.severity == "critical"
    assert alert.name == "High error rate on checkout"
    assert alert.labels["env"] == "prod" and alert.service == "checkout" and alert.labels["team"] == "payments"
    recovered = parse_slack_message(datadog("Recovered", priority="")).alerts[0]
    assert recovered.status == "resolved"
    assert recovered.fingerprint == alert.fingerprint  # priority tag missing on recovery must not matter


def test_datadog_multi_alert_scope_in_title():
    event = {"type": "message", "bot_id": "B0DD", "text": "[Triggered on {host:web-3,env:staging}] Disk usage high"}
    alert = parse_slack_message(event).alerts[0]
    assert alert.name == "Disk usage high"
    assert alert.labels["host"] == "web-3" and alert.labels["env"] == "staging"


def test_rich_text_block_alert_from_a_user_paste():
    event = {"type": "message", "user": "U1", "text": "[FIRING:1] HighLatency prod/payments-6c8d7f9b4-qwert (warning)",
             "blocks": [{"type": "rich_text", "block_id": "x", "elements": [{"type": "rich_text_section", "elements": [
                 {"type": "text", "text": "[FIRING:1] HighLatency prod/payments-6c8d7f9b4-qwert (warning)"}]}]}]}
    result = parse_slack_message(event)
    assert len(result.alerts) == 1
    alert = result.alerts[0]
    assert (alert.name, alert.namespace, alert.pod, alert.severity) == (
        "HighLatency", "prod", "payments-6c8d7f9b4-qwert", "warning")


def test_thread_reply_notification_is_not_a_new_alert():
    replied = {"type": "message", "subtype": "message_replied", "hidden": True, "channel": "C0ALERTS",
               "message": {"type": "message", "bot_id": "B1", "text": "[FIRING:1] DiskFull node=n1",
                           "reply_count": 1, "thread_ts": "1710000000.000100"}}
    assert isinstance(parse_slack_message(replied), NotAnAlert)


def test_chatter_and_non_message_events():
    assert isinstance(parse_slack_message({"type": "message", "user": "U1", "text": "lunch?"}), NotAnAlert)
    assert isinstance(parse_slack_message({"type": "message", "subtype": "channel_join", "text": "[FIRING:1] X"}),
                      NotAnAlert)
    assert isinstance(parse_slack_message({"type": "reaction_added"}), NotAnAlert)
    assert isinstance(parse_slack_message({"type": "message", "attachments": None, "blocks": "junk"}), NotAnAlert)
