"""Alertmanager webhook payloads (version 4) and bare Alertmanager alert objects."""
from __future__ import annotations

from typing import Any

from .model import Alert, AlertGroup, NotAnAlert, build_alert, group_of, never_raises
from .normalise import normalise_status, parse_time, str_map, to_str


def alert_from_object(obj: dict[str, Any], *, source: str = "alertmanager", fallback_status: str | None = None,
                      common_labels: dict[str, str] | None = None,
                      common_annotations: dict[str, str] | None = None) -> Alert | None:
    """One Alertmanager-style alert: webhook element, API v2 element, or Robusta's raw copy.

    Old webhook payloads (before Alertmanager 0.15) have no per-alert status or fingerprint; the
    group status stands in and the fingerprint is recomputed from labels the way Alertmanager does.
    """
    labels = str_map(obj.get("labels"))
    if not labels:
        return None
    # commonLabels is by definition a subset of every alert's labels, so it is not merged (that would
    # change the fingerprint of hand-written payloads that break the rule); it only lends a name and
    # a severity when the alert's own labels lack them.
    common = common_labels or {}
    annotations = {**(common_annotations or {}), **str_map(obj.get("annotations"))}
    status = normalise_status(obj.get("status")) or normalise_status(fallback_status) or "firing"
    return build_alert(
        name=labels.get("alertname") or to_str(obj.get("name")) or common.get("alertname", ""),
        status=status, labels=labels, annotations=annotations, source=source, raw=obj,
        severity=common.get("severity"),
        starts_at=parse_time(obj.get("startsAt")), ends_at=parse_time(obj.get("endsAt")),
        fingerprint=obj.get("fingerprint"), generator_url=obj.get("generatorURL"),
    )


def alerts_from_list(items: Any, *, source: str, **kw: Any) -> list[Alert]:
    """Every alert object of the list. No count cap: a group cut here would lose alerts silently;
    the size of the body bounds the work, and the workflow decides how many to investigate now."""
    if not isinstance(items, list):
        return []
    alerts: list[Alert] = []
    for item in items:
        if isinstance(item, dict):
            alert = alert_from_object(item, source=source, **kw)
            if alert is not None:
                alerts.append(alert)
    return alerts


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@never_raises
def parse_alertmanager(payload: dict) -> AlertGroup | NotAnAlert:
    if not isinstance(payload, dict):
        return NotAnAlert(reason="alertmanager payload is not a JSON object")
    if not isinstance(payload.get("alerts"), list):
        return NotAnAlert(reason="alertmanager payload has no 'alerts' list")
    group_status = normalise_status(payload.get("status"))
    alerts = alerts_from_list(
        payload["alerts"], source="alertmanager", fallback_status=group_status,
        common_labels=str_map(payload.get("commonLabels")),
        common_annotations=str_map(payload.get("commonAnnotations")),
    )
    if not alerts:
        return NotAnAlert(reason="alertmanager payload has no alerts with labels")
    return group_of(
        alerts, truncated=_int(payload.get("truncatedAlerts")),  # left out by Alertmanager's max_alerts
        group_key=to_str(payload.get("groupKey")) or None, status=group_status,
        receiver=to_str(payload.get("receiver")) or None,
        common_labels=str_map(payload.get("commonLabels")) or None,
        external_url=to_str(payload.get("externalURL")) or None,
    )
