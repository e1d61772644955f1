"""Causes visible on the pods of one workload: OOM kills, image pulls, scheduling, config, probes."""
from __future__ import annotations

import re

from agents.offline.logsig import GRACEFUL_HINT, HEALTHY_HINT, classify
from agents.offline.signals import PULL_REASONS, Ctx, Hypothesis
from agents.offline.rulekit import _finish, _mem_peak, best
from tools.k8s.quantity import count
from tools.textclip import clip_middle

_NATIVE = {"cpu", "memory", "ephemeral-storage", "storage", "pods"}
_EXTENDED = re.compile(r"Insufficient ([a-z0-9-]+(?:\.[a-z0-9-]+)+/[a-z0-9_-]+(?:\.[a-z0-9_-]+)*)")

# ------------------------------------------------------------------------------ oom_killed
def oom_killed(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("oom_killed")
        pods = ctx.pods(wl)
        ooms = [(p, c) for p in pods for c in p.containers if c.termination[0] == "OOMKilled"]
        if ooms:
            p, c = ooms[0]
            h.add(0.6, p.ref, f"{len(ooms)} container(s) of {wl} last terminated OOMKilled (exit 137), "
                              f"e.g. {p.name}/{c.name} with {c.restarts} restarts", c.last_finished)
            if len(ooms) > 1 or c.restarts >= 2:
                h.score += 0.1
            h.params.update(container=c.name, memory_limit=c.limits.get("memory"))
        peak, row = _mem_peak(ctx, wl)
        if peak is not None and peak >= 0.9:
            h.add(0.2 if ooms else 0.1, row.ref, f"{row.labels.get('pod', wl)} working set peaked at "
                  f"{peak:.0%} of its memory limit", row.since)
            h.params.setdefault("container", row.labels.get("container"))
        killed_137 = [(p, c) for p in pods for c in p.containers
                      if c.termination == ("Error", 137) or (c.termination[1] == 137 and c.termination[0] != "OOMKilled")]
        if not ooms and killed_137 and peak is not None and peak >= 0.95:
            h.add(0.35, killed_137[0][0].ref, f"{killed_137[0][0].name} exited 137 with memory at the limit")
        logs = ctx.hits("oom", wl)
        if logs:
            h.add(0.1 if ooms else 0.3, logs[0].ref, f"{wl} logs out-of-memory errors: \"{clip_middle(logs[0].example, 200)}\"",
                  logs[0].first)
        if h.score and peak is not None and peak < 0.6 and not ooms:
            h.counter(0.3, f"memory of {wl} peaked at only {peak:.0%} of its limit")
        for r in ctx.f.rows.get("memory_limit", []):
            if ctx.workload_of(r.labels.get("pod", "")) == wl and r.value and not h.params.get("memory_limit"):
                h.params["memory_limit_bytes"] = r.value
                h.params.setdefault("container", r.labels.get("container"))
        if h.score > 0:
            out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ image_pull_error
def image_pull_error(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("image_pull_error")
        bad = [p for p in ctx.pods(wl) if p.waiting_reasons() & PULL_REASONS]
        if bad:
            reasons = sorted({r for p in bad for r in p.waiting_reasons() & PULL_REASONS})
            h.add(0.75, bad[0].ref, f"{len(bad)} pod(s) of {wl} waiting in {'/'.join(reasons)}, e.g. {bad[0].name}")
        evs = [e for e in ctx.f.events_for(workload=wl) if e.type == "Warning"
               and ("pull" in e.message.lower() or "ErrImagePull" in e.message or "ImagePullBackOff" in e.message)]
        if evs:
            detail = max(evs, key=lambda e: len(e.message))
            h.add(0.15 if bad else 0.6, detail.ref, f"{detail.reason} x{detail.count} on {detail.kind}/{detail.name}: "
                  f"\"{clip_middle(detail.message, 260)}\"", detail.first)
        if h.score > 0:
            out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ unschedulable
def unschedulable(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("unschedulable")
        pending = [p for p in ctx.pods(wl) if p.phase == "Pending" and p.unschedulable]
        evs = [e for e in ctx.f.events_for(workload=wl) if e.reason == "FailedScheduling"]
        if pending:
            h.add(0.7, pending[0].ref, f"{len(pending)} pod(s) of {wl} Pending, unschedulable: "
                                       f"\"{clip_middle(pending[0].unschedulable, 240)}\"")
        if evs:
            e = evs[0]
            h.add(0.2 if pending else 0.6, e.ref, f"FailedScheduling x{sum(x.count for x in evs)} for {wl}: "
                                                  f"\"{clip_middle(e.message, 240)}\"", e.first)
        gaps: list[tuple[str, str | None]] = []
        if not pending and not evs:
            # No scheduler verdict was recorded, but a pod long Pending without a node that asks for an
            # extended resource no known node offers in that amount says it by itself.
            pending = [p for p in ctx.pods(wl) if p.phase == "Pending" and p.stuck_pending and not p.node]
            gaps = _unoffered(ctx, [c for p in pending for c in p.containers]) if pending else []
            if gaps:
                res, want = gaps[0]
                where = (f"none of the {len(ctx.f.nodes)} known nodes offers that many" if ctx.f.nodes else
                         "no node is known to offer it (the node list could not be read)")
                h.add(0.6 if ctx.f.nodes else 0.45, pending[0].ref,
                      f"{len(pending)} pod(s) of {wl} Pending with no node assigned and no scheduling event recorded, "
                      f"e.g. {pending[0].name}: they request {want} {res} and {where}, so the scheduler has "
                      f"insufficient {res} resources to place them")
        if h.score > 0:
            text = " ".join([p.unschedulable or "" for p in pending] + [e.message for e in evs])
            h.params["insufficient"] = [r for r in ("memory", "cpu") if f"Insufficient {r}" in text]
            c = next((c for p in pending for c in p.containers), None)
            if c is not None:
                h.params.update(container=c.name, requests=c.requests, limits=c.limits)
            h.params["capacity_note"] = _blocker(text)
            _extended(h, ctx, text, [c for p in pending for c in p.containers])
            for res, want in gaps[:1]:
                _no_node_offers(h, res, want)
            out.append(_finish(h, ctx, wl))
    return best(out)


# What the scheduler's message says stands in the way, and what a human does about it.
_BLOCKERS = (
    (re.compile(r"untolerated taint|had taint", re.I),
     "no node without a taint the pods tolerate: add the toleration, or untaint or add nodes"),
    (re.compile(r"didn't match Pod's node affinity|node\(s\) didn't match node selector|nodeSelector", re.I),
     "no node matches the pods' nodeSelector/affinity: fix the selector or label nodes"),
    (re.compile(r"unbound immediate PersistentVolumeClaims|persistentvolumeclaim .* not found|"
                r"volume node affinity conflict", re.I),
     "the pods' PersistentVolumeClaim is unbound or bound in another zone: fix the claim or its storage class"),
    (re.compile(r"Too many pods", re.I), "the nodes are at their pod limit: add nodes or free pod slots"),
)


def _blocker(text: str) -> str | None:
    return next((fix for rx, fix in _BLOCKERS if rx.search(text)), None)


def _extended(h: Hypothesis, ctx: Ctx, text: str, containers) -> None:
    """An extended resource (nvidia.com/gpu...) the scheduler finds insufficient and no node offers:
    no request change fixes that, only nodes that have it."""
    named = list(dict.fromkeys(_EXTENDED.findall(text)))
    if not ctx.f.nodes or not named:
        return
    for res, want in _unoffered(ctx, containers, named):
        ref = next((n.ref for n in ctx.f.nodes.values() if n.ref), None)
        h.add(0.1, ref, f"none of the {len(ctx.f.nodes)} nodes has {res} in its allocatable resources"
                        + (f" (the pods request {want})" if want else ""))
        _no_node_offers(h, res, want)


def is_extended(resource: str) -> bool:
    """A resource outside the kubelet's own (cpu, memory, ephemeral storage, hugepages): a device
    plugin's (nvidia.com/gpu) or an operator's, offered only by the nodes that advertise it."""
    return resource not in _NATIVE and not resource.startswith("hugepages-")


def _unoffered(ctx: Ctx, containers, only: list[str] | None = None) -> list[tuple[str, str | None]]:
    """(resource, amount) of the extended resources the containers ask for (or the scheduler names)
    that no known node has in that amount."""
    asked: dict[str, str | None] = {}
    for c in containers:
        for res, q in {**c.limits, **c.requests}.items():
            if is_extended(res):
                asked.setdefault(res, q)
    for res in only or ():
        asked.setdefault(res, None)
    return [(res, want) for res, want in asked.items() if (only is None or res in only)
            and not any((count(n.allocatable.get(res)) or 0) >= (count(want) or 1) for n in ctx.f.nodes.values())]


def _no_node_offers(h: Hypothesis, res: str, want: str | None) -> None:
    h.params["capacity_note"] = (f"no node offers {want or 'any'} {res}; add nodes that provide it (with their "
                                 "device plugin), lower the request, or schedule it elsewhere (set_resources "
                                 "changes only CPU and memory)")
    h.params["extended"] = res


# ------------------------------------------------------------------------------ probe_failure
def probe_failure(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("probe_failure")
        evs = ctx.f.events_for(workload=wl)
        unhealthy = [e for e in evs if e.reason == "Unhealthy" and "probe failed" in e.message.lower()]
        pods = ctx.pods(wl)
        graceful = any(GRACEFUL_HINT.search(t) for t, _ in ctx.crash_lines(wl)) or \
            any(GRACEFUL_HINT.search(x.example) for x in ctx.f.logs if wl in ctx.attribution(x))
        killed = [(p, c) for p in pods for c in p.containers
                  if c.restarts and c.termination[0] != "OOMKilled"
                  and (c.termination[1] in (137, 143) or (c.termination[1] is None and graceful))]
        if unhealthy:
            n = sum(e.count for e in unhealthy)
            e = max(unhealthy, key=lambda e: e.count)
            h.add(0.35 + (0.05 if n >= 3 else 0), e.ref, f"{e.reason} x{n} on {wl} pods: \"{clip_middle(e.message, 240)}\"", e.first)
        elif killed:
            # Probe events expire after an hour; a container killed from outside (SIGTERM/SIGKILL, not
            # OOM) while its own log looks healthy is still the kubelet acting on a failing probe.
            p, c = killed[0]
            h.add(0.2, p.ref, f"{len(killed)} container(s) of {wl} were killed from outside "
                              f"(exit {c.termination[1]}, reason {c.termination[0]}), e.g. {p.name}")
        else:
            continue
        kills = [e for e in evs if e.reason == "Killing" and "probe" in e.message.lower()]
        if kills:
            h.add(0.2, kills[0].ref, f"kubelet restarted {wl} containers {sum(k.count for k in kills)} time(s): "
                                     f"\"{clip_middle(kills[0].message, 200)}\"", kills[0].first)
        terms = [c.termination for p in pods for c in p.containers if c.restarts]
        if terms and all(r != "OOMKilled" for r, _ in terms):
            h.add(0.1, pods[0].ref, f"{wl} restarts end with {sorted({f'{r} ({c})' for r, c in terms})}, not OOMKilled")
        lines = [t for t, _ in ctx.crash_lines(wl)]
        bad_classes = {classify(t) for t in lines} & {"code", "config", "refused", "oom", "dns_nxdomain",
                                                     "dns_resolver", "disk", "pool"}
        healthy = [t for t in lines if HEALTHY_HINT.search(t) or GRACEFUL_HINT.search(t)]
        if healthy and not bad_classes:
            ref = next((ctx.f.pod_log_refs[p] for p in sorted(ctx.f.pod_logs) if ctx.workload_of(p) == wl), None)
            h.add(0.15 if unhealthy else 0.2, ref, f"the killed {wl} instance was serving normally until shut down: {healthy[-1][:160]}")
        if bad_classes:
            h.counter(0.5, f"{wl}'s own logs show {', '.join(sorted(bad_classes))} errors: probes fail for a reason")
        peak, _ = _mem_peak(ctx, wl)
        if any(r == "OOMKilled" for r, _ in terms):
            h.counter(0.4, f"{wl} is OOMKilled")
        err = [r for r in ctx.service_rows("error_ratio", wl) if r.state == "abnormal"]
        if not err and (peak is None or peak < 0.85) and (terms or kills):
            h.score += 0.05
        out.append(_finish(h, ctx, wl))
    return best(out)


