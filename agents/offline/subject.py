"""The alert's subject first; a neighbour only when structured data links it to the subject.

The subject is what agents/scope.py resolved from the trigger (labels, then annotations and text,
confirmed by the cluster through k8s_subject / k8s_find / k8s_nodes): its workloads, pods and the
nodes they run on, or the node a node alert is about. Another workload counts only through a link
the data shows: a dependency the subject's own logs name (a host, a pod, a Service name), or a
ConfigMap, Secret or PVC both read. Sharing a namespace or a node is not a link for a workload's
cause (an image another Deployment cannot pull does not stop this one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from agents.offline.logsig import hosts_in
from agents.offline.scope import Scope, is_exporter_name, is_exporter_namespace

if TYPE_CHECKING:
    from agents.offline.features import Facts
    from agents.scope import TriggerScope

_TOP_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")


def merge_subject(scope: Scope, subject: "TriggerScope | None") -> None:
    """Put the resolved subject in front of what the text alone suggested."""
    if subject is None:
        return
    if not subject.namespace and not subject.workloads and subject.mentioned:
        # The text names workloads in several namespaces: look first where most of them are.
        counts: dict[str, int] = {}
        for ns, _, _ in subject.mentioned:
            counts[ns] = counts.get(ns, 0) + 1
        ranked = sorted(counts, key=lambda ns: (-counts[ns], ns))
        scope.namespaces[:] = ranked + [n for n in scope.namespaces if n not in ranked]
        scope.namespace = scope.namespace or ranked[0]
        for ns, _, name in sorted(subject.mentioned, key=lambda m: (ranked.index(m[0]), m[2])):
            scope.add_focus(name)
        return
    # A monitoring namespace is the subject's only when the cluster found the subject there (a log
    # shipper's DaemonSet); an exporter's namespace label on a node alert says nothing.
    if subject.namespace and (subject.workloads or not is_exporter_namespace(subject.namespace)):
        if subject.namespace in scope.namespaces:
            scope.namespaces.remove(subject.namespace)
        scope.namespaces.insert(0, subject.namespace)
        scope.namespace = subject.namespace
    kinds = {k for k, _ in subject.workloads}
    tops = [(k, n) for k, n in sorted(subject.workloads, key=lambda w: _TOP_KINDS.index(w[0])
                                      if w[0] in _TOP_KINDS else 9)
            if k in _TOP_KINDS and not (k == "Job" and "CronJob" in kinds) and not is_exporter_name(n)]
    if tops:
        scope.focus[:0] = [n for _, n in tops if n not in scope.focus]
        scope.subject_kind = tops[0][0]
    # The alert's own pod stays first; the rest of the subject's pods follow.
    scope.pods[:] = ([p for p in scope.pods if p in subject.pods] + sorted(set(subject.pods) - set(scope.pods))
                     + [p for p in scope.pods if p not in subject.pods])
    if subject.workloads:
        scope.host_nodes = sorted(subject.nodes)
    else:   # a node alert: the node is the subject
        scope.nodes[:0] = sorted(n for n in subject.nodes if n not in scope.nodes)
    scope.resolved = bool(tops or (subject.nodes and not subject.workloads))


def subject_texts(facts: "Facts", focus: set[str]) -> list[str]:
    """What the subject itself wrote: its pods' logs and the log hits attributed to it alone."""
    texts = [t for pod, lines in facts.pod_logs.items() if facts.workload_of(pod) in focus for t, _ in lines]
    for h in facts.logs:
        owners = {h.scoped_pod} if h.scoped_pod else set(h.pods)
        if owners and all(facts.workload_of(p) in focus for p in owners):
            texts += [h.example, h.template]
    return texts


def links(facts: "Facts", focus: set[str]) -> dict[str, str]:
    """Workloads linked to the subject, each with the reason, from structured data only."""
    if not focus:
        return {}
    out: dict[str, str] = {}
    mine = [p for p in facts.pods.values() if p.workload in focus]
    shared: dict[str, set[str]] = {}
    for p in mine:
        for kind, names in p.uses.items():
            shared.setdefault(kind, set()).update(names)
    for p in facts.pods.values():
        if p.workload in focus or p.workload in out:
            continue
        for kind, names in p.uses.items():
            both = shared.get(kind, set()) & set(names)
            if both:
                out[p.workload] = f"shares {kind[:-1]} {sorted(both)[0]} with {sorted(focus)[0]}"
                break
    for (ns, svc), pods in facts.services.items():
        behind = {facts.workload_of(p) for p in pods}
        if behind & focus:
            for wl in sorted(behind - focus - set(out)):
                out[wl] = f"behind Service {ns}/{svc} with {sorted(behind & focus)[0]}"
    known = facts.workload_names() - focus
    pods_by_name = {p.name: p for p in facts.pods.values()}
    named = [(h, "config") for p in mine for h in p.config_hosts] + \
        [(h, "logs") for text in subject_texts(facts, focus) for h in hosts_in(text)]
    for host, where in named:
        for wl in sorted(dependency_workloads(host, known, pods_by_name, facts) - focus):
            if wl not in out:
                out[wl] = f"{sorted(focus)[0]}'s {where} name {host}"
    return out


def dependency_workloads(host: str, known: set[str], pods_by_name: dict, facts: "Facts | None" = None) -> set[str]:
    """The workloads a host name points at: a pod (orders-db-0.orders-db-headless...), a Service's
    pods (redis.cache.svc.cluster.local: Service redis in cache), a workload of that name."""
    parts = host.split(".")
    first, ns = parts[0], (parts[1] if len(parts) > 2 and parts[2] == "svc" else None)
    if first in pods_by_name:
        return {pods_by_name[first].workload}
    behind = facts.service_workloads(first, ns) if facts is not None else set()
    return behind or ({first} if first in known else set())


def dependency_workload(host: str, known: set[str], pods_by_name: dict, facts: "Facts | None" = None) -> str | None:
    found = sorted(dependency_workloads(host, known, pods_by_name, facts))
    return found[0] if found else None
