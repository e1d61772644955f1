"""Alert intake: every alert shape the bot meets becomes one Alert model.

    parse_any(payload)              sniff the shape; strings are JSON-decoded or read as alert text
    parse_alertmanager(payload)     Alertmanager webhook v4 (current and pre-0.15 payloads)
    parse_grafana(payload)          Grafana-managed alerting webhook (and legacy dashboard alerts)
    parse_slack_message(event)      alert posted into Slack by another bot (text/attachments/blocks)
    parse_teams_activity(activity)  alert in a Teams activity (text/HTML, MessageCard, Adaptive Card)
    parse_alert_text(text)          free alert text ("[FIRING:1] X ns/pod (critical)", "alertname=X ...")
    parse_robusta(payload)          Robusta / HolmesGPT issue and finding payloads

Each returns AlertGroup or NotAnAlert(reason); none raises on bad input.
"""
from .alertmanager import parse_alertmanager
from .chat import parse_alert_text
from .grafana import parse_grafana
from .model import Alert, AlertGroup, NotAnAlert
from .normalise import label_fingerprint, normalise_severity, normalise_status
from .robusta import parse_robusta
from .slack import parse_slack_message
from .sniff import parse_any
from .teams import parse_teams_activity

__all__ = [
    "Alert", "AlertGroup", "NotAnAlert", "parse_any", "parse_alertmanager", "parse_grafana",
    "parse_slack_message", "parse_teams_activity", "parse_alert_text", "parse_robusta",
    "normalise_severity", "normalise_status", "label_fingerprint",
]
