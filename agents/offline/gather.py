"""Evidence collection plan: which tools to call, in parallel batches, with a bounded budget.

Order follows an SRE's first minutes: cluster-wide signals and log signatures (plus the alert's
namespace when known), then the namespace once discovered, then targeted reads (crashed
containers' logs, who logs which error class, past incidents). A source that fails at the
connection level is not asked again in the session.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from agents.offline.features import Facts, Obs
from agents.offline.gather_subject import (dependency_calls, log_calls_for_symptoms, node_calls, pod_calls,
                                          subject_log_calls)
from agents.offline.logsig import CLASS_QUERIES, SWEEP_APP, SWEEP_INFRA
from agents.offline.scope import Scope, workload_of_pod
from agents.offline.subject import links
from agents.toolrunner import ToolRunner
from tools.prometheus.catalog import promql_string

MAX_CALLS = 25
_DOWN = re.compile(r"refused|connection|timed out|timeout|not configured|unreachable|name or service|"
                   r"max retries|unavailable|no route|HTTP 5\d\d|cannot connect|failed to establish", re.I)
# Named queries over time series: the state the pod API cannot give.
NS_SERIES = ("memory_vs_limit", "cpu_throttling_ratio", "error_ratio", "latency_p99", "db_connections")
# kube-state-metrics views of what k8s_pods/k8s_deployments would say; used only without Kubernetes.
NS_STATE = ("container_restarts", "last_termination_reason", "waiting_reason", "replicas_available_vs_desired")
CLUSTER_SERIES = ("dns_errors", "certificate_expiry", "probe_success", "filesystem_free")
FOLLOW_UP_ORDER = ("dns_resolver", "tls_expired", "disk", "pool", "refused", "slow_db", "dns_nxdomain", "oom",
                   "tls_other")


class Gatherer:
    def __init__(self, runner: ToolRunner, unavailable: dict[str, str]):
        self.runner = runner
        self.obs: list[Obs] = []
        self.down: dict[str, str] = dict(unavailable)
        self.window = 90.0
        self.step = 0
        self.done_namespaces: set[str | None] = set()

    # -- plumbing -------------------------------------------------------------------------
    def source_of(self, name: str) -> str | None:
        tool = self.runner.registry.get(name)
        return tool.source if tool else None

    def available(self, name: str) -> bool:
        src = self.source_of(name)
        return src is not None and src not in self.down

    @property
    def calls_left(self) -> int:
        return MAX_CALLS - len(self.obs)

    def new(self, calls: list[tuple[str, dict[str, Any], str]]) -> list[tuple[str, dict[str, Any], str]]:
        """The calls not made yet in this session, on sources still up."""
        done = {ToolRunner.key(o.name, o.args) for o in self.obs}
        return [c for c in calls if self.available(c[0]) and ToolRunner.key(c[0], c[1]) not in done]

    async def batch(self, label: str, calls: list[tuple[str, dict[str, Any], str]]) -> None:
        calls = [c for c in calls if self.available(c[0])]
        seen, unique = set(), []
        for c in calls:
            k = ToolRunner.key(c[0], c[1])
            if k not in seen and k not in {ToolRunner.key(o.name, o.args) for o in self.obs}:
                seen.add(k)
                unique.append(c)
        unique = unique[:max(0, self.calls_left)]
        if not unique:
            return
        self.step += 1
        self.runner.step = self.step
        self.runner.tracer.step(self.step, None, label)
        results = await self.runner.run_many([(n, a) for n, a, _ in unique])
        for (name, args, key), res in zip(unique, results):
            self.obs.append(Obs(name, args, res, key))
            src = res.source or self.source_of(name) or name
            if res.status == "error" and _DOWN.search(res.error or "") and src not in self.down:
                self.down[src] = res.error or "error"

    # -- plans ----------------------------------------------------------------------------
    def set_window(self, scope: Scope, now: datetime) -> None:
        if scope.start is not None:
            age = max(0.0, (now - scope.start).total_seconds() / 60)
            self.window = float(min(180, max(60, round(age + 45))))

    def subject_calls(self, scope: Scope) -> list[tuple[str, dict, str]]:
        return node_calls(self, scope)

    def missing_subject_pods(self, scope: Scope, facts: Facts) -> list[tuple[str, dict, str]]:
        return self.new(pod_calls(self, scope, facts))

    def dependency_calls(self, scope: Scope, facts: Facts) -> list[tuple[str, dict, str]]:
        return dependency_calls(self, scope, facts)

    def cluster_calls(self, scope: Scope) -> list[tuple[str, dict, str]]:
        w = self.window
        calls: list[tuple[str, dict, str]] = [("k8s_nodes", {}, "")]
        if not self.available("k8s_nodes"):
            calls.append(("prom_named", {"name": "node_conditions", "minutes": w}, ""))
        calls += [("prom_named", {"name": n, "minutes": w}, "") for n in CLUSTER_SERIES]
        calls += [("search_logs", {"query": SWEEP_INFRA, "minutes": w, "limit": 400}, "sweep_infra"),
                  ("search_logs", {"query": SWEEP_APP, "minutes": w, "limit": 400}, "sweep_app")]
        if scope.namespace is None or not scope.focus:
            calls.append(("prom_labels", {"label": "namespace", "minutes": w}, ""))
        return calls

    def namespace_calls(self, ns: str | None, scope: Scope, now: datetime) -> list[tuple[str, dict, str]]:
        """Everything about one namespace (or the whole cluster when none could be found)."""
        self.done_namespaces.add(ns)
        w = self.window
        nsarg = {"namespace": ns} if ns else {}
        calls: list[tuple[str, dict, str]] = []
        k8s = ns is not None and self.available("k8s_pods")
        if k8s:
            calls += [(t, {"namespace": ns}, "") for t in ("k8s_pods", "k8s_deployments", "k8s_events", "k8s_jobs")]
        names = NS_SERIES + (() if k8s else NS_STATE)
        calls += [("prom_named", {"name": n, **nsarg, "minutes": w}, "") for n in names]
        calls.append(("prom_anomaly", {"query": request_rate_query(ns), **self.anomaly_window(scope, now)},
                      "request_rate"))
        calls += [("log_aggregations", {**nsarg, "minutes": w, "top": 15}, ""),
                  ("search_logs", {**nsarg, "level": "warn", "minutes": w, "limit": 400}, "ns_warn")]
        return calls

    def anomaly_window(self, scope: Scope, now: datetime) -> dict[str, Any]:
        win = 20.0
        if scope.start is not None:
            win = min(60.0, max(10.0, (now - scope.start).total_seconds() / 60 + 5))
        return {"window_minutes": round(win), "baseline_minutes": round(min(150.0, 175.0 - win))}

    def targeted_calls(self, scope: Scope, facts: Facts) -> list[tuple[str, dict, str]]:
        # The subject's own containers first; a neighbour's crash only when it is linked to the
        # subject (or when the trigger names no subject at all).
        calls: list[tuple[str, dict, str]] = subject_log_calls(self, scope, facts)
        linked = links(facts, set(scope.focus))
        others = [p for p in crashed_pods(scope, facts) if not scope.focus or facts.pods[p].workload in linked]
        for pod in [p for p in others if facts.pods[p].workload not in scope.focus][:2 if not scope.focus else 1]:
            p = facts.pods[pod]
            if self.available("k8s_pod_logs") and p.ref and p.ref.tool == "k8s_pods":
                args: dict[str, Any] = {"namespace": p.namespace, "pod": pod, "previous": True, "tail_lines": 300}
                if len(p.containers) > 1:
                    args["container"] = p.containers[0].name
                calls.append(("k8s_pod_logs", args, ""))
            else:
                calls.append(("search_logs", {"namespace": p.namespace or None, "pod": pod,
                                              "minutes": self.window, "limit": 300}, "pod"))
        calls += log_calls_for_symptoms(self, scope, facts)
        calls += self.follow_ups(facts)
        if any(r.state == "abnormal" for n in ("latency_p99", "error_ratio") for r in facts.rows.get(n, [])
               if r.labels.get("service") in scope.focus):
            # postgres_exporter's longest running statement: a slow query shows from the database side.
            calls.append(("prom_query", {"query": "max by (namespace, pod, instance, datname, state) "
                                                  "(pg_stat_activity_max_tx_duration)"}, "pg_tx"))
        sick = sorted(n.name for n in facts.nodes.values() if n.pressure or n.ready != "True")
        sick = [n for n in scope.nodes if n in sick] + [n for n in sick if n not in scope.nodes]
        if sick and self.available("k8s_events"):
            # Node events are recorded in the default namespace, not in the workloads' ones.
            calls.append(("k8s_events", {"namespace": "default", "kind": "Node", "name": sick[0]}, ""))
        if any(_oom_without_limit(p) for p in facts.pods.values()):
            ns = next((p.namespace for p in facts.pods.values() if _oom_without_limit(p)), None)
            sel = 'resource="memory"' + (f",namespace={promql_string(ns)}" if ns else "")
            calls.append(("prom_query", {"query": f"max by (namespace, pod, container) "
                                                  f"(kube_pod_container_resource_limits{{{sel}}})"}, "memory_limit"))
        focus_pod = busiest_focus_pod(scope, facts, exclude=[c[1].get("pod") for c in calls])
        if focus_pod is not None:
            p = facts.pods.get(focus_pod)
            ns = p.namespace if p else scope.namespace
            calls.append(("search_logs", {**({"namespace": ns} if ns else {}), "pod": focus_pod, "level": "warn",
                                          "minutes": self.window, "limit": 300}, "focus_pod"))
        return calls

    def follow_ups(self, facts: Facts) -> list[tuple[str, dict, str]]:
        """Which pods log each class the sweeps found, when a sweep mixed several workloads."""
        out = []
        for cls in FOLLOW_UP_ORDER:
            hits = [h for h in facts.logs if h.cls == cls and h.ref and "sweep" in _key_of(self.obs, h.ref)]
            if not hits:
                continue
            workloads = {workload_of_pod(p)[0] for h in hits for p in h.pods}
            if len(workloads) > 1:
                out.append(("search_logs", {"query": CLASS_QUERIES[cls], "minutes": self.window, "limit": 300},
                            f"class:{cls}"))
        return out[:3]


def _key_of(obs: list[Obs], ref) -> str:
    for o in obs:
        if o.ref == ref:
            return o.key
    return ""


def _oom_without_limit(p) -> bool:
    return any(c.termination[0] == "OOMKilled" and not c.limits.get("memory") for c in p.containers)


def crashed_pods(scope: Scope, facts: Facts) -> list[str]:
    """Pods whose crashed instance's log is worth reading, the alert's own pod and workload first."""
    def crashed(p) -> bool:
        for c in p.containers:
            reason, code = c.termination
            if c.restarts > 0 or (c.state == "waiting" and c.reason == "CrashLoopBackOff"):
                return True
            if c.state == "terminated" and code not in (0, None):
                return True
            if reason not in (None, "Completed"):
                return True
        return p.phase == "Failed" and p.reason != "Evicted"

    pods = [p for p in facts.pods.values() if crashed(p)]

    def rank(p) -> tuple:
        return (p.name not in scope.pods, p.workload not in scope.focus, -p.restarts, p.name)

    pods.sort(key=rank)
    out, seen_wl = [], {}
    for p in pods:
        # One pod per workload revision: enough to read the crash without repeating it.
        key = (p.workload, p.owner_rs)
        if key in seen_wl:
            continue
        seen_wl[key] = p.name
        out.append(p.name)
    return out


def busiest_focus_pod(scope: Scope, facts: Facts, exclude: list) -> str | None:
    """The focus workload's pod with the most error lines: its own warnings say what it suffers from."""
    cands = [(n, p) for p, n in facts.log_errors_by_pod.items()
             if workload_of_pod(p)[0] in scope.focus and p not in exclude]
    if not cands:
        cands = [(0, p.name) for p in facts.pods.values() if p.workload in scope.focus and p.name not in exclude]
    if not cands:
        return None
    return sorted(cands, key=lambda x: (-x[0], x[1]))[0][1]


def request_rate_query(ns: str | None) -> str:
    sel = f"{{namespace={promql_string(ns)}}}" if ns else ""
    return (f"sum by (namespace, service) (rate(http_requests_total{sel}[5m])) or "
            f"sum by (namespace, service) (rate(http_server_requests_seconds_count{sel}[5m]))")
