"""Shared reading of the facts for the rules: focus weighting, log attribution, trouble start."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agents.diagnosis import Evidence
from agents.offline.facts import LogHit, Pod, Ref, Row
from agents.offline.features import Facts, row_workload
from agents.offline.scope import Scope, workload_of_pod
from agents.offline.subject import links

# Weight of evidence by how close it is to what the alert is about: the subject, a neighbour that
# structured data links to it (agents/offline/subject.py), any other workload.
W_FOCUS, W_NO_FOCUS, W_LINKED, W_UNLINKED = 1.0, 0.85, 0.6, 0.3
PULL_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


def iso(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


@dataclass
class Hypothesis:
    category: str
    score: float = 0.0
    component: str | None = None
    namespace: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    against: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    points: dict[int, float] = field(default_factory=dict)   # id(evidence) -> what it added to the score

    def add(self, points: float, ref: Ref | None, finding: str, time: datetime | None = None) -> None:
        self.score += points
        if ref is not None and finding:
            e = Evidence(tool=ref.tool, query=ref.query, finding=finding, time=iso(time), supports=self.category)
            self.evidence.append(e)
            self.points[id(e)] = points

    def strongest(self) -> list[Evidence]:
        """Evidence by what it weighed, the rule's own order among equals."""
        order = {id(e): i for i, e in enumerate(self.evidence)}
        return sorted(self.evidence, key=lambda e: (-self.points.get(id(e), 0.0), order[id(e)]))

    def counter(self, factor: float, why: str) -> None:
        self.score *= factor
        self.against.append(why)


class Ctx:
    """Facts + scope with the questions every rule asks."""

    def __init__(self, facts: Facts, scope: Scope):
        self.f = facts
        self.scope = scope
        self.focus = set(scope.focus)
        self.linked = links(facts, self.focus)   # neighbour -> why it is linked to the subject

    # -- weighting ------------------------------------------------------------------------
    def weight(self, workload: str | None) -> float:
        if not self.focus:
            return W_NO_FOCUS
        if workload in self.focus:
            return W_FOCUS
        return W_LINKED if workload in self.linked else W_UNLINKED

    def neighbour_note(self, workload: str | None) -> str | None:
        """Why a hypothesis about another workload than the subject was weighed down (or not)."""
        if not self.focus or workload in self.focus or workload is None:
            return None
        if workload in self.linked:
            return f"{workload} is linked to the alert's subject: {self.linked[workload]}"
        return (f"{workload} is not the alert's subject ({', '.join(sorted(self.focus))}) and nothing links it "
                "to it (no shared ConfigMap, Secret or PVC, not named by its logs)")

    def namespace_of(self, workload: str | None) -> str | None:
        for p in self.f.pods.values():
            if p.workload == workload:
                return p.namespace
        w = self.f.workloads.get(workload or "")
        if w:
            return w.namespace
        return self.scope.namespace if workload in self.focus else None

    # -- workloads -------------------------------------------------------------------------
    def workloads(self) -> list[str]:
        return sorted(self.f.workload_names() | self.focus)

    def pods(self, workload: str) -> list[Pod]:
        return sorted(self.f.pods_of(workload), key=lambda p: p.name)

    def service_rows(self, name: str, workload: str) -> list[Row]:
        """Rows of a per-service or per-pod query that belong to a workload."""
        return [r for r in self.f.rows.get(name, []) if row_workload(r) == workload
                or (r.labels.get("service") and _same(r.labels["service"], workload))]

    # -- logs ------------------------------------------------------------------------------
    def hits(self, cls: str | tuple[str, ...], workload: str | None = None) -> list[LogHit]:
        """Log hits of a class, attributed to a workload when they can be (see attribution())."""
        classes = (cls,) if isinstance(cls, str) else cls
        out = []
        for h in self.f.logs:
            if h.cls not in classes:
                continue
            if workload is None or workload in self.attribution(h):
                out.append(h)
        # Exact attributions (pod-scoped reads, per-class follow-ups) before mixed results.
        return sorted(out, key=lambda h: (not h.scoped_pod, not h.key.startswith("class:")))

    def attribution(self, h: LogHit) -> set[str]:
        """Workloads a hit belongs to. A pod-scoped query is exact; a result that mixed pods of several
        workloads is trusted only when no per-class follow-up said more precisely who logs it."""
        if h.scoped_pod:
            return {workload_of_pod(h.scoped_pod)[0]} | ({p.workload for p in self.f.pods.values()
                                                          if p.name == h.scoped_pod})
        wls = {self.workload_of(p) for p in h.pods}
        if len(wls) <= 1 or h.key == f"class:{h.cls}":
            return wls
        follow = [x for x in self.f.logs if x.key == f"class:{h.cls}"]
        if follow:
            return set()
        return wls

    def workload_of(self, pod: str) -> str:
        p = self.f.pods.get(pod)
        return p.workload if p else workload_of_pod(pod)[0]

    def log_ref(self, workload: str) -> Ref | None:
        """Where the workload's own log lines were read (kubectl logs, or a pod-scoped search)."""
        ref = next((self.f.pod_log_refs[p] for p in sorted(self.f.pod_log_refs) if self.workload_of(p) == workload),
                   None)
        return ref or next((h.ref for h in self.f.logs if h.scoped_pod and self.workload_of(h.scoped_pod) == workload),
                           None)

    def lines_of(self, workload: str) -> list[str]:
        """Everything read of the workload's own logs: kubectl logs and pod-scoped searches."""
        out = [t for t, _ in self.crash_lines(workload)]
        for pod, lines in sorted(self.f.pod_samples.items()):
            if self.workload_of(pod) == workload:
                out += lines
        return out

    def crash_lines(self, workload: str) -> list[tuple[str, bool]]:
        out = []
        for pod, lines in sorted(self.f.pod_logs.items()):
            if self.workload_of(pod) == workload:
                out += lines
        return out

    # -- time ------------------------------------------------------------------------------
    def trouble_start(self, workload: str | None = None) -> datetime | None:
        """Earliest sign of trouble for a workload (or overall): abnormal metric, first error, alert."""
        times: list[datetime] = []
        for name in ("error_ratio", "latency_p99", "memory_vs_limit", "cpu_throttling_ratio", "waiting_reason"):
            for r in self.f.rows.get(name, []):
                if r.state == "abnormal" and r.since and (workload is None or row_workload(r) == workload
                                                           or _same(r.labels.get("service", ""), workload)):
                    times.append(r.since)
        for h in self.f.logs:
            if h.first and h.cls not in ("timeout",) and (workload is None or workload in self.attribution(h)):
                times.append(h.first)
        for p in self.f.pods.values():
            if workload is not None and p.workload != workload:
                continue
            for c in p.containers:
                if c.last_finished and c.last_reason not in (None, "Completed"):
                    times.append(c.last_finished)
        if self.scope.start and (workload is None or workload in self.focus or not self.focus):
            times.append(self.scope.start)
        recent = [t for t in times if t >= self.f.now - timedelta(hours=3)]
        return min(recent) if recent else None


def _same(service: str, workload: str) -> bool:
    return service == workload

