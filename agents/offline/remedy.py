"""Phase 3, remediation: the catalog action for a diagnosis, with parameters read from the evidence.

Only catalog actions are proposed, only against an object the evidence names; the coordinator
(agents.session) applies its own risk rules on top of the default risk set here.
"""
from __future__ import annotations

import math

from agents.diagnosis import ProposedAction
from agents.offline.signals import Ctx, Hypothesis
from tools.k8s.quantity import cpu_cores, cpu_text, mem_bytes, mem_human, mem_text

DEFAULT_ACTION = {
    "oom_killed": "set_resources", "config_error": None, "image_pull_error": "rollback_deployment",
    "bad_deploy": "rollback_deployment", "cpu_throttling": "set_resources",
    "connection_pool_exhausted": "restart_deployment", "dependency_unavailable": None, "slow_query": None,
    "disk_full": None, "node_pressure": "cordon_node", "unschedulable": "set_resources",
    "certificate_expired": None, "dns_failure": None, "probe_failure": None, "traffic_spike": "scale_deployment",
    "unknown": None,
}
HIGH_RISK = {"rollback_deployment", "cordon_node"}
MAX_SCALE_FACTOR = 3


def propose(h: Hypothesis, ctx: Ctx) -> list[ProposedAction]:
    action = DEFAULT_ACTION.get(h.category)
    if action is None or not h.component:
        return []
    target, ns, params, why = h.component, h.namespace or ctx.scope.namespace, {}, ""
    kind = _kind(ctx, target)
    if action != "cordon_node" and kind not in ("Deployment", None):
        # The catalog's workload actions change Deployments only: a CronJob's, StatefulSet's or
        # DaemonSet's fix is a human's (the summary says which).
        h.params.setdefault("not_a_deployment", kind)  # read by the summary, not an action parameter
        return []
    if action == "set_resources" and h.category == "oom_killed":
        limit = mem_bytes(h.params.get("memory_limit")) or h.params.get("memory_limit_bytes")
        params = {"container": h.params.get("container") or target}
        if limit:
            # The current limit as observed (the spec's own quantity), never a rounded stand-in for it.
            seen = h.params.get("memory_limit") or mem_human(limit)
            params.update(memory_limit=mem_text(limit * 1.5))
            why = f"raise the memory limit 1.5x ({seen} -> {mem_text(limit * 1.5)}) while the footprint is investigated"
        else:
            why = "raise the memory limit of the OOMKilled container (current limit not visible)"
    elif action == "set_resources" and h.category == "cpu_throttling":
        cur = cpu_cores(h.params.get("cpu_limit"))
        params = {"container": h.params.get("container") or target}
        if cur:
            params.update(cpu_limit=cpu_text(cur * 2))
            why = f"double the CPU limit ({h.params['cpu_limit']} -> {cpu_text(cur * 2)}) so CFS stops throttling"
        else:
            why = "raise (or remove) the CPU limit of the throttled container"
    elif action == "set_resources" and h.category == "unschedulable":
        fit = _fitting_request(ctx, h)
        if fit is None:
            return []   # requests fit a node: the cluster is merely full, a human adds capacity
        params, why = fit
    elif action == "rollback_deployment":
        two_revisions = _has_previous(ctx, target) or bool(h.params.get("hash_split")) or \
            (target not in ctx.f.workloads and len(_hashes(ctx, target)) >= 2)
        if kind not in ("Deployment", None) or not two_revisions:
            return []
        prev = h.params.get("previous_revision") or _previous_revision(ctx, target)
        params = {"to_revision": prev} if prev else {}
        why = f"roll {target} back to revision {prev}" if prev else f"roll {target} back to its previous revision"
    elif action == "restart_deployment":
        if kind not in ("Deployment", None) or (kind is None and not _hashes(ctx, target)):
            return []
        why = f"rollout restart of {target} frees leaked/stuck connections (mitigation; fix the leak)"
    elif action == "scale_deployment":
        cur = h.params.get("replicas")
        ratio = h.params.get("ratio") or 2.0
        if not cur:
            return []
        want = max(cur + 1, min(MAX_SCALE_FACTOR * cur, math.ceil(cur * ratio)))
        params = {"replicas": int(want)}
        why = f"scale {target} from {cur} to {want} replicas for a {ratio:.1f}x load"
    elif action == "cordon_node":
        ns = None
        why = f"cordon {target} so no new pods land on it, then drain it"
    # Parameters are only what the action catalog accepts: previous values are captured by the
    # catalog's own dry run, and non-Deployment targets surface there as a blocked proposal.
    prop = ProposedAction(action_type=action, target=target, namespace=ns, parameters=params, rationale=why,
                          risk="HIGH" if action in HIGH_RISK else "MEDIUM")
    return [prop] if _seen(target, h) else []


def _seen(target: str, h: Hypothesis) -> bool:
    return any(target in (e.finding + " " + e.query) for e in h.evidence)


def _kind(ctx: Ctx, name: str) -> str | None:
    if name in ctx.f.workloads:
        return ctx.f.workloads[name].kind
    kinds = {p.kind for p in ctx.f.pods.values() if p.workload == name}
    if any(j.workload == name for j in ctx.f.jobs):
        return "CronJob" if any(j.workload == name and j.workload != j.name for j in ctx.f.jobs) else "Job"
    if kinds:
        return sorted(kinds)[0]
    return "Deployment" if any(r.labels.get("deployment") == name for rows in ctx.f.rows.values() for r in rows) \
        else None


def _hashes(ctx: Ctx, name: str) -> set[str]:
    """Pod-template hashes seen for a workload (pods, log sources): two mean two revisions."""
    from agents.offline.scope import pod_hash, workload_of_pod
    pods = {p.name for p in ctx.f.pods.values() if p.workload == name}
    pods |= {p for p in list(ctx.f.log_lines_by_pod) + list(ctx.f.log_errors_by_pod) if workload_of_pod(p)[0] == name}
    return {h for h in (pod_hash(p) for p in pods) if h}


def _has_previous(ctx: Ctx, name: str) -> bool:
    w = ctx.f.workloads.get(name)
    return bool(w and len(w.revisions) > 1)


def _previous_revision(ctx: Ctx, name: str):
    w = ctx.f.workloads.get(name)
    return w.revisions[1].number if w and len(w.revisions) > 1 else None


def _fitting_request(ctx: Ctx, h: Hypothesis):
    """set_resources parameters when a request exceeds what any schedulable node can offer."""
    reqs = h.params.get("requests") or {}
    nodes = [n for n in ctx.f.nodes.values() if not n.tainted and n.allocatable]
    if not nodes:
        return None
    params, notes = {"container": h.params.get("container")}, []
    for res, parse, fmt in (("memory", mem_bytes, mem_text), ("cpu", cpu_cores, cpu_text)):
        want = parse(reqs.get(res))
        cap = max((parse(n.allocatable.get(res)) or 0) for n in nodes)
        if want and cap and want > cap:
            new = cap * 0.75
            params[f"{res}_request"] = fmt(new)
            lim = parse((h.params.get("limits") or {}).get(res))
            if lim and lim > cap:
                params[f"{res}_limit"] = fmt(new)
            notes.append(f"{res} request {reqs.get(res)} exceeds the largest schedulable node ({fmt(cap)}); "
                         f"lower it to {fmt(new)}")
    if len(params) == 1:
        return None
    return params, "; ".join(notes)
