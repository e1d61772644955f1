"""k8s_events: events of one object (and, for workloads, of the objects it owns) or a namespace,
deduplicated with summed counts and first/last timestamps, warnings first."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import Kube
from tools.k8s.compact import ago, parse_time, prune, short

_KINDS = {k.lower(): k for k in ("Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                                 "Node", "Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler",
                                 "ConfigMap", "Ingress", "Endpoints", "Namespace")}
# Objects a workload creates are named after it; these patterns follow the controllers' naming
# (<deploy>-<template-hash>-<5 chars>, <statefulset>-<ordinal>, <cronjob>-<scheduled minute>...).
_CHILDREN: dict[str, tuple[tuple[str, str], ...]] = {
    "Deployment": (("ReplicaSet", r"-[a-z0-9]{5,10}"), ("Pod", r"-[a-z0-9]{5,10}-[a-z0-9]{5}")),
    "ReplicaSet": (("Pod", r"-[a-z0-9]{5}"),),
    "StatefulSet": (("Pod", r"-\d+"),),
    "DaemonSet": (("Pod", r"-[a-z0-9]{5}"),),
    "Job": (("Pod", r"-[a-z0-9]{5}"),),
    "CronJob": (("Job", r"-\d+"), ("Pod", r"-\d+-[a-z0-9]{5}")),
}


async def read_events(kube: Kube, now: datetime, namespace: str, kind: str | None = None,
                      name: str | None = None) -> ToolResult:
    kind = _KINDS.get((kind or "").lower(), kind) if kind else None
    path = f"/api/v1/namespaces/{namespace}/events"
    children = _CHILDREN.get(kind or "", ()) if name else ()
    selector = None
    if not children:
        parts = [f"involvedObject.kind={kind}"] if kind else []
        parts += [f"involvedObject.name={name}"] if name else []
        selector = ",".join(parts) or None
    body = await kube.json(path, kube.core.list_namespaced_event, namespace=namespace, field_selector=selector)
    events = body.get("items") or []
    if children:
        patterns = [(kind, re.compile(re.escape(name) + "$"))]
        patterns += [(k, re.compile(re.escape(name) + suffix + "$")) for k, suffix in children]
        events = [e for e in events if _involves(e, patterns)]
    target = f"{kind or 'object'}/{name}" if name else (f"{kind} objects" if kind else "all objects")
    if not events:
        return ToolResult(status="no_data", summary=f"no events for {target} in namespace {namespace} "
                          "(events expire after about an hour)")
    grouped = dedupe(events)
    warnings = [g for g in grouped if g["type"] == "Warning"]
    data = {"namespace": namespace, "target": target, "distinct": len(grouped), "warnings": len(warnings),
            "events": grouped}
    if children:
        data["includes_owned_objects"] = [k for k, _ in children]
    top = "; ".join(f"{g['reason']} x{g['count']} on {g['object']} ({ago(g.get('last'), now) or 'time unknown'})"
                    for g in (warnings or grouped)[:4])
    summary = (f"{len(grouped)} distinct event(s) for {target} in namespace {namespace}, {len(warnings)} warning(s)"
               + (f": {top}" if top else ""))
    return ToolResult(status="ok", data=data, summary=summary)


def _involves(event: dict[str, Any], patterns: list[tuple[str, re.Pattern[str]]]) -> bool:
    obj = event.get("involvedObject") or event.get("regarding") or {}
    return any(obj.get("kind") == k and p.fullmatch(obj.get("name") or "") for k, p in patterns)


def dedupe(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for e in events:
        obj = e.get("involvedObject") or e.get("regarding") or {}
        etype = e.get("type") or "Normal"
        message = (e.get("message") or e.get("note") or "").strip()
        key = (etype, e.get("reason") or "", obj.get("kind") or "", obj.get("name") or "", message)
        series = e.get("series") or {}
        count = int(e.get("count") or series.get("count") or 1)
        first = e.get("firstTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")
        last = e.get("lastTimestamp") or series.get("lastObservedTime") or e.get("eventTime") or first
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent")
        g = groups.get(key)
        if g is None:
            groups[key] = prune({"type": etype, "reason": key[1], "object": f"{key[2]}/{key[3]}",
                                 "message": short(message, 400), "count": count, "first": first, "last": last,
                                 "source": source})
            continue
        g["count"] += count
        if _earlier(first, g.get("first")):
            g["first"] = first
        if _earlier(g.get("last"), last):
            g["last"] = last
    ordered = sorted(groups.values(), key=lambda g: _sort_time(g.get("last")), reverse=True)
    return sorted(ordered, key=lambda g: g["type"] != "Warning")


def _sort_time(value: Any) -> float:
    ts = parse_time(value)
    return ts.timestamp() if ts else 0.0


def _earlier(a: Any, b: Any) -> bool:
    ta, tb = parse_time(a), parse_time(b)
    return ta is not None and (tb is None or ta < tb)


def reduce_events(result: ToolResult, budget: int) -> ToolResult:
    """Warnings stay as they are; normal events become counts by reason."""
    data = dict(result.data)
    events = data.get("events") or []
    normal = [e for e in events if e["type"] != "Warning"]
    data["events"] = [e for e in events if e["type"] == "Warning"]
    by_reason: Counter[str] = Counter()
    for e in normal:
        by_reason[e["reason"]] += e["count"]
    data["normal_by_reason"] = dict(by_reason)
    result.data = data
    result.summary += f" (reduced: {len(normal)} normal events counted by reason)"
    return result
