"""Regex scanners over cleaned, bounded alert text: status markers, labels, k8s paths, severity.

Every pattern is anchored or length-capped so that scanning MAX_TEXT characters stays linear.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .normalise import MAX_LABELS, normalise_severity

# [FIRING:2] / [RESOLVED] / Grafana's [FIRING:2, RESOLVED:1] — the default notification titles.
AM_MARKER = re.compile(r"\[\s*(FIRING|RESOLVED)\s*(?::\s*(\d{1,6}))?(?:\s*,\s*RESOLVED\s*:\s*(\d{1,6}))?\s*\]", re.I)
# Datadog: "Triggered: title", "Recovered on {host:a}: title", "[Triggered on {host:a}] title".
DD_MARKER = re.compile(
    r"^\s*(\[)?\s*(Re-Triggered|Triggered|Recovered|Re-Warn|Warn|No Data|Renotify)"
    r"(?:\s+on\s+\{([^{}\n]{0,500})\})?\s*(?:\]|:)", re.I | re.M)
# "Warn: ..." alone is too common in chat; these verbs count only as "[Warn]" or "Warn on {scope}:".
_DD_WEAK = {"warn", "re-warn", "no data", "renotify"}
# PagerDuty: "Triggered #4211", "Resolved: #4211", "[#4211] ..." with a status word.
PD_MARKER = re.compile(r"^\s*(Triggered|Acknowledged|Resolved|Escalated)\b:?\s*(?:Incident\s*)?\[?#(\d{1,9})",
                       re.I | re.M)
# "Prometheus Alert (Firing)", "Alert (resolved)".
PAREN_MARKER = re.compile(r"\((firing|resolved|triggered|recovered)\)", re.I)
# A Grafana message body announces sections with "**Firing**" / "**Resolved**" on their own line.
SECTION_MARKER = re.compile(r"^\s*(Firing|Resolved)\s*$", re.I | re.M)
WORD_MARKER = re.compile(r"^\s*(FIRING|RESOLVED)\b", re.M)

_KEY = r"[A-Za-z_][A-Za-z0-9_.\-/]{0,80}"
KV_PAIR = re.compile(r"(?<![\w.\-/])(" + _KEY + r')=(?:"([^"\n]{0,500})"|\'([^\'\n]{0,500})\'|([^\s,;{}()\[\]"\'<>]{1,300}))')
KNOWN_LINE = re.compile(
    r"^[ \t]*[-•·]?[ \t]*(alertname|namespace|pod|service|severity|deployment|statefulset|daemonset|container"
    r"|cluster|instance|node|job|host|env|environment)[ \t]*:[ \t]*([^\s,;]{1,300})[ \t]*$", re.I | re.M)
# Datadog-style tags key:value (no space after the colon).
TAG = re.compile(r"(?<![\w.\-/:])([a-z][a-z0-9_.\-]{0,60}):([A-Za-z0-9][A-Za-z0-9_.\-/]{0,200})(?![\w:/])")
_NOT_TAG_KEYS = {"http", "https", "mailto", "tel", "ftp", "file", "urn", "data"}
# namespace/name, as kubectl prints objects.
PATH = re.compile(r"(?<![\w./:@\-])([a-z0-9][a-z0-9-]{0,62})/([a-z0-9][a-z0-9.-]{1,252})(?![\w/])")
_COMMON_NS = {"default", "prod", "production", "staging", "stage", "dev", "test", "qa", "monitoring",
              "observability", "logging", "ingress", "infra", "platform", "apps", "app", "web", "api",
              "payments", "checkout", "backend", "frontend", "database", "db", "sandbox", "uat", "preprod"}
POD_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?-(?:[a-z0-9]{5,10}-[a-z0-9]{5}|[a-z0-9]{5}|\d{1,4})$")
PRIORITY = re.compile(r"\[\s*(P[1-5]|SEV-?[1-5])\s*\]|(?<![\w-])(P[1-5]|SEV-?[1-5])(?![\w-])", re.I)
SEVERITY_HINT = re.compile(r"\((\w{2,15})\)|\s-\s(\w{2,15})\s*$|\b(critical|warning)\b", re.I | re.M)
NAME_TOKEN = re.compile(r"^[A-Za-z][\w.:\-]{1,120}$")


@dataclass
class Marker:
    status: str | None = None   # firing|resolved
    kind: str = ""              # am|datadog|pagerduty|paren|section|word|fields
    count: int = 0              # the N in [FIRING:N]
    scope: str = ""             # Datadog "on {host:a,env:b}"
    rest: str = ""              # headline text after the marker


_DD_STATUS = {"triggered": "firing", "re-triggered": "firing", "warn": "firing", "re-warn": "firing",
              "no data": "firing", "renotify": "firing", "recovered": "resolved"}


def find_marker(text: str) -> Marker | None:
    """The strongest alert marker in the text, or None when nothing says this is an alert."""
    m = AM_MARKER.search(text)
    if m:
        line_end = text.find("\n", m.end())
        rest = text[m.end(): line_end if line_end >= 0 else None]
        return Marker("firing" if m.group(1).lower() == "firing" else "resolved", "am",
                      int(m.group(2) or 0) + int(m.group(3) or 0), rest=rest.strip())
    m = datadog_marker(text)
    if m:
        line_end = text.find("\n", m.end())
        rest = text[m.end(): line_end if line_end >= 0 else None]
        return Marker(_DD_STATUS.get(m.group(2).lower(), "firing"), "datadog", scope=m.group(3) or "",
                      rest=rest.strip())
    m = PD_MARKER.search(text)
    if m:
        word = m.group(1).lower()
        return Marker("resolved" if word == "resolved" else "firing", "pagerduty")
    m = SECTION_MARKER.search(text)
    if m and re.search(r"^\s*Labels\s*:", text, re.M):  # a lone "Resolved" reply is chat, not Grafana
        return Marker(m.group(1).lower(), "section")
    m = PAREN_MARKER.search(text[:2000])
    if m:
        word = m.group(1).lower()
        return Marker("resolved" if word in ("resolved", "recovered") else "firing", "paren")
    m = WORD_MARKER.search(text[:2000])
    if m:
        return Marker(m.group(1).lower(), "word")
    return None


def datadog_marker(text: str) -> re.Match[str] | None:
    for m in DD_MARKER.finditer(text):
        if m.group(1) or m.group(3) or m.group(2).lower() not in _DD_WEAK:
            return m
    return None


def kv_labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in KV_PAIR.finditer(text):
        if len(out) >= MAX_LABELS:
            break
        value = next((g for g in m.groups()[1:] if g is not None), "")
        out.setdefault(m.group(1), value)
    for m in KNOWN_LINE.finditer(text):
        out.setdefault(m.group(1).lower(), m.group(2))
    return out


def tag_labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in TAG.finditer(text):
        if len(out) >= MAX_LABELS:
            break
        if m.group(1) not in _NOT_TAG_KEYS:
            out.setdefault(m.group(1), m.group(2))
    return out


def path_labels(text: str) -> dict[str, str]:
    """namespace and pod (or workload) from the first plausible `namespace/name` path."""
    for m in PATH.finditer(text):
        ns, name = m.group(1), m.group(2)
        if not (ns in _COMMON_NS or "-" in ns or "-" in name or any(c.isdigit() for c in name)):
            continue
        return {"namespace": ns, "pod" if POD_NAME.match(name) else "deployment": name}
    return {}


def severity_hint(text: str) -> str:
    """Severity from P1..P5 / SEV tags, then '(critical)', ' - critical', then bare critical|warning."""
    m = PRIORITY.search(text)
    if m:
        return normalise_severity((m.group(1) or m.group(2)).replace("-", ""))
    for m in SEVERITY_HINT.finditer(text):
        sev = normalise_severity(next(g for g in m.groups() if g))
        if sev != "unknown":
            return sev
    return "unknown"


def strip_urls(text: str) -> str:
    return re.sub(r"https?://\S{1,2000}", " ", text)
