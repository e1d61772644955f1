"""What the alert's own text measures, as evidence: "100% throttling of CPU ... for container X",
"p95 ... is 7.94 s (threshold 2 s)", "41.3% of requests failed", "Memory is filling up ... at 97%".

The rule that fired already evaluated the metric; when the metrics themselves cannot be read, its
text is the only measurement there is. Each becomes a Row like a named query's, cited as the alert.
Only measured values are read here; the alert's name alone never decides a cause.
"""
from __future__ import annotations

import re

from agents.offline.facts import Ref, Row
from agents.trigger import Trigger
from tools.textclip import clip_middle

_NUM = r"(\d+(?:\.\d+)?)"
_THROTTLE = (re.compile(rf"{_NUM}\s*%\s+(?:of\s+)?(?:cpu\s+)?throttl", re.I),
             re.compile(rf"throttl\w*\b[^.\n%]{{0,60}}?\b{_NUM}\s*%", re.I))
_LATENCY_WORDS = re.compile(r"latenc|\bp\d{2}\b|p\d{2}[:.]|response time|duration|slow", re.I)
_LATENCY = (re.compile(rf"\bis\s+{_NUM}\s*(ms|s|sec|seconds)\b(?:\s*\(threshold\s+{_NUM}\s*(ms|s|sec|seconds)\))?", re.I),
            re.compile(rf"(?:latency|p\d{{2}})[^.\n]{{0,40}}?(?:of|at|is|=|:)\s*{_NUM}\s*(ms|s|sec|seconds)\b", re.I))
# A rule that states only its threshold: "requests ... are taking longer than 3 seconds".
_OVER = re.compile(rf"\b(?:tak(?:e|es|ing)|took|last(?:s|ing)?)\s+(?:longer|more)\s+than\s+{_NUM}\s*"
                   rf"(ms|s|sec|secs|seconds)\b|\b(?:latency|response time|duration)\b[^.\n]{{0,40}}?"
                   rf"\b(?:above|over|exceeds?|exceeding|greater than)\s+{_NUM}\s*(ms|s|sec|secs|seconds)\b", re.I)
_ERRORS = (re.compile(rf"{_NUM}\s*%\s+of\s+(?:[\w.-]+\s+){{0,3}}requests?\s+(?:failed|errored|returned (?:5xx|errors?))", re.I),
           re.compile(rf"(?:error rate|error ratio|5xx ratio|errors?)\b[^.\n%]{{0,30}}?\b{_NUM}\s*%", re.I))
_MEMORY = re.compile(rf"memory[^.\n]{{0,60}}?(?:currently at|is at|at|is)\s+{_NUM}\s*%", re.I)
_TEXT_MAX = 4000


def _text(trigger: Trigger) -> str:
    a = trigger.alert
    parts = [a.name, a.summary or "", a.description or ""] if a else [trigger.text]
    if a and trigger.kind == "command":
        parts.append(trigger.text)   # a posted copy: the value may sit in its own lines
    return " ".join(p for p in parts if p)[:_TEXT_MAX]


def _seconds(value: str, unit: str) -> float:
    return float(value) / 1000 if unit.lower() == "ms" else float(value)


def alert_rows(trigger: Trigger, node: str | None = None) -> list[Row]:
    """Rows for what the alert text measures about its subject (labels as the alert gives them)."""
    text = _text(trigger)
    if not text:
        return []
    a = trigger.alert
    name = a.name if a else "message"
    labels = {k: v for k, v in (("namespace", trigger.namespace), ("pod", trigger.pod),
                                ("service", trigger.service)) if v}
    if a and a.labels.get("container") and a.service:   # Alert filters exporters' own labels
        labels["container"] = a.labels["container"]
    ref = Ref("alert", f"alert {name}: {clip_middle(text, 300)}")

    def row(metric: str, row_labels: dict, value: float, said: str) -> Row:
        return Row(metric, row_labels, value, peak=value, state="abnormal", text=f"the alert reports {said}",
                   extra={"from_alert": True}, ref=ref)

    out: list[Row] = []
    m = _first(_THROTTLE, text)
    if m:
        out.append(row("cpu_throttling_ratio", labels, float(m.group(1)) / 100, f"{m.group(1)}% CFS throttling"))
    m = _first(_LATENCY, text) if _LATENCY_WORDS.search(name + " " + (a.summary or "" if a else text)) else None
    if m:
        thr = f" (threshold {m.group(3)} {m.group(4)})" if m.lastindex and m.lastindex >= 4 and m.group(3) else ""
        out.append(row("latency_p99", labels, _seconds(m.group(1), m.group(2)),
                       f"latency {m.group(1)} {m.group(2)}{thr}"))
    # Quoted from the part of the alert that says it (its description, else its summary or text).
    parts = [p for p in ((a.description, a.summary) if a else (text,)) if p]
    over = next(((p, o) for p in parts if (o := _OVER.search(p))), None) \
        if not m and _LATENCY_WORDS.search(text) else None
    if over:
        part, o = over
        value, unit = (o.group(1), o.group(2)) if o.group(1) else (o.group(3), o.group(4))
        out.append(row("latency_p99", labels, _seconds(value, unit), f"requests taking longer than {value} {unit}: "
                       f"\"{clip_middle(_sentence(part, o.start()), 240)}\""))
    m = _first(_ERRORS, text)
    if m:
        out.append(row("error_ratio", labels, float(m.group(1)) / 100, f"{m.group(1)}% failed requests"))
    m = _MEMORY.search(text)
    if m and node:
        out.append(row("node_memory", {"node": node}, float(m.group(1)) / 100, f"memory at {m.group(1)}%"))
    return out


def _first(patterns: tuple[re.Pattern[str], ...], text: str) -> re.Match[str] | None:
    return next((m for rx in patterns if (m := rx.search(text))), None)


def _sentence(text: str, at: int) -> str:
    """The alert sentence around a match, as the rule wrote it."""
    dot = text.rfind(". ", 0, at)
    start = max(dot + 2 if dot >= 0 else 0, text.rfind("\n", 0, at) + 1)
    end = min(i for i in (text.find(". ", at), text.find("\n", at), len(text)) if i >= 0)
    return text[start:end].strip()
