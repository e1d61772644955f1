"""Synthetic tool results in the shapes the real tools return, for offline-engine unit tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from agents.offline.features import Obs, extract
from agents.offline.scope import Scope
from agents.offline.signals import Ctx
from tools.base import Tool, ToolRegistry, ToolResult

NOW = datetime(2026, 10, 6, 10, 0, tzinfo=timezone.utc)
SOURCES = {"prom": "prometheus", "k8s": "kubernetes", "search": "opensearch", "log": "opensearch"}


def ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def obs(tool: str, data: Any, key: str = "", status: str = "ok", **args: Any) -> Obs:
    src = next((v for k, v in SOURCES.items() if tool.startswith(k)), "test")
    return Obs(tool, args, ToolResult(status=status, data=data, source=src, query=f"{tool}({args})"), key)


def pod(name: str, owner: str | None = None, *, phase: str = "Running", ready: bool = True, restarts: int = 0,
        state: str = "running", reason: str | None = None, exit_code: int | None = None,
        last_reason: str | None = None, last_exit: int | None = None, node: str = "node-a",
        limits: dict | None = None, message: str | None = None, pod_reason: str | None = None,
        conditions: list | None = None) -> dict:
    c: dict[str, Any] = {"name": name.rsplit("-", 2)[0], "image": "registry/x:1", "ready": ready,
                         "restarts": restarts, "state": state}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    if exit_code is not None:
        c["exit_code"] = exit_code
    if last_reason:
        c["last_termination"] = {"reason": last_reason, "exit_code": last_exit, "finished_at": ago(3)}
    if limits:
        c["limits"] = limits
    v = {"name": name, "phase": phase, "ready": "1/1" if ready else "0/1", "restarts": restarts, "node": node,
         "owner": owner, "containers": [c], "conditions": conditions or []}
    if pod_reason:
        v["reason"] = pod_reason
    return v


def pods_obs(ns: str, *views: dict) -> Obs:
    return obs("k8s_pods", {"namespace": ns, "pods": list(views)}, namespace=ns)


def deploy(name: str, *revs: tuple[int, str, float, str]) -> dict:
    """revs: (revision, rs name, minutes ago, image), newest first."""
    hist = [{"revision": r, "name": rs, "created": ago(m), "images": {name: img}} for r, rs, m, img in revs]
    return {"name": name, "replicas": {"desired": 3, "available": 3}, "rollout_history": hist, "problems": []}


def deployments_obs(ns: str, *deps: dict) -> Obs:
    return obs("k8s_deployments", {"namespace": ns, "deployments": list(deps)}, namespace=ns)


def events_obs(ns: str, *events: dict) -> Obs:
    return obs("k8s_events", {"namespace": ns, "events": list(events)}, namespace=ns)


def event(obj: str, reason: str, message: str, count: int = 3, type_: str = "Warning") -> dict:
    return {"type": type_, "reason": reason, "object": obj, "message": message, "count": count,
            "first": ago(30), "last": ago(1)}


def named(name: str, *rows: dict, **args: Any) -> Obs:
    return obs("prom_named", {"name": name, "evaluated_at": NOW.isoformat(), "rows": list(rows)}, name=name, **args)


def row(labels: dict, value: float, state: str = "normal", peak: float | None = None, since: str | None = None) -> dict:
    r: dict[str, Any] = {"labels": labels, "value": value, "state": state, "text": f"value {value}"}
    if peak is not None:
        r["peak"] = peak
    if since:
        r["abnormal_since"] = since
    return r


def rate_obs(service: str, ns: str, baseline: float, window: float) -> Obs:
    return obs("prom_anomaly", {"series": [{"labels": {"namespace": ns, "service": service},
                                             "baseline_median": baseline, "window_mean": window,
                                             "anomalous": window > 2 * baseline, "change_at": ago(20)}]},
               key="request_rate", query="rate")


def logs_obs(templates: list[tuple[str, int]], pods: list[str], key: str = "", **args: Any) -> Obs:
    data = {"templates": [{"template": t, "count": n, "first_seen": ago(20), "last_seen": ago(1), "examples": [t]}
                          for t, n in templates],
            "pods": {p: 1 for p in pods}, "total_hits": sum(n for _, n in templates)}
    return obs("search_logs", data, key=key, **args)


def pod_logs_obs(ns: str, pod_name: str, lines: list[str]) -> Obs:
    return obs("k8s_pod_logs", {"namespace": ns, "pod": pod_name, "sections": [
        {"previous": True, "line_count": len(lines), "lines": lines}]}, namespace=ns, pod=pod_name, previous=True)


def ctx_of(*observations: Obs, focus: tuple[str, ...] = (), namespace: str | None = None,
           pods: tuple[str, ...] = ()) -> Ctx:
    scope = Scope(namespace=namespace, namespaces=[namespace] if namespace else [], focus=list(focus),
                  pods=list(pods))
    return Ctx(extract(list(observations), NOW), scope)


def canned_registry(answers: dict[str, Any]) -> ToolRegistry:
    """A registry whose tools answer from a table: name -> ToolResult or callable(args) -> ToolResult;
    anything else answers no_data, so the engine runs its whole plan without backends."""
    reg = ToolRegistry()
    sources = {"prom_": "prometheus", "search_logs": "opensearch", "log_aggregations": "opensearch",
               "k8s_": "kubernetes", "search_knowledge": "knowledge"}
    names = ["prom_named", "prom_anomaly", "prom_query", "prom_labels", "search_logs", "log_aggregations",
             "k8s_pods", "k8s_events", "k8s_pod_logs", "k8s_deployments", "k8s_nodes", "k8s_jobs"]
    for name in names:
        src = next(v for k, v in sources.items() if name.startswith(k))

        def make(n: str, s: str):
            async def handler(**args: Any) -> ToolResult:
                a = answers.get(n)
                r = a(args) if callable(a) else a
                if r is None:
                    return ToolResult(status="no_data", summary="nothing", query=f"{n}({args})", source=s)
                return ToolResult(**{**r.__dict__, "query": r.query or f"{n}({args})", "source": s})
            return handler

        reg.register(Tool(name=name, description=name, input_schema={"type": "object"}, handler=make(name, src),
                          source=src, budget_bytes=100_000))
    return reg
