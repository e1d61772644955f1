"""k8s_pod_logs: current (and previous, crashed) container logs.

Short logs come back verbatim. Longer ones are mined into templates (errors first) so a crash
loop of thousands of lines fits a tool budget, plus the last lines of the most severe level and
the very last lines, which usually hold the crash itself.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import ApiFailure, Kube
from tools.k8s.compact import short
from tools.logs import detect_level, mine_templates
from tools.textclip import clip_middle

RAW_MAX_LINES = 60
RAW_MAX_BYTES = 3000
MAX_TAIL_LINES = 5000
TEMPLATES_KEPT = 15
SEVERE_TAIL = 10
LAST_LINES = 5
_SEVERITY_ORDER = ("ERROR", "WARN")


async def read_pod_logs(kube: Kube, now: datetime, namespace: str, pod: str, container: str | None = None,
                        previous: bool = False, tail_lines: int = 500) -> ToolResult:
    tail = max(1, min(int(tail_lines), MAX_TAIL_LINES))
    path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
    sections: list[dict[str, Any]] = []
    failures: list[ApiFailure] = []
    # The previous instance is the one that crashed, so it goes first.
    for prev in ((True, False) if previous else (False,)):
        try:
            text = await kube.text(path, kube.core.read_namespaced_pod_log, name=pod, namespace=namespace,
                                   container=container or None, previous=True if prev else None, tail_lines=tail)
        except ApiFailure as failure:
            # A crash-looping container often has no current instance; keep what we have.
            if failure.code in (400, 404) and previous and failure.reason != "NotFound":
                failures.append(failure)
                continue
            raise
        sections.append(await asyncio.to_thread(section, text, prev, tail))  # Drain mining: off the event loop
    if not sections:
        raise failures[-1]
    reduced = any("templates" in s for s in sections)
    data: dict[str, Any] = {"namespace": namespace, "pod": pod, "container": container, "sections": sections}
    if failures:
        data["unavailable"] = [f.message for f in failures]
    total = sum(s["line_count"] for s in sections)
    if total == 0:
        return ToolResult(status="no_data", data=data,
                          summary=f"{pod}{'/' + container if container else ''}: no log output")
    return ToolResult(status="ok", data=data, reduced=reduced, summary=_summary(pod, container, sections))


def section(text: str, previous: bool, tail: int) -> dict[str, Any]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    out: dict[str, Any] = {"previous": previous, "line_count": len(lines)}
    if len(lines) >= tail:
        out["note"] = f"only the last {tail} lines were requested"
    if len(lines) <= RAW_MAX_LINES and sum(len(ln) + 1 for ln in lines) <= RAW_MAX_BYTES:
        out["lines"] = lines
        return out
    levels = [detect_level(ln) for ln in lines]
    templates = mine_templates(lines)
    out["templates"] = [t.to_model_dict() for t in templates[:TEMPLATES_KEPT]]
    if len(templates) > TEMPLATES_KEPT:
        out["templates_omitted"] = len(templates) - TEMPLATES_KEPT
    worst = next((lvl for lvl in _SEVERITY_ORDER if lvl in levels), None)
    if worst:
        severe = [clip_middle(ln, 400) for ln, lvl in zip(lines, levels) if lvl == worst]
        out["most_severe"] = {"level": worst, "count": len(severe), "tail": severe[-SEVERE_TAIL:]}
    out["last_lines"] = [clip_middle(ln, 400) for ln in lines[-LAST_LINES:]]
    return out


def _summary(pod: str, container: str | None, sections: list[dict[str, Any]]) -> str:
    who = f"{pod}/{container}" if container else pod
    parts = []
    for s in sections:
        label = "previous instance" if s["previous"] else "current"
        detail = f"{s['line_count']} lines"
        if "templates" in s:
            detail += f" in {len(s['templates']) + s.get('templates_omitted', 0)} templates"
        severe = s.get("most_severe")
        if severe:
            detail += f", {severe['count']} {severe['level']} (last: {short(severe['tail'][-1], 160)})"
        elif s.get("lines"):
            detail += f", last: {short(s['lines'][-1], 160)}"
        parts.append(f"{label}: {detail}")
    return f"logs of {who}: " + "; ".join(parts)


def reduce_logs(result: ToolResult, budget: int) -> ToolResult:
    """Shrink each section to its essentials: fewer templates and tail lines."""
    for s in (result.data or {}).get("sections", []):
        if "lines" in s and len(s["lines"]) > 20:
            s["lines_omitted"] = len(s["lines"]) - 20
            s["lines"] = s["lines"][-20:]
        if "templates" in s:
            s["templates_omitted"] = s.get("templates_omitted", 0) + max(0, len(s["templates"]) - 6)
            s["templates"] = s["templates"][:6]
            for t in s["templates"]:  # shorter, never gone: the variables live in the example
                if isinstance(t.get("example"), str):
                    t["example"] = clip_middle(t["example"], 240)
        if "most_severe" in s:
            s["most_severe"]["tail"] = s["most_severe"]["tail"][-5:]
    return result
