"""The state an SRE names first: what the component is and how it is failing, from Kubernetes' own
words (CrashLoopBackOff, OOMKilled with exit 137, BackoffLimitExceeded, Pending with FailedScheduling,
Ready=Unknown, MemoryPressure) and counts."""
from __future__ import annotations

from collections import Counter

from agents.offline.signals import Ctx
from tools.k8s.quantity import mem_bytes, mem_human


def kind_of(ctx: Ctx, name: str | None) -> str:
    if not name:
        return ""
    if name in ctx.f.nodes or name in ctx.scope.nodes:
        return "node"
    if name in ctx.f.workloads:
        return ctx.f.workloads[name].kind
    kinds = Counter(p.kind for p in ctx.f.pods.values() if p.workload == name)
    if kinds:
        return kinds.most_common(1)[0][0]
    if any(j.workload == name for j in ctx.f.jobs):
        return "CronJob" if any(j.workload == name and j.name != name for j in ctx.f.jobs) else "Job"
    return ctx.scope.subject_kind if name in ctx.scope.focus and ctx.scope.subject_kind else ""


def subject_ref(ctx: Ctx, name: str | None, namespace: str | None) -> str:
    kind = kind_of(ctx, name)
    if kind == "node":
        return f"node {name}"
    where = f"{namespace}/{name}" if namespace else (name or "?")
    return f"{kind} {where}" if kind else where


def state_of(ctx: Ctx, name: str | None) -> str:
    """'2 of 3 pods in CrashLoopBackOff (last exit 1, Error; 6 restarts)' and the like; '' if nothing is known."""
    if not name:
        return ""
    node = ctx.f.nodes.get(name)
    if node is not None:
        return _node_state(ctx, node)
    parts: list[str] = []
    failed = [j for j in ctx.f.jobs if j.workload == name and j.status == "Failed"]
    if failed:
        j = failed[0]
        parts.append(f"Job {j.name} failed to complete successfully ({j.reason or 'Failed'}, {j.failed} failed pod(s))")
    pods = [p for p in ctx.f.pods.values() if p.workload == name]
    pending = [p for p in pods if p.phase == "Pending" and p.unschedulable]
    if pending:
        parts.append(f"{len(pending)} of {len(pods)} pod(s) Pending, FailedScheduling")
    waiting = Counter(r for p in pods for c in p.containers if c.state == "waiting" and c.reason
                      and c.reason not in ("ContainerCreating", "PodInitializing") for r in [c.reason])
    for reason, n in waiting.most_common(2):
        parts.append(f"{n} of {len(pods)} pod(s) in {reason}")
    ended = [c for p in pods for c in p.containers if c.termination != (None, None) and (c.restarts or c.state != "running")]
    if ended:
        (reason, code), _ = Counter(c.termination for c in ended).most_common(1)[0]
        restarts = max(c.restarts for c in ended)
        parts.append(f"last terminated {reason or 'unknown reason'}" + (f" (exit {code})" if code is not None else "")
                     + (f", up to {restarts} restarts" if restarts else ""))
    w = ctx.f.workloads.get(name)
    if w and w.desired is not None and w.available is not None and w.available < w.desired and not parts:
        parts.append(f"{w.available} of {w.desired} replicas available")
    evicted = [p for p in pods if p.reason == "Evicted"]
    if evicted:
        parts.append(f"{len(evicted)} pod(s) Evicted")
    return "; ".join(parts)


def _node_state(ctx: Ctx, n) -> str:
    parts = []
    if n.ready != "True":
        msg = n.messages.get("Ready")
        parts.append(f"Ready={n.ready}" + (f" ({msg})" if msg else ""))
    for cond in n.pressure:
        parts.append(f"{cond}=True")
    since = n.since.strftime("%H:%M:%SZ") if n.since else None
    if parts and since:
        parts[-1] += f" since {since}"
    taints = [t for t in n.taints if t.startswith("node.kubernetes.io/")]
    if taints:
        parts.append(f"tainted {', '.join(taints)}")
    load = n.load
    if load.get("pods") is not None:
        text = f"{load['pods']} pods bound of {load.get('pods_allocatable') or '?'} allocatable"
        if load.get("memory_limits_ratio") is not None:
            text += (f"; memory limits {load['memory_limits']} = {load['memory_limits_ratio']:.0%}, requests "
                     f"{load.get('memory_requests', '?')} = {load.get('memory_requests_ratio', 0):.0%} of allocatable "
                     f"{mem_human(mem_bytes(n.allocatable.get('memory')))}")
        parts.append(text)
        if load.get("evicted"):
            parts.append(f"{len(load['evicted'])} pod(s) evicted from it ({', '.join(load['evicted'][:3])})")
    return "; ".join(parts)
