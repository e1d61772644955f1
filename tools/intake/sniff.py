"""parse_any: recognise which of the supported shapes a payload is and parse it."""
from __future__ import annotations

import json
from typing import Any

from .alertmanager import alerts_from_list, parse_alertmanager
from .chat import parse_alert_text
from .grafana import is_grafana, parse_grafana
from .model import AlertGroup, NotAnAlert, group_of, never_raises
from .normalise import MAX_TEXT, to_str
from .robusta import is_robusta_finding, is_robusta_issue, parse_robusta
from .slack import parse_slack_message
from .teams import parse_teams_activity

MAX_JSON = 2_000_000  # larger strings are read as text (and truncated), never json-decoded


@never_raises
def parse_any(payload: dict | str) -> AlertGroup | NotAnAlert:
    return _dispatch(payload)


def _dispatch(payload: Any) -> AlertGroup | NotAnAlert:
    if payload is None:
        return NotAnAlert(reason="empty payload")
    if isinstance(payload, (bytes, bytearray)):
        payload = bytes(payload[:MAX_JSON]).decode("utf-8", "replace")
    if isinstance(payload, str):
        return _from_string(payload)
    if isinstance(payload, list):
        return _from_list(payload)
    if not isinstance(payload, dict):
        return NotAnAlert(reason=f"unsupported payload type {type(payload).__name__}")
    if not payload:
        return NotAnAlert(reason="empty JSON object")
    return _from_dict(payload)


def _from_string(text: str) -> AlertGroup | NotAnAlert:
    stripped = text.strip()
    if not stripped:
        return NotAnAlert(reason="empty text")
    if stripped[0] in "{[" and len(stripped) <= MAX_JSON:
        try:
            decoded = json.loads(stripped)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, (dict, list)):
            return _dispatch(decoded)
    return parse_alert_text(text[:MAX_TEXT])


def _from_list(items: list) -> AlertGroup | NotAnAlert:
    # Alertmanager API v2 GET /alerts or Prometheus /api/v1/alerts data: a bare list of alerts.
    alerts = alerts_from_list(items, source="alertmanager")
    if not alerts:
        return NotAnAlert(reason="list holds no alert objects")
    return group_of(alerts)


def _from_dict(d: dict) -> AlertGroup | NotAnAlert:
    if isinstance(d.get("alerts"), list):
        return parse_grafana(d) if is_grafana(d) else parse_alertmanager(d)
    if "ruleName" in d and "state" in d:
        return parse_grafana(d)
    if is_robusta_issue(d) or is_robusta_finding(d):
        return parse_robusta(d)
    if isinstance(d.get("labels"), dict) and ("startsAt" in d or "fingerprint" in d or "alertname" in d["labels"]):
        return _from_list([d])
    # Slack: Events API envelope, message events, slash commands with pasted alert text.
    if isinstance(d.get("event"), dict) and (d.get("type") == "event_callback" or "event_id" in d
                                             or "api_app_id" in d):
        return parse_slack_message(d["event"])
    if d.get("type") in ("block_actions", "view_submission", "shortcut", "message_action", "view_closed"):
        return NotAnAlert(reason=f"slack interaction payload {d['type']!r} is not an alert")
    if "command" in d and isinstance(d.get("text"), str):
        return parse_alert_text(d["text"], source="slack")
    # Teams / Bot Framework activities and bare cards.
    if _teams_like(d):
        return parse_teams_activity(d)
    if d.get("type") in ("message", "app_mention") and ("ts" in d or "bot_id" in d or "channel" in d
                                                        or "attachments" in d or "blocks" in d):
        return parse_slack_message(d)
    # Generic webhook with a text field: read it as alert text.
    for key in ("text", "message", "title", "summary"):
        if isinstance(d.get(key), str) and d[key].strip():
            return parse_alert_text(d[key], source="text")
    keys = ", ".join(sorted(to_str(k, 40) for k in list(d)[:10]))
    return NotAnAlert(reason=f"unrecognised payload shape (keys: {keys})")


def _teams_like(d: dict) -> bool:
    if "channelId" in d or "serviceUrl" in d or d.get("@type") == "MessageCard" or d.get("type") == "AdaptiveCard":
        return True
    attachments = d.get("attachments")  # Bot Framework attachments have contentType, Slack's never do
    return isinstance(attachments, list) and any(isinstance(a, dict) and "contentType" in a for a in attachments[:20])
