"""Change correlation: did the trouble start right after a new revision of that workload?"""
from __future__ import annotations

from agents.offline.signals import PULL_REASONS, Ctx, Hypothesis
from agents.offline.rulekit import (ROLLOUT_WINDOW, SLACK, _failing, _finish, _in_rev, _older_pod, best, ctx_iso,
                                    rollout_of, started_row)
from tools.textclip import clip_middle

def _hash_split(ctx: Ctx, wl: str):
    """Without the Deployment API: two pod-template hashes of one workload, where every failing or
    erroring pod has the hash of pods that are still alive and the other hash's pods are healthy.
    That is a rollout whose new ReplicaSet fails (k8s keeps both sets during a rollout)."""
    from agents.offline.scope import pod_hash
    live = {p.name for p in ctx.pods(wl)}
    names = live | {p for p in ctx.f.log_errors_by_pod if ctx.workload_of(p) == wl} | \
        {p for p in ctx.f.log_lines_by_pod if ctx.workload_of(p) == wl}
    by_hash: dict[str, list[str]] = {}
    for n in sorted(names):
        hsh = pod_hash(n)
        if hsh:
            by_hash.setdefault(hsh, []).append(n)
    if len(by_hash) != 2:
        return None

    def bad(name: str) -> bool:
        p = ctx.f.pods.get(name)
        return (p is not None and _failing(p)) or ctx.f.log_errors_by_pod.get(name, 0) > 0

    failing = {hsh for hsh, pods in by_hash.items() if any(bad(n) for n in pods)}
    if len(failing) != 1:
        return None
    new = failing.pop()
    old = next(hh for hh in by_hash if hh != new)
    if not any(n in live for n in by_hash[new]) or any(n in live for n in by_hash[old]) and \
            not all(n in live for n in by_hash[new]):
        return None
    return new, [n for n in by_hash[new] if bad(n)], by_hash[old]


def bad_deploy(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        new, prev = rollout_of(ctx, wl)
        if new is None and wl not in ctx.f.workloads:
            split = _hash_split(ctx, wl)
            if split is not None:
                h = Hypothesis("bad_deploy")
                hsh, failing, healthy = split
                ref = next((p.ref for p in ctx.pods(wl) if p.ref), ctx.f.log_agg_ref.get(ctx.namespace_of(wl) or "*"))
                h.add(0.4, ref, f"{wl} runs two revisions: {len(failing)} pod(s) of template {hsh} fail "
                                f"({', '.join(failing[:2])}) while {len(healthy)} pod(s) of the other revision "
                                f"did not")
                code = ctx.hits(("code", "config"), wl)
                if code:
                    h.add(0.15, code[0].ref, f"{wl} logs {code[0].cls} errors: \"{clip_middle(code[0].example, 220)}\"", code[0].first)
                h.params["hash_split"] = hsh
                out.append(_finish(h, ctx, wl))
            continue
        if new is None or prev is None:
            continue   # a first revision has nothing to roll back to: not a bad deploy
        h = Hypothesis("bad_deploy")
        pods = ctx.pods(wl)
        new_pods = [p for p in pods if _in_rev(p, new)]
        old_pods = [p for p in pods if not _in_rev(p, new)]
        failing_new = [p for p in new_pods if _failing(p)]
        failing_old = [p for p in old_pods if _failing(p)]
        correlated = False
        if failing_new and not failing_old:
            correlated = True
            h.add(0.45, failing_new[0].ref, f"{len(failing_new)} of {len(new_pods)} pod(s) of {wl}'s newest revision "
                  f"{new.number} ({new.rs}, created {ctx_iso(new.created)}) are failing, e.g. {failing_new[0].name}",
                  new.created)
            if old_pods:
                h.add(0.15, old_pods[0].ref, f"the {len(old_pods)} pod(s) of the previous revision are healthy")
        _, started = started_row(ctx, wl)
        if started is not None and new.created - SLACK <= started <= new.created + ROLLOUT_WINDOW:
            r, t = started_row(ctx, wl)
            h.add(0.45 if not correlated else 0.1, r.ref if r else None,
                  f"{r.labels.get('service', wl) if r else wl}: {r.name if r else 'trouble'} abnormal since "
                  f"{ctx_iso(t)}, {int((t - new.created).total_seconds() // 60)} min after revision {new.number} "
                  f"was created", t)
            correlated = True
        errs_new = sum(ctx.f.log_errors_by_pod.get(p.name, 0) for p in new_pods)
        new_names = {x.name for x in new_pods}
        errs_other = {p: n for p, n in ctx.f.log_errors_by_pod.items()
                      if ctx.workload_of(p) == wl and p not in new_names and _older_pod(ctx, p, new)}
        code = ctx.hits(("code", "config"), wl)
        code_new = [x for x in code if x.first is None or x.first >= new.created - SLACK]
        code_before = [x for x in code if x.first is not None and x.first < new.created - SLACK]
        if errs_new and errs_other and not any(errs_other.values()):
            # The previous revision's pods logged in the same window without errors.
            h.add(0.1 if correlated else 0.3, ctx.f.log_agg_ref.get(new_pods[0].namespace),
                  f"{errs_new} error lines from the new revision's pods, none from the "
                  f"{len(errs_other)} older pod(s) of {wl}")
            if not correlated and code_new and not code_before:
                h.score += 0.15
            correlated = True
        start = ctx.scope.start
        code_in_new = [x for x in code_new if x.cls == "code" and (not x.scoped_pod or x.scoped_pod in new_names)]
        if not correlated and wl in ctx.focus and start and code_in_new and not code_before \
                and new.created - SLACK <= start <= new.created + ROLLOUT_WINDOW and not new.restart_only:
            # Without metrics, the alert's own start dates the trouble; code errors (stack traces) from the
            # new revision's pods say the change broke it, not a dependency.
            h.add(0.25, new_pods[0].ref if new_pods else None,
                  f"the alert started {int((start - new.created).total_seconds() // 60)} min after {wl}'s revision "
                  f"{new.number} was created ({ctx_iso(new.created)}) and its pods log code errors", start)
            correlated = True
        if not correlated:
            continue
        if code_new:
            x = code_new[0]
            h.add(0.15, x.ref, f"{wl} logs {x.cls} errors since the rollout: \"{clip_middle(x.example, 220)}\"", x.first)
        if prev is not None and prev.images != new.images:
            changes = [f"{c}: {prev.images.get(c, '-')} -> {img}" for c, img in new.images.items()
                       if prev.images.get(c) != img]
            if changes:
                w = ctx.f.workloads[wl]
                h.add(0.05, w.ref, f"revision {new.number} changed the image ({'; '.join(changes)[:200]})", new.created)
        h.params.update(revision=new.number, rs=new.rs, previous_revision=prev.number if prev else None,
                        previous_images=prev.images if prev else {})
        if new.restart_only:
            h.counter(0.3, f"revision {new.number} of {wl} only restarted its pods (restartedAt): its pod template "
                           f"equals revision {prev.number}'s, so a rollback would start the same pods; what fails "
                           "comes from outside the template (a ConfigMap, Secret or dependency)")
        if any(p.waiting_reasons() & PULL_REASONS for p in new_pods):
            h.counter(0.4, "the new pods cannot pull their image (image_pull_error)")
        if any(c.termination[0] == "OOMKilled" for p in new_pods for c in p.containers):
            h.counter(0.6, "the new pods are OOMKilled")
        if ctx.hits("refused", wl) and not code_new:
            h.counter(0.6, f"{wl} reports refused connections to a dependency")
        out.append(_finish(h, ctx, wl))
    return best(out)


