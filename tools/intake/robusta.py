"""Robusta / HolmesGPT issue payloads.

Two shapes occur: an "issue" wrapping the raw Alertmanager alert (name, source_type, raw{labels,...})
and a Robusta "finding" (aggregation_key, subject_*, priority, labels, fingerprint, starts_at).
"""
from __future__ import annotations

from typing import Any

from .alertmanager import alert_from_object
from .model import AlertGroup, NotAnAlert, build_alert, group_of, never_raises
from .normalise import normalise_status, parse_time, str_map, to_str

# subject_type → the label an Alertmanager alert would carry for that object.
_SUBJECT_LABEL = {"pod": "pod", "deployment": "deployment", "statefulset": "statefulset",
                  "daemonset": "daemonset", "job": "job_name", "node": "node", "replicaset": "replicaset"}


def is_robusta_issue(d: dict) -> bool:
    return isinstance(d.get("raw"), dict) and ("source_type" in d or "presentation_key_metadata" in d)


def is_robusta_finding(d: dict) -> bool:
    return "aggregation_key" in d or "finding_type" in d or ("subject_type" in d and "title" in d)


def _source(value: Any) -> str:
    return "alertmanager" if to_str(value).lower() in ("prometheus", "alertmanager") else "robusta"


@never_raises
def parse_robusta(payload: dict) -> AlertGroup | NotAnAlert:
    if not isinstance(payload, dict):
        return NotAnAlert(reason="robusta payload is not a JSON object")
    if is_robusta_issue(payload):
        raw = dict(payload["raw"])
        raw.setdefault("generatorURL", payload.get("url"))
        raw.setdefault("name", payload.get("name"))
        if not isinstance(raw.get("labels"), dict) or not raw["labels"]:
            raw["labels"] = {"alertname": to_str(payload.get("name"))} if payload.get("name") else {}
        alert = alert_from_object(raw, source=_source(payload.get("source_type")))
        if alert is None:
            return NotAnAlert(reason="robusta issue without alert labels or name")
        return group_of([alert])
    if is_robusta_finding(payload):
        return _finding(payload)
    return NotAnAlert(reason="not a robusta issue or finding")


def _finding(d: dict) -> AlertGroup | NotAnAlert:
    labels = str_map(d.get("labels"))
    name = labels.get("alertname") or to_str(d.get("aggregation_key")) or to_str(d.get("title"))
    if not name.strip():
        return NotAnAlert(reason="robusta finding without a name")
    if d.get("subject_namespace"):
        labels.setdefault("namespace", to_str(d["subject_namespace"]))
    subject_key = _SUBJECT_LABEL.get(to_str(d.get("subject_type")).lower())
    if subject_key and d.get("subject_name"):
        labels.setdefault(subject_key, to_str(d["subject_name"]))
    if d.get("subject_node"):
        labels.setdefault("node", to_str(d["subject_node"]))
    if d.get("cluster"):
        labels.setdefault("cluster", to_str(d["cluster"]))
    annotations = str_map(d.get("annotations"))
    if d.get("title"):
        annotations.setdefault("summary", to_str(d["title"]))
    if d.get("description"):
        annotations.setdefault("description", to_str(d["description"]))
    status = normalise_status(d.get("firing")) if "firing" in d else None
    if status is None:
        status = "resolved" if parse_time(d.get("ends_at")) else "firing"
    links = d.get("video_links") if isinstance(d.get("video_links"), list) else []
    generator = next((to_str(v.get("url")) for v in links
                      if isinstance(v, dict) and "generator" in to_str(v.get("type"))), None)
    alert = build_alert(
        name=name, status=status, labels=labels, annotations=annotations, source=_source(d.get("source")),
        raw=d, severity=d.get("priority"), fingerprint=d.get("fingerprint"), generator_url=generator,
        starts_at=parse_time(d.get("starts_at")) or parse_time(d.get("creation_date")),
        ends_at=parse_time(d.get("ends_at")),
    )
    return group_of([alert])
