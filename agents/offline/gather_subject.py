"""The subject's own state first: its containers' logs (every failing container, init containers
included, current and previous instance), its node when it is a node, then what its own logs point
at (the DNS it cannot reach and the NetworkPolicies that select it, a dependency in another
namespace). Neighbours' logs are read only when a link makes them relevant.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.offline.logsig import classify, hosts_in
from agents.offline.subject import subject_texts

if TYPE_CHECKING:
    from agents.offline.facts import Container, Pod
    from agents.offline.features import Facts
    from agents.offline.gather import Gatherer
    from agents.offline.scope import Scope

Call = tuple[str, dict[str, Any], str]
MAX_SUBJECT_PODS = 3
MAX_CONTAINERS = 2
DNS_NAMESPACE = "kube-system"
_DNS_CLASSES = ("dns_resolver", "dns_nxdomain")


def container_failed(c: "Container") -> bool:
    """Exited, waiting to restart, or restarted: whatever the exit code (a server exiting 0 is a crash too)."""
    reason, code = c.termination
    if c.restarts > 0 or (c.state == "waiting" and c.reason not in (None, "ContainerCreating", "PodInitializing")):
        return True
    if c.state == "terminated" and code not in (0, None):
        return True
    return reason not in (None, "Completed")


def pod_failing(p: "Pod") -> bool:
    return any(container_failed(c) for c in p.containers) or p.phase == "Failed" and p.reason != "Evicted"


def subject_pods(scope: "Scope", facts: "Facts") -> list["Pod"]:
    pods = [p for p in facts.pods.values() if p.workload in scope.focus or p.name in scope.pods]
    order = {name: i for i, name in enumerate(scope.pods)}
    return sorted(pods, key=lambda p: (order.get(p.name, len(order)), -p.restarts, p.name))


def _signature(p: "Pod") -> tuple:
    bad = [c for c in p.containers if container_failed(c)]
    return (p.workload, p.owner_rs, tuple((c.name, c.termination, c.reason) for c in bad))


def subject_log_calls(g: "Gatherer", scope: "Scope", facts: "Facts") -> list[Call]:
    """kubectl logs [--previous] of each failing container of the subject's pods, one pod per kind of
    failure (the alert's own pod first)."""
    mine = subject_pods(scope, facts)
    failing = [p for p in mine if pod_failing(p) and p.ref]
    if not failing and g.available("k8s_pod_logs"):
        # Nothing crashed: what the subject says now (its alert pod first) is the log to read.
        live = [p for p in mine if p.phase == "Running" and p.ref and p.ref.tool == "k8s_pods"]
        return [("k8s_pod_logs", {"namespace": p.namespace, "pod": p.name, "tail_lines": 300,
                                  **({"container": c.name} if len(p.containers) > 1 else {})}, "")
                for p in live[:1] for c in [x for x in p.containers if not x.init][:MAX_CONTAINERS]]
    picked, seen = [], set()
    for p in failing:
        sig = _signature(p)
        if sig not in seen:
            seen.add(sig)
            picked.append(p)
    calls: list[Call] = []
    for p in picked[:MAX_SUBJECT_PODS]:
        if p.ref.tool != "k8s_pods" or not g.available("k8s_pod_logs"):
            calls.append(("search_logs", {"namespace": p.namespace or None, "pod": p.name, "minutes": g.window,
                                          "limit": 300}, "pod"))
            continue
        bad = [c for c in p.containers if container_failed(c)] or p.containers[:1]
        for c in bad[:MAX_CONTAINERS]:
            # A container that ended and was not restarted (a Job's pod) still holds the failed run as
            # its current log; --previous exists only once the kubelet restarted it.
            previous = not (c.state == "terminated" and not c.restarts)
            calls.append(("k8s_pod_logs", {"namespace": p.namespace, "pod": p.name, "container": c.name,
                                           "previous": previous, "tail_lines": 300}, ""))
    return calls


def pod_calls(g: "Gatherer", scope: "Scope", facts: "Facts") -> list[Call]:
    """The subject's own pods that the namespace listing left out, by name: a listing is cut to the
    tool's budget, and in a busy namespace the cut can drop exactly the pods the alert is about."""
    if not (scope.namespace and scope.pods and g.available("k8s_pods")):
        return []
    missing = [p for p in scope.pods if p not in facts.pods]
    return [("k8s_pods", {"namespace": scope.namespace, "name": pod}, "") for pod in missing[:MAX_SUBJECT_PODS + 2]]


def node_calls(g: "Gatherer", scope: "Scope") -> list[Call]:
    """A node alert's node: its load (pods against allocatable, requests and limits) and its events."""
    calls: list[Call] = []
    for node in scope.nodes[:1]:
        calls.append(("k8s_nodes", {"name": node}, ""))
        # Node events are recorded in the default namespace, not in the workloads' ones.
        calls.append(("k8s_events", {"namespace": "default", "kind": "Node", "name": node}, ""))
    return calls


def dependency_calls(g: "Gatherer", scope: "Scope", facts: "Facts") -> list[Call]:
    """What the subject's own failures point at, asked once each."""
    calls: list[Call] = []
    texts = subject_texts(facts, set(scope.focus)) if scope.focus else []
    dns = any(classify(t) in _DNS_CLASSES for t in texts) or \
        (not scope.resolved and any(h.cls in _DNS_CLASSES for h in facts.logs))
    if dns:
        mine = [p for p in subject_pods(scope, facts) if p.ref and p.ref.tool == "k8s_pods"]
        ns = mine[0].namespace if mine else scope.namespace
        if ns:
            calls.append(("k8s_network_policies", {"namespace": ns, **({"pod": mine[0].name} if mine else {})}, ""))
        calls.append(("k8s_pods", {"namespace": DNS_NAMESPACE}, "dns_server"))
    dns_pods = [facts.pods[n] for n in sorted(facts.dns_server_pods) if pod_failing(facts.pods[n])]
    for p in dns_pods[:1]:
        c = next((c for c in p.containers if container_failed(c)), p.containers[0] if p.containers else None)
        calls.append(("k8s_pod_logs", {"namespace": p.namespace, "pod": p.name, "previous": True, "tail_lines": 200,
                                       **({"container": c.name} if c else {})}, ""))
    other_ns = sorted({h.split(".")[1] for t in texts for h in hosts_in(t)
                       if h.count(".") >= 2 and ".svc" in h and h.split(".")[1] != scope.namespace})
    for ns in other_ns[:1]:
        calls.append(("k8s_pods", {"namespace": ns}, ""))
    return g.new(calls)


def log_calls_for_symptoms(g: "Gatherer", scope: "Scope", facts: "Facts") -> list[Call]:
    """Slowness and throttling show in the subject's ordinary (INFO) lines: request and query
    durations. Read them at every level when the symptom is latency or CPU."""
    symptoms = {r.name for name in ("latency_p99", "cpu_throttling_ratio") for r in facts.rows.get(name, [])
                if r.state == "abnormal" and (r.labels.get("service") in scope.focus or r.extra.get("from_alert"))}
    pods = [p for p in subject_pods(scope, facts) if p.phase == "Running"]
    if not symptoms or not pods:
        return []
    p = pods[0]
    if g.available("search_logs"):
        return [("search_logs", {"namespace": p.namespace, "pod": p.name, "minutes": g.window, "limit": 300},
                 "focus_all")]
    if g.available("k8s_pod_logs") and p.ref and p.ref.tool == "k8s_pods":
        return [("k8s_pod_logs", {"namespace": p.namespace, "pod": p.name, "tail_lines": 300,
                                  **({"container": p.containers[0].name} if len(p.containers) > 1 else {})}, "")]
    return []
