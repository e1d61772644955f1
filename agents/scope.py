"""The incident scope, computed from the trigger alone: what an action may touch.

A model can read anything the allowlist lets it read, and write anything in its answer; neither
widens what it may act on. The scope is fixed before any engine runs, from:

* the trigger's namespace and subject: the pod and workload named by the alert's labels (or, when
  the labels name none, an ``namespace/name`` in its own annotations), or the target a person typed;
* the subject's owner chain, by ownerReferences (tools/k8s/subject.py): Deployment → ReplicaSet →
  Pod, CronJob → Job → Pod, StatefulSet, DaemonSet;
* the nodes hosting the subject's pods, and a node the alert itself is about.

Deployment actions need a Deployment on that chain, delete_pod one of the subject's pods, node
actions a node hosting them. Everything else is "outside this incident's scope".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from agents.offline import scope as offline_scope
from agents.offline.scope import _NS_NAME, _URL  # noqa: PLC2701 (one definition of what a trigger names)
from agents.trigger import Trigger
from tools.actions import CATALOG
from tools.base import ToolRegistry

OUTSIDE = "outside this incident's scope"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Alert labels that name a workload, with the kind they name (None: any workload kind).
_WORKLOAD_LABELS: tuple[tuple[str, str | None], ...] = (
    ("deployment", "Deployment"), ("statefulset", "StatefulSet"), ("daemonset", "DaemonSet"),
    ("cronjob", "CronJob"), ("job_name", "Job"), ("replicaset", "ReplicaSet"),
    # Datadog's Kubernetes tags and OpenTelemetry's k8s.* attributes, as labels
    ("kube_deployment", "Deployment"), ("kube_stateful_set", "StatefulSet"), ("kube_daemon_set", "DaemonSet"),
    ("kube_cronjob", "CronJob"), ("kube_job", "Job"), ("k8s_deployment_name", "Deployment"),
    ("k8s_statefulset_name", "StatefulSet"), ("k8s_daemonset_name", "DaemonSet"), ("k8s_cronjob_name", "CronJob"),
    ("k8s_job_name", "Job"), ("workload", None), ("app_kubernetes_io_name", None), ("app", None), ("service", None),
    ("kube_service", None))
_WORKLOAD_TYPE = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet",
                  "cronjob": "CronJob", "job": "Job", "replicaset": "ReplicaSet"}
_NODE_LABELS = ("node", "kubernetes_node", "nodename", "k8s_node_name", "exported_node", "kube_node")
_IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
# <deployment>-<pod-template-hash>-<5>: only used when the Kubernetes API cannot answer.
_DEPLOY_POD = re.compile(r"^(?P<w>[a-z0-9][a-z0-9-]*?)-(?=[a-z0-9]*\d)[a-z0-9]{6,10}-[a-z0-9]{5}$")


@dataclass(frozen=True)
class Hint:
    """A name the trigger gives, before the cluster confirms what it is."""
    name: str
    kind: str | None = None  # workload kind, "Pod", or None (a pod or a workload)


@dataclass
class TriggerScope:
    namespace: str | None = None
    workloads: frozenset[tuple[str, str]] = frozenset()   # (kind, name)
    pods: frozenset[str] = frozenset()
    nodes: frozenset[str] = frozenset()
    basis: str = ""                                       # how it was computed, for the thread and audit
    # Workloads the text names in several namespaces (namespace, kind, name): where to look, never
    # what to act on (an engine's investigation may start there; refusal() ignores them).
    mentioned: frozenset[tuple[str, str, str]] = frozenset()
    namespace_allowlist: tuple[str, ...] = ()
    risk_overrides: dict[str, str] = field(default_factory=dict)

    def refusal(self, action_type: str, target: str, namespace: str | None) -> str | None:
        """None when the action is inside this incident, else why not (starting with OUTSIDE when
        the reason is the scope itself)."""
        spec = CATALOG.get(action_type)
        if spec is None:
            return f"{action_type or '(none)'} is not a catalog action"
        if not NAME_RE.match(target or ""):
            return f"target {target!r} is not a valid object name"
        if spec.kind == "node":
            if target not in self.nodes:
                hosts = ", ".join(sorted(self.nodes)) or "none known"
                return f"{OUTSIDE}: node {target} hosts none of the subject's pods (nodes in scope: {hosts})"
            return None
        if not namespace:
            return "namespaced action without a namespace"
        if self.namespace_allowlist and namespace not in self.namespace_allowlist:
            return f"namespace {namespace} is not in the allowlist"
        if namespace != self.namespace:
            return f"{OUTSIDE}: namespace {namespace} is not the incident's ({self.namespace or 'none'})"
        ok = (target in self.pods) if spec.kind == "pod" else (("Deployment", target) in self.workloads)
        if not ok:
            return f"{OUTSIDE}: {spec.kind} {namespace}/{target} is not the alert's subject ({self.describe()})"
        return None

    def describe(self) -> str:
        parts = [f"{k} {self.namespace}/{n}" for k, n in sorted(self.workloads)]
        if self.pods:
            parts.append(f"{len(self.pods)} pod(s)")
        if self.nodes:
            parts.append("node(s) " + ", ".join(sorted(self.nodes)))
        return "; ".join(parts) or "no Kubernetes object resolved"

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "workloads": [list(w) for w in sorted(self.workloads)],
                "pods": sorted(self.pods), "nodes": sorted(self.nodes), "basis": self.basis}

    @classmethod
    def from_dict(cls, d: dict[str, Any], allowlist: tuple[str, ...] = (),
                  risk_overrides: dict[str, str] | None = None) -> "TriggerScope":
        return cls(namespace=d.get("namespace"), workloads=frozenset(tuple(w) for w in d.get("workloads") or []),
                   pods=frozenset(d.get("pods") or []), nodes=frozenset(d.get("nodes") or []),
                   basis=str(d.get("basis") or ""), namespace_allowlist=tuple(allowlist),
                   risk_overrides=dict(risk_overrides or {}))


def trigger_hints(trigger: Trigger) -> tuple[str | None, list[Hint], set[str], list[str]]:
    """(namespace, workload/pod hints, node names, other words) that the trigger itself gives:
    an alert's labels first; else `namespace/name` in its own text; else words to look up."""
    hints: list[Hint] = []
    nodes: set[str] = set()
    namespace = trigger.namespace
    alert = trigger.alert
    if alert is not None:
        labels = alert.labels
        if alert.pod:
            hints.append(Hint(alert.pod, "Pod"))
        wtype = _WORKLOAD_TYPE.get((labels.get("workload_type") or "").lower())
        for key, kind in _WORKLOAD_LABELS:
            value = labels.get(key)
            if value and NAME_RE.match(value) and not _is_exporter(value):
                hints.append(Hint(value, wtype if key == "workload" else kind))
        nodes.update(v for k in _NODE_LABELS if (v := labels.get(k)) and NAME_RE.match(v))
    elif trigger.service and NAME_RE.match(trigger.service):
        hints.append(Hint(trigger.service))  # /diagnose ns/name: a pod or a workload of that name
    if trigger.pod and not any(h.name == trigger.pod for h in hints):
        hints.append(Hint(trigger.pod, "Pod"))
    words: list[str] = []
    if not hints:  # no structured subject: what the trigger's own text names
        text = " ".join([trigger.text, *(alert.annotations.values() if alert else ())])[:8000]
        pairs = [(a, b) for a, b in _NS_NAME.findall(_URL.sub(" ", text)) if not a.isdigit()]
        namespace = namespace or next((a for a, _ in pairs), None)
        hints += [Hint(b) for a, b in pairs if a == namespace and NAME_RE.match(b)]
        words = [w for w in offline_scope.scope_from_trigger(trigger).words if NAME_RE.match(w)]
    return namespace, list(dict.fromkeys(hints)), nodes, words


async def _lookup(registry: ToolRegistry, words: list[str], namespace: str | None,
                  notes: list[str], mentioned: set[tuple[str, str, str]] | None = None) -> tuple[str | None, list[Hint]]:
    """Workloads named by the trigger's words, if they sit in one namespace (or the given one); the
    matches across several namespaces go to `mentioned`."""
    if not words or registry.get("k8s_find") is None:
        return namespace, []
    result = await registry.run("k8s_find", {"names": words[:50]})
    matches = result.data.get("matches", []) if result.status == "ok" and isinstance(result.data, dict) else []
    if result.status == "error":
        notes.append(f"workload lookup: {result.error}")
    if namespace:
        matches = [m for m in matches if m["namespace"] == namespace]
    spaces = {m["namespace"] for m in matches}
    if len(spaces) > 1 and len(spaces & set(words)) == 1:  # "... in personalization": the text says which
        spaces &= set(words)
        matches = [m for m in matches if m["namespace"] in spaces]
    if len(spaces) > 1:
        notes.append("the names match workloads in several namespaces (" + ", ".join(sorted(spaces))
                     + "); name it as namespace/name")
        if mentioned is not None:
            mentioned.update((m["namespace"], m["kind"], m["name"]) for m in matches)
        return namespace, []
    return (namespace or next(iter(spaces), None)), [Hint(m["name"], m["kind"]) for m in matches]


async def _nodes_named(registry: ToolRegistry, trigger: Trigger, words: list[str], notes: list[str]) -> set[str]:
    """The node a node-level alert is about when no label names it: node-exporter's `instance`
    (IP:port) matched against the nodes' addresses, or a word of the text that is a node's name."""
    instance = (trigger.alert.labels.get("instance") or "") if trigger.alert else ""
    ip = instance.rsplit(":", 1)[0] if ":" in instance else instance
    if not (_IP.match(ip) or words) or registry.get("k8s_nodes") is None:
        return set()
    result = await registry.run("k8s_nodes", {})
    if result.status != "ok" or not isinstance(result.data, dict):
        if result.status == "error":
            notes.append(f"node lookup: {result.error}")
        return set()
    found = set()
    for n in result.data.get("nodes") or []:
        if _IP.match(ip) and ip in (n.get("addresses") or {}).values():
            found.add(n["name"])
        elif n.get("name") in words:
            found.add(n["name"])
    return found


def _is_exporter(value: str) -> bool:
    return bool(re.search(r"kube-state-metrics|node-exporter|kubelet|cadvisor|blackbox|prometheus", value))


async def resolve_scope(trigger: Trigger, registry: ToolRegistry, allowlist: Iterable[str] = (),
                        risk_overrides: dict[str, str] | None = None) -> TriggerScope:
    """Ask the cluster (k8s_subject) about the trigger's own names; nothing else is consulted."""
    allowlist = tuple(allowlist)
    namespace, hints, label_nodes, words = trigger_hints(trigger)
    workloads: set[tuple[str, str]] = set()
    pods: set[str] = set()
    nodes: set[str] = set()
    notes: list[str] = []
    mentioned: set[tuple[str, str, str]] = set()
    if not hints:
        namespace, hints = await _lookup(registry, words, namespace, notes, mentioned)
    elif not namespace:  # names without a namespace (a Datadog service tag): where does the cluster hold them?
        namespace, hints = await _lookup(registry, [h.name for h in hints], None, notes)
    resolver = registry.get("k8s_subject")
    for hint in hints if namespace else []:
        args: dict[str, Any] = {"namespace": namespace}
        if hint.kind in (None, "Pod"):
            args["pod"] = hint.name
        if hint.kind != "Pod":
            args["workload"] = hint.name
            if hint.kind:
                args["kind"] = hint.kind
        result = await registry.run("k8s_subject", args) if resolver is not None else None
        if hint.kind not in (None, "Pod") and result is not None and result.status == "no_data":
            # A workload label holding a pod's name (Robusta findings set subject_type "deployment"
            # on pods): the cluster has no such workload, so ask for the pod of that name.
            result = await registry.run("k8s_subject", {"namespace": namespace, "pod": hint.name})
        if result is not None and result.status == "ok" and isinstance(result.data, dict):
            pods.update(p["name"] for p in result.data.get("pods") or [] if p.get("name"))
            nodes.update(p["node"] for p in result.data.get("pods") or [] if p.get("node"))
            workloads.update((w["kind"], w["name"]) for w in result.data.get("workloads") or [])
        elif result is None or result.status == "error":
            # The API cannot confirm anything: keep exactly what the trigger names (and a pod's
            # Deployment by the controller's naming rule), never more.
            notes.append(f"Kubernetes could not confirm {hint.name}: {result.error if result else 'no source'}")
            if hint.kind in (None, "Pod"):
                pods.add(hint.name)
                m = _DEPLOY_POD.match(hint.name)
                if m:
                    workloads.add(("Deployment", m.group("w")))
            if hint.kind in (None, "Deployment"):
                workloads.add(("Deployment", hint.name))
    if not hints:
        nodes |= label_nodes  # the alert is about a node itself (KubeNodeNotReady, NodeFilesystem...)
        if not label_nodes:
            nodes |= await _nodes_named(registry, trigger, words, notes)
    basis = "alert labels" if trigger.alert is not None else "the /diagnose target"
    if notes:
        basis += "; " + "; ".join(notes)[:500]
    return TriggerScope(namespace=namespace, workloads=frozenset(workloads), pods=frozenset(pods),
                        nodes=frozenset(nodes), basis=basis, mentioned=frozenset(mentioned),
                        namespace_allowlist=allowlist,
                        risk_overrides=dict(risk_overrides or {}))
