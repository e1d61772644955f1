"""Facts extracted from tool results: pods, rollouts, events, nodes, jobs, metric rows, log signals.

Only the shapes the tools document are read; anything missing simply yields fewer facts. The same
fact can come from Kubernetes or from kube-state-metrics, so bundles without k8s/ still work.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.offline.facts import Container, Event, Job, LogHit, Node, Pod, Policy, Ref, Row, Workload
from agents.offline.features_k8s import HANDLERS as K8S_HANDLERS, resolve_job_owners
from agents.offline.logsig import classify
from agents.offline.scope import job_workload, pod_hash, workload_of_owner, workload_of_pod
from tools.base import ToolResult
from tools.k8s.compact import parse_time  # noqa: F401  (re-exported for the rules)
from tools.textclip import clip_middle


@dataclass
class Obs:
    """One tool call of the session: what was asked and what came back."""
    name: str
    args: dict[str, Any]
    result: ToolResult
    key: str = ""      # what the engine asked it for, when the tool name alone does not say

    @property
    def ok(self) -> bool:
        return self.result.status == "ok" and self.result.data is not None

    @property
    def ref(self) -> Ref:
        return Ref(self.name, self.result.query or f"{self.name}({self.args})")




@dataclass
class Facts:
    now: datetime
    pods: dict[str, Pod] = field(default_factory=dict)
    workloads: dict[str, Workload] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))
    logs: list[LogHit] = field(default_factory=list)
    pod_logs: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)   # pod -> (line, previous)
    pod_log_refs: dict[str, Ref] = field(default_factory=dict)
    pod_samples: dict[str, list[str]] = field(default_factory=dict)           # pod -> its templates' examples
    log_errors_by_pod: dict[str, int] = field(default_factory=dict)
    log_lines_by_pod: dict[str, int] = field(default_factory=dict)
    first_error: dict[str, datetime] = field(default_factory=dict)            # namespace -> first error bucket
    log_agg_ref: dict[str, Ref] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    knowledge: list[dict] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)                      # source -> first error
    sources_ok: set[str] = field(default_factory=set)
    job_owner: dict[str, str] = field(default_factory=dict)                   # Job -> its CronJob (or itself)
    policies: list[Policy] = field(default_factory=list)
    dns_server_pods: set[str] = field(default_factory=set)                    # pods serving cluster DNS
    services: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (namespace, Service) -> its pods

    def service_workloads(self, name: str, namespace: str | None = None) -> set[str]:
        """Workloads behind a Service of that name (in that namespace when known)."""
        return {self.workload_of(p) for (ns, svc), pods in self.services.items()
                if svc == name and namespace in (None, ns) for p in pods}
    alert_rows: list[Row] = field(default_factory=list)                       # what the alert's own text measures

    # -- derived views -------------------------------------------------------------------
    def workload_names(self) -> set[str]:
        names = set(self.workloads) | {p.workload for p in self.pods.values()} | {j.workload for j in self.jobs}
        for rows in self.rows.values():
            for r in rows:
                if r.labels.get("pod"):
                    names.add(workload_of_pod(r.labels["pod"])[0])
                if r.labels.get("deployment"):
                    names.add(r.labels["deployment"])
        for hit in self.logs:
            names.update(self.workload_of(p) for p in hit.pods)
        names.update(self.workload_of(p) for p in self.log_errors_by_pod)
        return {n for n in names if n}

    def pods_of(self, workload: str) -> list[Pod]:
        return [p for p in self.pods.values() if p.workload == workload]

    def rows_for(self, name: str, workload: str | None = None) -> list[Row]:
        rows = self.rows.get(name, [])
        if workload is None:
            return rows
        return [r for r in rows if row_workload(r) == workload]

    def events_for(self, workload: str | None = None, node: str | None = None) -> list[Event]:
        out = []
        for e in self.events:
            if node is not None and e.kind == "Node" and e.name == node:
                out.append(e)
            elif workload is not None and self.event_workload(e) == workload:
                out.append(e)
        return out

    def workload_of(self, pod: str) -> str:
        p = self.pods.get(pod)
        return p.workload if p else workload_of_pod(pod)[0]

    def event_workload(self, e: Event) -> str:
        """The workload an event is about: by the objects the API returned, else by controller naming."""
        if e.kind == "Pod":
            return self.workload_of(e.name)
        if e.kind == "ReplicaSet":
            owner = next((p.workload for p in self.pods.values() if p.owner_rs == e.name), None)
            return owner or workload_of_owner(f"ReplicaSet/{e.name}", e.name)[0]
        if e.kind == "Job":
            return self.job_owner.get(e.name) or job_workload(e.name)
        return e.name


def row_workload(r: Row) -> str | None:
    if r.labels.get("deployment"):
        return r.labels["deployment"]
    if r.labels.get("pod"):
        return workload_of_pod(r.labels["pod"])[0]
    return r.labels.get("service")


# ------------------------------------------------------------------------------- extraction

def extract(observations: list[Obs], now: datetime) -> Facts:
    f = Facts(now=now)
    for o in observations:
        src = o.result.source or ""
        if o.result.status == "error":
            f.failed.setdefault(src or o.name, o.result.error or o.result.summary)
            continue
        if src:
            f.sources_ok.add(src)
        if not o.ok:
            continue
        handler = _HANDLERS.get(o.name)
        if handler is not None:
            handler(f, o)
    resolve_job_owners(f)
    _pods_from_metrics(f)
    return f


def _rows(f: Facts, o: Obs) -> None:
    data = o.result.data
    name = data.get("name") or o.args.get("name", "")
    common = data.get("common_labels") or {}
    for r in data.get("rows") or []:
        if not isinstance(r, dict):
            continue
        labels = {**common, **(r.get("labels") or {})}
        if labels.get("namespace"):
            f.namespaces.add(labels["namespace"])
        f.rows[name].append(Row(name=name, labels=labels, value=_num(r.get("value")), peak=_num(r.get("peak")),
                                state=r.get("state", "normal"), since=parse_time(r.get("abnormal_since")),
                                text=r.get("text", ""), extra={k: r[k] for k in ("available", "desired") if k in r},
                                ref=o.ref))


def _anomaly(f: Facts, o: Obs) -> None:
    key = o.key or "anomaly"
    for s in o.result.data.get("series") or []:
        if not isinstance(s, dict):
            continue
        base = _num(s.get("baseline_median")) or _num(s.get("baseline_mean"))
        win = _num(s.get("window_mean"))
        ratio = (win / base) if base and win is not None and base > 0 else None
        f.rows[key].append(Row(name=key, labels=dict(s.get("labels") or {}), value=win, peak=_num(s.get("window_max")),
                               state="abnormal" if s.get("anomalous") else "normal", since=parse_time(s.get("change_at")),
                               extra={"baseline": base, "ratio": ratio, "direction": s.get("direction"),
                                      "z": _num(s.get("z"))}, ref=o.ref))


def _query(f: Facts, o: Obs) -> None:
    key = o.key or "query"
    common = o.result.data.get("common_labels") or {}
    for r in o.result.data.get("result") or []:
        f.rows[key].append(Row(name=key, labels={**common, **(r.get("labels") or {})}, value=_num(r.get("value")),
                               ref=o.ref))


def _prom_labels(f: Facts, o: Obs) -> None:
    if o.args.get("label") == "namespace":
        f.rows["namespaces"].extend(Row(name="namespaces", labels={"namespace": v}, value=None, ref=o.ref)
                                    for v in o.result.data.get("values") or [])


def _search_logs(f: Facts, o: Obs) -> None:
    data = o.result.data
    pods = list((data.get("pods") or {}).keys())
    scoped = o.args.get("pod")
    if scoped and scoped not in pods:
        pods = [scoped]
    for t in data.get("templates") or []:
        _add_hit(f, o, t, pods, scoped)
    if scoped and o.key == "pod":
        # The log of a crashed pod read through OpenSearch stands in for `kubectl logs --previous`.
        lines = [(str(e), True) for t in data.get("templates") or [] for e in _examples(t)[:2]]
        f.pod_logs.setdefault(scoped, []).extend(lines)
        f.pod_log_refs.setdefault(scoped, o.ref)
    elif scoped:
        # What one pod writes, every template's example: request and query durations live there.
        f.pod_samples.setdefault(scoped, []).extend(e for t in data.get("templates") or [] for e in _examples(t)[:1])
        f.pod_log_refs.setdefault(scoped, o.ref)


def _examples(t: dict) -> list[str]:
    """A template's verbatim lines (the model form keeps one, `example`; the full form `examples`):
    the variables (a mistyped command, a missing variable's name) live there, not in the template."""
    ex = t.get("examples") or ([t["example"]] if t.get("example") else [])
    return [str(e) for e in ex] or [str(t.get("template", ""))]


def _add_hit(f: Facts, o: Obs, t: dict, pods: list[str], scoped: str | None, previous: bool = False) -> None:
    examples = _examples(t)
    text = " ".join([str(t.get("template", ""))] + [str(e) for e in examples[:2]])
    cls = classify(text)
    if cls is None:
        return
    # Clipped in the middle: a long line's decisive part is often its tail (the error after the request).
    f.logs.append(LogHit(cls=cls, template=clip_middle(str(t.get("template", "")), 300), count=int(t.get("count") or 1),
                         first=parse_time(t.get("first_seen")), last=parse_time(t.get("last_seen")),
                         example=clip_middle(str(examples[0] if examples else t.get("template", "")), 400), pods=pods,
                         namespace=o.args.get("namespace"), scoped_pod=scoped, previous=previous, key=o.key,
                         ref=o.ref))


def _log_aggregations(f: Facts, o: Obs) -> None:
    data = o.result.data
    ns = o.args.get("namespace") or "*"
    for p in data.get("by_pod") or []:
        if isinstance(p, dict) and p.get("pod"):
            f.log_errors_by_pod[p["pod"]] = max(f.log_errors_by_pod.get(p["pod"], 0), int(p.get("errors") or 0))
            f.log_lines_by_pod[p["pod"]] = max(f.log_lines_by_pod.get(p["pod"], 0), int(p.get("count") or 0))
    first = parse_time((data.get("errors") or {}).get("first_error_at"))
    if first:
        f.first_error[ns] = first
    f.log_agg_ref[ns] = o.ref
    for t in data.get("top_messages") or []:
        _add_hit(f, o, t, [], None)


def _pod_logs(f: Facts, o: Obs) -> None:
    pod = o.args.get("pod", "")
    lines: list[tuple[str, bool]] = []
    # A container that has ended (a Job's failed attempt) has no previous instance: its current log
    # is the crashed run's.
    p, cname = f.pods.get(pod), o.args.get("container")
    ended = p is not None and any(c.state == "terminated" and cname in (None, c.name) for c in p.containers)
    for s in o.result.data.get("sections") or []:
        prev = bool(s.get("previous")) or ended
        texts = list(s.get("lines") or [])
        for t in s.get("templates") or []:
            texts.append(str(t.get("example") or t.get("template", "")))
        texts += list((s.get("most_severe") or {}).get("tail") or []) + list(s.get("last_lines") or [])
        lines += [(str(t), prev) for t in texts]
    f.pod_logs.setdefault(pod, []).extend(lines)   # one call per container: a pod's logs add up
    f.pod_log_refs.setdefault(pod, o.ref)
    by_cls: dict[tuple[str, bool], list[str]] = defaultdict(list)
    for text, prev in dict.fromkeys(lines):
        cls = classify(text)
        if cls:
            by_cls[(cls, prev)].append(text)
    for (cls, prev), texts in by_cls.items():
        f.logs.append(LogHit(cls=cls, template=clip_middle(texts[0], 300), count=len(texts), first=None, last=None,
                             example=clip_middle(texts[-1], 400), pods=[pod], namespace=o.args.get("namespace"),
                             scoped_pod=pod, previous=prev, key="pod_logs", ref=o.ref))


def _knowledge(f: Facts, o: Obs) -> None:
    if isinstance(o.result.data, list):
        f.knowledge.extend(h for h in o.result.data if isinstance(h, dict))


_HANDLERS = {
    **K8S_HANDLERS, "prom_named": _rows, "prom_anomaly": _anomaly,
    "prom_query": _query, "prom_labels": _prom_labels, "search_logs": _search_logs,
    "log_aggregations": _log_aggregations, "k8s_pod_logs": _pod_logs, "search_knowledge": _knowledge,
}


def _pods_from_metrics(f: Facts) -> None:
    """kube-state-metrics stands in for the pod API when Kubernetes is not available."""
    if any(p.ref and p.ref.tool == "k8s_pods" for p in f.pods.values()):
        return
    for name in ("last_termination_reason", "waiting_reason", "container_restarts"):
        for r in f.rows.get(name, []):
            pod, ns = r.labels.get("pod"), r.labels.get("namespace", "")
            if not pod:
                continue
            if pod not in f.pods:
                wl, kind = workload_of_pod(pod)
                f.pods[pod] = Pod(name=pod, namespace=ns, workload=wl, kind=kind, owner_rs=pod_hash(pod), ref=r.ref)
            p = f.pods[pod]
            cname = r.labels.get("container", "?")
            c = next((c for c in p.containers if c.name == cname), None)
            if c is None:
                c = Container(name=cname)
                p.containers.append(c)
            if name == "last_termination_reason":
                c.last_reason = r.labels.get("reason")
            elif name == "waiting_reason" and r.state == "abnormal":
                c.state, c.reason, c.ready, p.ready = "waiting", r.labels.get("reason"), False, False
            elif name == "container_restarts" and r.value:
                c.restarts = int(r.value)
                p.restarts = max(p.restarts, int(r.value))


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
