"""Grafana alerting webhooks: Grafana-managed (unified, version "1") and legacy dashboard alerts."""
from __future__ import annotations

from typing import Any

from .alertmanager import alerts_from_list
from .model import AlertGroup, NotAnAlert, build_alert, group_of, never_raises
from .normalise import normalise_status, str_map, to_str

# Per-alert fields Grafana adds on top of Alertmanager's; kept as annotations so the bot can link them.
_EXTRA = {"valueString": "value_string", "dashboardURL": "dashboard_url", "panelURL": "panel_url",
          "silenceURL": "silence_url", "imageURL": "image_url"}


def is_grafana(payload: dict) -> bool:
    if "orgId" in payload or "evalMatches" in payload or "ruleName" in payload:
        return True
    alerts = payload.get("alerts")
    first = alerts[0] if isinstance(alerts, list) and alerts and isinstance(alerts[0], dict) else {}
    return "valueString" in first or "silenceURL" in first or "dashboardURL" in first


@never_raises
def parse_grafana(payload: dict) -> AlertGroup | NotAnAlert:
    if not isinstance(payload, dict):
        return NotAnAlert(reason="grafana payload is not a JSON object")
    if isinstance(payload.get("alerts"), list):
        return _unified(payload)
    if "ruleName" in payload or "evalMatches" in payload:
        return _legacy(payload)
    return NotAnAlert(reason="grafana payload has neither 'alerts' nor 'ruleName'")


def _unified(payload: dict) -> AlertGroup | NotAnAlert:
    # Grafana's group status is firing|resolved; "state" (alerting|ok) is the older spelling.
    group_status = normalise_status(payload.get("status")) or normalise_status(payload.get("state"))
    alerts = alerts_from_list(
        payload["alerts"], source="grafana", fallback_status=group_status,
        common_labels=str_map(payload.get("commonLabels")),
        common_annotations=str_map(payload.get("commonAnnotations")),
    )
    if not alerts:
        return NotAnAlert(reason="grafana payload has no alerts with labels")
    for alert in alerts:
        obj = alert.raw if isinstance(alert.raw, dict) else {}
        for key, name in _EXTRA.items():
            if obj.get(key):
                alert.annotations.setdefault(name, to_str(obj[key]))
        values = obj.get("values")
        if isinstance(values, dict) and values:
            alert.annotations.setdefault("values", ", ".join(f"{k}={v}" for k, v in list(values.items())[:20]))
    truncated = payload.get("truncatedAlerts")
    return group_of(
        alerts, truncated=(truncated if isinstance(truncated, int) and not isinstance(truncated, bool) else 0),
        group_key=to_str(payload.get("groupKey")) or None, status=group_status,
        receiver=to_str(payload.get("receiver")) or None,
        common_labels=str_map(payload.get("commonLabels")) or None,
        external_url=to_str(payload.get("externalURL")) or None,
    )


def _legacy(payload: dict) -> AlertGroup | NotAnAlert:
    name = to_str(payload.get("ruleName")) or to_str(payload.get("title"))
    if not name:
        return NotAnAlert(reason="legacy grafana alert without ruleName")
    state = to_str(payload.get("state")).lower()
    labels = str_map(payload.get("tags"))
    annotations: dict[str, Any] = {"message": payload.get("message"), "summary": payload.get("title")}
    matches = payload.get("evalMatches")
    if isinstance(matches, list) and matches:
        annotations["values"] = ", ".join(
            f"{to_str(m.get('metric'))}={to_str(m.get('value'))}" for m in matches[:20] if isinstance(m, dict))
    alert = build_alert(
        name=name, status=normalise_status(state) or "firing", labels=labels, source="grafana", raw=payload,
        annotations={k: v for k, v in annotations.items() if isinstance(v, str) and v},
        generator_url=payload.get("ruleUrl"),
    )
    return group_of([alert])
