"""node_pressure: a node under memory, disk or PID pressure, or NotReady, evicting or starving pods.

Said with the numbers an SRE checks first: the conditions and since when (with the kubelet's own
message, e.g. "Kubelet stopped posting node status."), the taints the node lifecycle set, the pods
bound to it against its allocatable pods, their memory limits and requests against allocatable
memory, and the pods it evicted. A sick node counts for a workload's alert only when it hosts the
workload's pods (or the alert is about the node).
"""
from __future__ import annotations

from agents.offline.rulekit import best
from agents.offline.signals import W_UNLINKED, Ctx, Hypothesis
from tools.textclip import clip_middle

OVERCOMMIT = 1.0   # memory limits above allocatable: the node can be driven into pressure by its own pods


def node_pressure(ctx: Ctx) -> Hypothesis | None:
    out = []
    cond_rows = [r for r in ctx.f.rows.get("node_conditions", []) if r.state == "abnormal"]
    names = sorted(set(ctx.f.nodes) | {r.labels.get("node", "") for r in cond_rows} - {""})
    for node in names:
        h = Hypothesis("node_pressure")
        n = ctx.f.nodes.get(node)
        bad = (n.pressure + ([f"Ready={n.ready}"] if n.ready != "True" else [])) if n else []
        if n and bad:
            msg = n.messages.get("Ready") if n.ready != "True" else None
            taints = [t for t in n.taints if t.startswith("node.kubernetes.io/")]
            h.add(0.45, n.ref, f"node {node}: {', '.join(bad)}" + (f" since {n.since:%H:%M:%S}Z" if n.since else "")
                  + (f" (\"{msg}\")" if msg else "") + (f"; taints {', '.join(taints)}" if taints else ""), n.since)
        rows = [r for r in cond_rows if r.labels.get("node") == node]
        if rows and not bad:
            h.add(0.45, rows[0].ref, f"node {node}: " + ", ".join(f"{r.labels.get('condition')}={r.labels.get('status')}"
                                                                  for r in rows), rows[0].since)
        full = _pods_full(n)
        if full:   # no pressure condition, but the kubelet admits no more pods (KubeletTooManyPods)
            h.add(0.45, n.ref, full)
        if not h.score:
            continue
        _evictions(h, ctx, node, n)
        evs = [e for e in ctx.f.events if e.kind == "Node" and e.name == node and e.reason != "NodeNotSchedulable"]
        if evs:
            e = max(evs, key=lambda e: (e.type == "Warning", e.count))
            h.add(0.1, e.ref, f"{e.reason} x{e.count} on node {node}: {clip_middle(e.message, 200)}", e.first)
        if n and n.load and not full:
            _load(h, n)
        mem = next((r for r in ctx.f.rows.get("node_memory", []) if r.labels.get("node") == node), None)
        if mem is not None and "MemoryPressure" in bad:
            h.add(0.05, mem.ref, f"{mem.text} on node {node}")
        h.params["node"] = node
        h.component = node
        h.score = min(1.0, h.score) * _weight(ctx, node)
        if h.score < 1.0 and ctx.focus and node not in ctx.scope.nodes:
            h.against.append(f"node {node} hosts none of the alert subject's pods")
        out.append(h)
    return best(out)


def _evictions(h: Hypothesis, ctx: Ctx, node: str, n) -> None:
    evicted = [p for p in ctx.f.pods.values() if p.node == node and p.reason == "Evicted"]
    if evicted:
        wls = sorted({p.workload for p in evicted})
        h.add(0.25 + min(0.1, 0.05 * (len(evicted) - 1)), evicted[0].ref,
              f"{len(evicted)} pod(s) evicted from {node} ({', '.join(wls)}): "
              f"\"{clip_middle(evicted[0].message or '', 200)}\"")
        return
    listed = (n.load.get("evicted") or []) if n else []
    ev = [e for e in ctx.f.events if e.reason == "Evicted" and "node was low on resource" in e.message.lower()]
    if listed:
        h.add(0.25 + min(0.1, 0.05 * (len(listed) - 1)), n.ref, f"{len(listed)} pod(s) evicted from {node}: "
                                                                 f"{', '.join(listed[:4])}")
    elif ev:
        h.add(0.2, ev[0].ref, f"Evicted: \"{clip_middle(ev[0].message, 200)}\"", ev[0].first)


def _pods_full(n) -> str | None:
    """The node's bound pods at (95% of) its allocatable pod count, said with the numbers."""
    load = n.load if n else {}
    pods, alloc = load.get("pods"), load.get("pods_allocatable")
    try:
        pods, alloc = int(pods), int(alloc)
    except (TypeError, ValueError):
        return None
    if alloc <= 0 or pods < 0.95 * alloc:
        return None
    return (f"node {n.name} runs {pods} pods of its {alloc} allocatable pods ({pods / alloc:.0%}): it is running "
            "too many pods for its capacity, so new pods cannot be scheduled on it")


def _load(h: Hypothesis, n) -> None:
    load = n.load
    text = f"{load.get('pods')} pod(s) bound to {n.name} of {load.get('pods_allocatable') or '?'} allocatable"
    ratio = load.get("memory_limits_ratio")
    if ratio is not None:
        text += (f"; their memory limits add up to {load.get('memory_limits')} ({ratio:.0%} of allocatable), "
                 f"requests {load.get('memory_requests', '?')} ({load.get('memory_requests_ratio', 0):.0%})")
    h.add(0.05 if ratio is None or ratio <= OVERCOMMIT else 0.1, n.ref, text)


def _weight(ctx: Ctx, node: str) -> float:
    """The node is the subject, or hosts the subject's pods; any other sick node is a neighbour."""
    if ctx.scope.nodes:
        return 1.0 if node in ctx.scope.nodes else W_UNLINKED + 0.2
    hosts = {p.node for p in ctx.f.pods.values() if p.workload in ctx.focus and p.node} | set(ctx.scope.host_nodes)
    if not ctx.focus or not hosts or node in hosts:
        return 1.0
    return W_UNLINKED + 0.2
