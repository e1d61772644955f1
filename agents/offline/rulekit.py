"""Helpers shared by the rule modules: keeping the best workload, weighting, rollout and saturation reads."""
from __future__ import annotations

from datetime import timedelta

from agents.offline.signals import Ctx, Hypothesis

CONFIG_EXITS = {1, 2, 3, 64, 78, 126, 127, 255}
ROLLOUT_WINDOW = timedelta(minutes=45)
SLACK = timedelta(minutes=2)


def best(hyps: list[Hypothesis]) -> Hypothesis | None:
    hyps = [h for h in hyps if h.score > 0]
    return max(hyps, key=lambda h: (round(h.score, 6), h.component or "")) if hyps else None


def _finish(h: Hypothesis, ctx: Ctx, workload: str) -> Hypothesis:
    h.score = max(0.0, min(1.0, h.score)) * ctx.weight(workload)
    note = ctx.neighbour_note(workload)
    if note:
        h.against.append(note)
    h.component = workload
    h.namespace = h.namespace or ctx.namespace_of(workload)
    return h


def _mem_peak(ctx: Ctx, wl: str) -> tuple[float | None, object]:
    rows = ctx.service_rows("memory_vs_limit", wl)
    if not rows:
        return None, None
    r = max(rows, key=lambda r: r.peak or r.value or 0)
    return (r.peak or r.value), r


def rollout_of(ctx: Ctx, wl: str):
    """(newest, previous revision) when the newest is recent enough to be a suspect."""
    w = ctx.f.workloads.get(wl)
    if not w or not w.revisions or not w.revisions[0].created:
        return None, None
    new = w.revisions[0]
    if ctx.f.now - new.created > timedelta(hours=3):
        return None, None
    return new, (w.revisions[1] if len(w.revisions) > 1 else None)


def has_previous(ctx: Ctx, wl: str) -> bool:
    w = ctx.f.workloads.get(wl)
    return bool(w and len(w.revisions) > 1)


def _failing(p) -> bool:
    if not p.ready and p.phase in ("Running", "Pending") and not p.unschedulable:
        return True
    return any(c.restarts > 0 or (c.state == "waiting" and c.reason) for c in p.containers)


def _in_rev(p, rev) -> bool:
    return bool(rev) and (p.owner_rs == rev.rs or (p.owner_rs and rev.rs.endswith("-" + p.owner_rs)))


def _older_pod(ctx: Ctx, pod: str, new) -> bool:
    """A pod of another (older) revision: a different template hash than the new ReplicaSet's."""
    from agents.offline.scope import pod_hash
    hsh = pod_hash(pod)
    return hsh is not None and not new.rs.endswith("-" + hsh)


def ctx_iso(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "?"


def started_row(ctx: Ctx, wl: str):
    """The earliest abnormal_since among the workload's error/latency rows (None if abnormal all window)."""
    cands = []
    for name in ("error_ratio", "latency_p99"):
        for r in ctx.service_rows(name, wl):
            if r.state == "abnormal" and r.since:
                cands.append((r.since, r))
    if not cands:
        return None, None
    t, r = min(cands, key=lambda x: x[0])
    return r, t


def _rate_ratio(ctx: Ctx, wl: str):
    rows = [r for r in ctx.service_rows("request_rate", wl) if r.extra.get("ratio") is not None]
    if not rows:
        return None, None
    r = max(rows, key=lambda r: r.extra["ratio"])
    return r.extra["ratio"], r


def _latency_bad(ctx: Ctx, wl: str):
    return next((r for r in ctx.service_rows("latency_p99", wl) if r.state == "abnormal"), None)


