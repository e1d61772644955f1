"""Causes visible on the pods of one workload: OOM kills, image pulls, scheduling, config, probes."""
from __future__ import annotations

from agents.offline.logsig import CRASH_HINT, GRACEFUL_HINT, HEALTHY_HINT, classify
from agents.offline.signals import CONFIG_REASONS, PULL_REASONS, Ctx, Hypothesis
from agents.offline.rulekit import CONFIG_EXITS, _finish, _in_rev, _mem_peak, best, rollout_of

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
            h.add(0.1 if ooms else 0.3, logs[0].ref, f"{wl} logs out-of-memory errors: {logs[0].example[:160]}",
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
                  f"{detail.message[:220]}", detail.first)
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
                                       f"{pending[0].unschedulable[:200]}")
        if evs:
            e = evs[0]
            h.add(0.2 if pending else 0.6, e.ref, f"FailedScheduling x{sum(x.count for x in evs)} for {wl}: "
                                                  f"{e.message[:200]}", e.first)
        if h.score > 0:
            text = " ".join([p.unschedulable or "" for p in pending] + [e.message for e in evs])
            h.params["insufficient"] = [r for r in ("memory", "cpu") if f"Insufficient {r}" in text]
            c = next((c for p in pending for c in p.containers), None)
            if c is not None:
                h.params.update(container=c.name, requests=c.requests, limits=c.limits)
            out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ config_error
def config_error(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("config_error")
        pods = ctx.pods(wl)
        cfg = [p for p in pods if p.waiting_reasons() & CONFIG_REASONS]
        if cfg:
            c = next(c for c in cfg[0].containers if c.reason in CONFIG_REASONS)
            h.add(0.75, cfg[0].ref, f"{cfg[0].name} cannot start: {c.reason}: {(c.message or '')[:200]}")
        for e in ctx.f.events_for(workload=wl):
            if e.type == "Warning" and e.reason == "Failed" and ("config" in e.message.lower()
                                                                 or "couldn't find key" in e.message
                                                                 or "not found" in e.message and "image" not in e.message.lower()):
                h.add(0.1 if cfg else 0.5, e.ref, f"{e.reason} x{e.count} on {e.kind}/{e.name}: {e.message[:200]}",
                      e.first)
                break
        crashed = _crash_exits(pods)
        failed_jobs = [j for j in ctx.f.jobs if j.workload == wl and j.status == "Failed"]
        lines = [t for t, _ in ctx.crash_lines(wl)]
        if not pods and not failed_jobs:
            # Logs only: a fatal start-up line stands in for the exit the pod API would show.
            fatal = [x for x in ctx.hits(("config", "dns_nxdomain"), wl) if CRASH_HINT.search(x.example)]
            if fatal:
                h.add(0.25, fatal[0].ref, f"{wl} exits at start-up: {fatal[0].example[:200]}", fatal[0].first)
                lines.append(fatal[0].example)
        classes = [classify(t) for t in lines] + [x.cls for x in ctx.hits(("config", "dns_nxdomain"), wl)
                                                  if x.scoped_pod]
        if crashed or failed_jobs or (lines and not pods and h.score):
            if crashed:
                h.add(0.3, crashed[0][0].ref, f"{len(crashed)} container(s) of {wl} exit with code(s) "
                                              f"{sorted({str(c) for _, c in crashed})}")
            elif failed_jobs:
                h.add(0.3, failed_jobs[0].ref, f"job {failed_jobs[0].name} failed "
                                               f"({', '.join(failed_jobs[0].problems)})")
            if "config" in classes or "dns_nxdomain" in classes:
                cls = "config" if "config" in classes else "dns_nxdomain"
                line = next((t for t in lines if classify(t) == cls), None) or \
                    next(x.example for x in ctx.hits(cls, wl) if x.scoped_pod)
                hx = next((x for x in ctx.hits(cls, wl) if x.scoped_pod), None)
                h.add(0.35, hx.ref if hx else None, f"the crashed instance of {wl} logs a configuration error: "
                                                     f"{line[:220]}")
                if cls == "dns_nxdomain" and _nxdomain_elsewhere(ctx, wl):
                    h.counter(0.5, "other workloads fail to resolve names too (resolver problem)")
            if "refused" in classes or "timeout" in classes:
                h.counter(0.3, f"{wl} crashes because a dependency refuses or times out")
            elif "code" in classes and "config" not in classes:
                h.counter(0.6, f"{wl} crashes with a code error (stack trace/panic), not a configuration error")
        new, _ = rollout_of(ctx, wl)
        if h.score and new is not None and any(_in_rev(p, new) for p, _ in crashed) \
                and not any(not _in_rev(p, new) for p, _ in crashed) and len(ctx.f.workloads[wl].revisions) > 1:
            h.counter(0.5, f"only pods of {wl}'s new revision {new.number} fail: rolling back would fix it "
                           "(bad_deploy)")
        if h.score > 0:
            out.append(_finish(h, ctx, wl))
    return best(out)


def _crash_exits(pods) -> list:
    """(pod, exit code) of containers that exited on their own with an error; the code is None when
    only kube-state-metrics' reason ("Error") is known."""
    out = []
    for p in pods:
        for c in p.containers:
            reason, code = c.termination
            if code in CONFIG_EXITS and reason not in ("OOMKilled", "Completed"):
                out.append((p, code))
            elif code is None and reason == "Error":
                out.append((p, None))
    return out


def _nxdomain_elsewhere(ctx: Ctx, wl: str) -> bool:
    others = {w for x in ctx.hits(("dns_nxdomain", "dns_resolver")) for w in ctx.attribution(x)} - {wl}
    return len(others) >= 1 and bool(ctx.f.rows.get("dns_errors") and
                                     any(r.state == "abnormal" for r in ctx.f.rows["dns_errors"]))


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
            h.add(0.35 + (0.05 if n >= 3 else 0), e.ref, f"{e.reason} x{n} on {wl} pods: {e.message[:200]}", e.first)
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
                                     f"{kills[0].message[:160]}", kills[0].first)
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


