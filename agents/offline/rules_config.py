"""config_error: the workload's own command, script, env or config is wrong.

Read from the failed runs themselves: the container state (CreateContainerConfigError, an exit code,
a crash loop that exits 0), the decisive line of the crashed run (agents/offline/crashlog.py) and,
for a CronJob, what its template changed since the last run that succeeded. A connection refused
by an in-cluster dependency whose pods are Ready is the client's configuration (wrong host or port),
not the dependency's failure.
"""
from __future__ import annotations

from agents.offline.crashlog import Explanation, explain
from agents.offline.logsig import CRASH_HINT, classify
from agents.offline.rulekit import CONFIG_EXITS, _finish, _in_rev, best, rollout_of
from agents.offline.signals import CONFIG_REASONS, Ctx, Hypothesis
from agents.offline.subject import dependency_workload
from tools.textclip import clip_middle

LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod")


def config_error(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("config_error")
        pods = ctx.pods(wl)
        cfg = [p for p in pods if p.waiting_reasons() & CONFIG_REASONS]
        start_msgs: list[str] = []   # why the runtime could not start a container (no log exists then)
        start_ref = None
        if cfg:
            c = next(c for c in cfg[0].containers if c.reason in CONFIG_REASONS)
            h.add(0.75, cfg[0].ref, f"{cfg[0].name} cannot start: {c.reason}: {clip_middle(c.message or '', 240)}")
        for e in ctx.f.events_for(workload=wl):
            if e.type == "Warning" and e.reason == "Failed" and ("config" in e.message.lower()
                                                                 or "couldn't find key" in e.message
                                                                 or "not found" in e.message and "image" not in e.message.lower()):
                h.add(0.1 if cfg else 0.5, e.ref, f"{e.reason} x{e.count} on {e.kind}/{e.name}: "
                      f"{clip_middle(e.message, 240)}", e.first)
                start_msgs.append(e.message)
                start_ref = e.ref
                break
        crashed = _crash_exits(pods)
        zero = _exit_zero_loops(pods)
        failed_jobs = [j for j in ctx.f.jobs if j.workload == wl and j.status == "Failed"]
        lines = [t for t, prev in ctx.crash_lines(wl) if prev] or [t for t, _ in ctx.crash_lines(wl)]
        if not pods and not failed_jobs:
            # Logs only: a fatal start-up line stands in for the exit the pod API would show.
            fatal = [x for x in ctx.hits(("config", "dns_nxdomain"), wl) if CRASH_HINT.search(x.example)]
            if fatal:
                h.add(0.25, fatal[0].ref, f"{wl} exits at start-up: {clip_middle(fatal[0].example, 240)}",
                      fatal[0].first)
                lines.append(fatal[0].example)
        classes = [classify(t) for t in lines] + [x.cls for x in ctx.hits(("config", "dns_nxdomain"), wl)
                                                  if x.scoped_pod]
        code = crashed[0][1] if crashed else None
        why = explain(lines, code, _known_words(ctx, wl)) if (crashed or failed_jobs or zero) else None
        if why is None and start_msgs:
            start_msgs += [m for p in pods for c in p.containers for m in (c.message, c.last_message) if m]
            why = explain(start_msgs, None, _known_words(ctx, wl))
            if why is not None and why.config and why.hint:
                h.add(0.05, start_ref, f"{wl} cannot start: {why.describe()}")
        if crashed or failed_jobs or zero or (lines and not pods and h.score):
            if crashed:
                p0 = crashed[0][0]
                codes = sorted({str(c) for _, c in crashed if c is not None})   # None: only "Error" is known
                h.add(0.3, p0.ref, f"{len(crashed)} container(s) of {wl} exit with "
                                   f"{f'code(s) {codes}' if codes else 'an error'}, e.g. {p0.name} ({_state(p0)})")
            elif failed_jobs:
                j = failed_jobs[0]
                h.add(0.3, j.ref, f"job {j.name} failed ({j.reason or 'Failed'}) after {j.failed} failed pod(s)")
            elif zero:
                p, c = zero[0]
                h.add(0.35, p.ref, f"{len(zero)} container(s) of {wl} are in a crash loop although they exit 0 "
                                   f"(Completed), e.g. {p.name}/{c.name} with {c.restarts} restarts: the process "
                                   "ends when it should keep running, so its command or configuration makes it exit")
                if lines:
                    h.add(0.05, ctx.log_ref(wl), f"the last line before {p.name}/{c.name} exited: "
                                                 f"\"{clip_middle(lines[-1], 240)}\"")
            if why is not None and why.config:
                h.add(0.35, ctx.log_ref(wl), f"the failed run of {wl} ends with {why.describe()}: "
                                             f"\"{why.line}\"")
            elif "config" in classes or "dns_nxdomain" in classes:
                cls = "config" if "config" in classes else "dns_nxdomain"
                line = next((t for t in lines if classify(t) == cls), None) or \
                    next(x.example for x in ctx.hits(cls, wl) if x.scoped_pod)
                hx = next((x for x in ctx.hits(cls, wl) if x.scoped_pod), None)
                h.add(0.35, hx.ref if hx else None, f"the crashed instance of {wl} logs a configuration error: "
                                                     f"\"{clip_middle(line, 240)}\"")
                if cls == "dns_nxdomain" and _nxdomain_elsewhere(ctx, wl):
                    h.counter(0.5, "other workloads fail to resolve names too (resolver problem)")
            if why is not None and why.kind in ("refused", "timeout"):
                _wrong_target(h, ctx, wl, why)
            elif "refused" in classes or "timeout" in classes:
                h.counter(0.3, f"{wl} crashes because a dependency refuses or times out")
            elif "code" in classes and "config" not in classes and not (why and why.config):
                h.counter(0.6, f"{wl} crashes with a code error (stack trace/panic), not a configuration error")
        changed = next((j.changes for j in failed_jobs if j.changes), [])
        if h.score and changed:
            h.add(0.1, failed_jobs[0].ref, f"the CronJob's pod template changed since its last successful run: "
                                           f"{'; '.join(changed[:3])}")
        new, _ = rollout_of(ctx, wl)
        failing = [p for p, _ in crashed] + [p for p, _ in zero]
        if h.score and new is not None and not new.restart_only and any(_in_rev(p, new) for p in failing) \
                and not any(not _in_rev(p, new) for p in failing) and len(ctx.f.workloads[wl].revisions) > 1:
            h.counter(0.5, f"only pods of {wl}'s new revision {new.number} fail: rolling back would fix it "
                           "(bad_deploy)")
        if h.score > 0:
            h.params["explanation"] = why
            out.append(_finish(h, ctx, wl))
    return best(out)


def _state(p) -> str:
    c = next((c for c in p.containers if c.termination != (None, None)), None)
    if c is None:
        return p.phase
    reason, code = c.termination
    wait = f", now {c.reason}" if c.state == "waiting" and c.reason else ""
    exit_code = f" exit {code}" if code is not None else ""
    return f"{c.name} {reason or 'terminated'}{exit_code}{wait}, {c.restarts} restarts"


def _known_words(ctx: Ctx, wl: str) -> list[str]:
    """Words the workload ran before: its successful Jobs' commands, the old side of its changes."""
    # The images' own names too: a container built around one tool usually runs it (curlimages/curl).
    words = [c.image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] for p in ctx.pods(wl) for c in p.containers
             if c.image]
    for j in ctx.f.jobs:
        if j.workload == wl:
            if j.status == "Complete" and j.command:
                words += j.command.replace(";", " ").replace("&&", " ").split()
            for ch in j.changes:
                words += ch.split(": ", 1)[-1].split(" -> ")[0].split()
    return words


def _wrong_target(h: Hypothesis, ctx: Ctx, wl: str, why: Explanation) -> None:
    """A refusal from an in-cluster dependency that is up: the client dials the wrong host or port."""
    host, _, port = why.detail.partition(":")
    pods_by_name = {p.name: p for p in ctx.f.pods.values()}
    dep = dependency_workload(host, set(ctx.workloads()) - {wl}, pods_by_name, ctx.f) if host else None
    dep_pods = ctx.pods(dep) if dep else []
    healthy = bool(dep_pods) and all(p.ready and not any(c.restarts for c in p.containers) for p in dep_pods)
    if not healthy:
        h.counter(0.3, f"{wl} crashes because {why.detail or 'a dependency'} refuses or times out")
        return
    ports = sorted({x for p in dep_pods for c in p.containers for x in c.ports})
    mismatch = port.isdigit() and ports and int(port) not in ports
    note = f" and listens on {', '.join(map(str, ports))}, not {port}" if mismatch else ""
    h.add(0.35 if mismatch else 0.2, dep_pods[0].ref,
          f"{why.detail} is the in-cluster {dep}, whose pods are Ready{note}: {wl} dials the wrong address "
          f"(\"{why.line}\")")
    h.params["dependency"] = dep


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


def _exit_zero_loops(pods) -> list:
    """A long-running container restarted after exiting 0: CrashLoopBackOff is abnormal whatever the code."""
    return [(p, c) for p in pods if p.kind in LONG_RUNNING for c in p.containers
            if not c.init and c.termination[1] == 0 and (c.restarts > 0 or c.reason == "CrashLoopBackOff")]


def _nxdomain_elsewhere(ctx: Ctx, wl: str) -> bool:
    others = {w for x in ctx.hits(("dns_nxdomain", "dns_resolver")) for w in ctx.attribution(x)} - {wl}
    return len(others) >= 1 and bool(ctx.f.rows.get("dns_errors") and
                                     any(r.state == "abnormal" for r in ctx.f.rows["dns_errors"]))
