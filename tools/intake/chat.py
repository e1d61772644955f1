"""Alerts carried as chat messages: one interpreter for Slack, Teams and pasted text.

Slack and Teams parsers reduce a message to Parts (title, text, key/value fields, colour). The
interpreter then reads, in order of reliability:
  1. parts whose fields name an alert (MessageCard facts, Adaptive Card FactSets with alertname);
  2. label lists written out in the text (Alertmanager Slack template "*Details:*" bullets, Grafana
     "Labels:\n - k = v", Robusta "*Labels:*"), one alert per list;
  3. the headline and free text (markers, k=v pairs, Datadog tags, namespace/pod paths).
Nothing without an alert marker or an alertname label becomes an alert.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .markup import clean, urls_in
from .model import Alert, AlertGroup, NotAnAlert, build_alert, group_of, never_raises
from .normalise import (MAX_ALERTS, MAX_TEXT, bounded_copy, normalise_severity, normalise_status, safe_text,
                        to_str)
from .textscan import (AM_MARKER, DD_MARKER, NAME_TOKEN, PRIORITY, Marker, find_marker, kv_labels,
                       path_labels, severity_hint, strip_urls, tag_labels)

# Facts with these names are annotations; every other fact is a label (prometheus-msteams cards mix both).
# Kept short on purpose: a label named like an annotation would silently change the fingerprint.
ANNOTATION_KEYS = {"description", "summary", "message", "title", "runbook", "runbook_url", "value_string"}
_SECTION = re.compile(r"^(Alert|Labels|Details|Annotations|Tags|Values?|Description|Summary|Runbook(?:[ _]url)?"
                      r"|Source|Silence|Dashboard|Panel|Message)\s*:\s*(.*)$", re.I)
_BULLET = re.compile(r"^[-•·◦*]\s*([A-Za-z_][\w.\-/]{0,120})\s*(?:=|:)\s?(.*)$")
_HEAD_NOISE = re.compile(r"\[\s*#?\d+\s*\]|^#\d+:?|\[\s*(?:P[1-5]|SEV-?[1-5])\s*\]", re.I)
# Grafana's message links, named like the Grafana webhook's fields parse_grafana keeps.
_LINK_NAMES = {"source": "generator_url", "silence": "silence_url", "dashboard": "dashboard_url",
               "panel": "panel_url"}
_FIELD_STATUS = {"status", "state", "alert status", "incident status"}
_FIELD_SEVERITY = ("severity", "urgency", "priority", "level")
_FIELD_NAME = {"alertname", "alert", "alert name", "incident", "title", "monitor", "rule", "rule name"}
_FIELD_LABELS = {"namespace", "pod", "service", "deployment", "container", "cluster", "instance", "node",
                 "host", "job", "env", "environment", "team", "component", "region"}


@dataclass
class Part:
    title: str = ""
    text: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    color: str = ""


@dataclass
class Message:
    parts: list[Part]
    source: str            # slack|teams|text: where it came from when the sender is unknown
    raw: dict | str
    sender: str = ""       # bot/app name, e.g. "PagerDuty", "Datadog", "Grafana", "alertmanager"


@dataclass
class _Record:
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    severity: str = "unknown"


@never_raises
def parse_alert_text(text: str, source: str = "text") -> AlertGroup | NotAnAlert:
    if not isinstance(text, str):
        return NotAnAlert(reason=f"expected text, got {type(text).__name__}")
    if not text.strip():
        return NotAnAlert(reason="empty text")
    text = safe_text(text[:MAX_TEXT])
    return interpret(Message(parts=[Part(text=text)], source=to_str(source, 40) or "text", raw=text))


def interpret(msg: Message) -> AlertGroup | NotAnAlert:
    parts = [_clean_part(p) for p in msg.parts]
    parts = [p for p in parts if p.title or p.text or p.fields]
    if not parts:
        return NotAnAlert(reason="message has no text")
    full = "\n".join(_part_text(p) for p in parts)[:MAX_TEXT]
    fields = {k.lower(): v for p in parts for k, v in p.fields if k}
    marker = find_marker(full) or _field_marker(fields) or _color_marker(parts, full)
    records = _field_records(parts) or _text_records(full)
    if marker is None and not any(r.labels.get("alertname") for r in records):
        if "alertname" not in kv_labels(full):
            return NotAnAlert(reason="no alert marker ([FIRING], Triggered, Resolved, alertname=...) found")
    marker = marker or Marker("firing", "labels")
    source = _source(msg, marker, full, fields)
    urls = urls_in("\n".join(p.text + "\n" + p.title for p in msg.parts if isinstance(p.text, str)))
    generator = next((u for u in urls if "/graph?" in u or "/alerting/" in u or "/monitors/" in u), None)
    group_status = marker.status or "firing"

    if not records or not any(r.labels or r.name for r in records):
        records = [_free_record(full, marker, fields, source)]
    raw = bounded_copy(msg.raw)  # once per message, shared by its alerts
    alerts = [_to_alert(rec, group_status, marker, source, raw, generator) for rec in records[:MAX_ALERTS]]
    # "[FIRING:5]" over a message that details 2 alerts: the other 3 are known to exist but unseen.
    truncated = max(0, len(records) - MAX_ALERTS, marker.count - len(alerts))
    return group_of(alerts, truncated=truncated)


def _clean_part(p: Part) -> Part:
    return Part(title=clean(p.title).strip(), text=clean(p.text).strip(),
                fields=[(clean(k).strip().rstrip(":").strip(), clean(v, markup=False)) for k, v in p.fields[:100]
                        if isinstance(k, str) and isinstance(v, str) and k.strip()],
                color=p.color.lower() if isinstance(p.color, str) else "")


def _part_text(p: Part) -> str:
    lines = [p.title, p.text] + [f"{k}: {v}" for k, v in p.fields]
    return "\n".join(x for x in lines if x)


def _field_marker(fields: dict[str, str]) -> Marker | None:
    for key in _FIELD_STATUS:
        status = normalise_status(fields.get(key, "").split("\n")[0])
        if status:
            return Marker(status, "fields")
    return None


_GOOD = {"good", "#2eb886", "#36a64f", "2dc72d", "#2dc72d", "green"}


def _color_marker(parts: list[Part], full: str) -> Marker | None:
    # A colour alone is no marker, but an attachment coloured danger/good around an alertname is.
    if "alertname" not in full:
        return None
    for p in parts:
        if p.color:
            return Marker("resolved" if p.color in _GOOD else "firing", "color")
    return None


def _field_records(parts: list[Part]) -> list[_Record]:
    """One alert per part whose key/value fields include alertname (cards with facts)."""
    out: list[_Record] = []
    for p in parts:
        keys = {k.lower() for k, _ in p.fields}
        if "alertname" not in keys:
            continue
        rec = _Record()
        for k, v in p.fields:
            if k.lower() in ANNOTATION_KEYS or k.lower().startswith("runbook"):
                rec.annotations[k.lower()] = v
            else:
                rec.labels[k] = v
        rec.name = rec.labels.get("alertname", "")
        if p.title and "summary" not in rec.annotations and not AM_MARKER.search(p.title):
            rec.annotations.setdefault("description", p.title)
        out.append(rec)
    return out


def _text_records(text: str) -> list[_Record]:
    """Alerts written out as label lists: Alertmanager Slack template, Grafana message, Robusta."""
    records: list[_Record] = []
    cur: _Record | None = None
    section: str | None = None
    last_key: str | None = None
    status_ctx: str | None = None

    def new() -> _Record:
        rec = _Record(status=status_ctx)
        records.append(rec)
        return rec

    for raw_line in text.split("\n")[:5000]:
        line = raw_line.strip()
        if not line:
            continue
        if re.fullmatch(r"(?i)firing|resolved", line):
            status_ctx, cur, section = line.lower(), None, None
            continue
        m = _SECTION.match(line)
        if m:
            key, rest = m.group(1).lower(), m.group(2).strip()
            if key == "alert":
                cur, section = new(), None
                rest, sev = _split_severity_suffix(rest)
                cur.severity = sev
                if rest:
                    cur.annotations["summary"] = rest
            elif key in ("labels", "details", "tags"):
                if cur is None or cur.labels:
                    cur = new()
                section, last_key = "labels", None
                cur.labels.update(kv_labels(rest))
            elif key == "annotations":
                cur = cur or new()
                section, last_key = "annotations", None
            elif key.startswith("value"):
                if cur is None or cur.labels:
                    cur = new()
                cur.annotations["values"] = rest
                section = None
            else:
                cur = cur or new()
                name = "runbook_url" if key.startswith("runbook") else _LINK_NAMES.get(key, key)
                if rest:
                    cur.annotations.setdefault(name, rest)
                section, last_key = ("annotations", name) if name in ("description", "summary", "message") else (None, None)
            continue
        b = _BULLET.match(line)
        if b and cur is not None and section in ("labels", "annotations"):
            key, value = b.group(1), b.group(2).strip()
            target = cur.labels if section == "labels" else cur.annotations
            if len(target) < 100:
                target[key] = value
            last_key = key
            continue
        if section == "annotations" and cur is not None and last_key:
            cur.annotations[last_key] = (cur.annotations.get(last_key, "") + "\n" + line)[:2000]
    for rec in records:
        rec.name = rec.labels.get("alertname", "")
    return [r for r in records if r.labels]


def _split_severity_suffix(text: str) -> tuple[str, str]:
    m = re.search(r"\s+-\s+(\w{2,15})\s*$", text)
    if m and normalise_severity(m.group(1)) != "unknown":
        return text[: m.start()].strip(), normalise_severity(m.group(1))
    return text, "unknown"


def _headline(full: str, marker: Marker) -> str:
    if marker.kind in ("am", "datadog") and marker.rest:
        head = marker.rest
    else:
        head = next((ln.strip() for ln in full.split("\n") if ln.strip()), "")
        head = AM_MARKER.sub("", DD_MARKER.sub("", head))
        head = re.sub(r"^(?:Triggered|Acknowledged|Resolved|Escalated|Firing)\b:?\s*", "", head, flags=re.I)
    return _HEAD_NOISE.sub("", head).strip(" :-—")[:300]


def _free_record(full: str, marker: Marker, fields: dict[str, str], source: str) -> _Record:
    rec = _Record()
    body = strip_urls(full)
    head = _headline(full, marker)
    rec.labels.update(kv_labels(re.sub(r"(?im)^\s*values?:.*$", "", body)))
    if source == "datadog" or marker.scope:
        for k, v in tag_labels(marker.scope or "").items():
            rec.labels.setdefault(k, v)
        for k, v in tag_labels(body).items():
            rec.labels.setdefault(k, v)
    for k, v in fields.items():
        if k in _FIELD_LABELS and v:
            rec.labels.setdefault(k, v.split("\n")[0][:300])
    leftover = body
    for k, v in rec.labels.items():
        leftover = leftover.replace(f"{k}={v}", " ")
    for k, v in path_labels(leftover).items():
        rec.labels.setdefault(k, v)
    name = rec.labels.get("alertname") or next((fields[k] for k in _FIELD_NAME if fields.get(k)), "")
    if not name:
        first = head.split()[0] if head.split() else ""
        # "[FIRING:1] KubePodCrashLooping prod/x (critical)": an identifier-like first word is the alert
        # name; Datadog and PagerDuty titles are sentences and stay whole.
        identifier = NAME_TOKEN.match(first) and (re.search(r"[a-z][A-Z]|_", first) or len(head.split()) == 1)
        if identifier and marker.kind not in ("datadog", "pagerduty", "fields"):
            name = first
        else:
            name = re.split(r"\s+\(|\s+on\s+\{", head)[0] if head else ""
    rec.name = _HEAD_NOISE.sub("", name).strip()[:200] or "unknown"
    for k in _FIELD_SEVERITY:
        if fields.get(k) and normalise_severity(fields[k].split("\n")[0]) != "unknown":
            rec.severity = normalise_severity(fields[k].split("\n")[0])
            break
    else:
        rec.severity = severity_hint(head) if head else "unknown"
        if rec.severity == "unknown":
            m = PRIORITY.search(full[:500])
            rec.severity = severity_hint(m.group(0)) if m else "unknown"
    if head:
        rec.annotations["summary"] = head
    body_lines = [ln for ln in full.split("\n")[1:] if ln.strip()]
    if body_lines:
        rec.annotations["description"] = "\n".join(body_lines)[:2000]
    for k in ("description", "summary", "details"):
        if fields.get(k):
            rec.annotations[k] = fields[k][:2000]
    return rec


def _to_alert(rec: _Record, group_status: str, marker: Marker, source: str, raw: Any,
              generator: str | None) -> Alert:
    status = rec.status or group_status
    severity = rec.severity
    if severity == "unknown" and marker.kind == "am":
        severity = severity_hint(marker.rest)
    own_link = rec.annotations.pop("generator_url", None)
    return build_alert(name=rec.name or rec.labels.get("alertname", ""), status=status, labels=rec.labels,
                       annotations=rec.annotations, source=source, raw=raw, severity=severity,
                       generator_url=own_link or generator, bound_raw=False)


def _source(msg: Message, marker: Marker, full: str, fields: dict[str, str]) -> str:
    sender = to_str(msg.sender).lower()
    for name in ("pagerduty", "datadog", "grafana", "alertmanager", "opsgenie"):
        if name in sender:
            return name
    if marker.kind == "datadog" or "datadoghq." in full:
        return "datadog"
    if marker.kind == "pagerduty" or "pagerduty.com" in full or "urgency" in fields:
        return "pagerduty"
    if re.search(r"^\s*-\s*[\w.]+ = ", full, re.M) or "grafana_folder" in full or "/alerting/grafana/" in full:
        return "grafana"
    return msg.source
