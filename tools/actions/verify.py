"""Did the change take effect? One check per action, polled until done or the deadline.

Rollouts follow `kubectl rollout status`: the controller observed the new generation, all
desired replicas are updated, no old replicas remain, and every updated replica is available.
A check that can no longer succeed (progress deadline exceeded, someone changed the spec back)
stops the wait at once.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable

from tools.actions.calls import ActionKube, Refusal
from tools.actions.deployments import pick_container, read_deployment, resource_differences, resource_values
from tools.actions.pods_nodes import read_pod_if_any
from tools.actions.requests import ActionOutcome, ActionRequest
from tools.actions.rollback import REVISION
from tools.k8s.client import ApiFailure
from tools.k8s.compact import parse_time


@dataclass
class Check:
    done: bool
    message: str
    failed: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def rollout_state(dep: dict[str, Any], where: str) -> Check:
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    gen, seen = meta.get("generation") or 0, status.get("observedGeneration")
    desired = spec.get("replicas", 1)
    numbers = {"generation": gen, "observed_generation": seen, "desired": desired,
               "replicas": status.get("replicas", 0), "updated": status.get("updatedReplicas", 0),
               "ready": status.get("readyReplicas", 0), "available": status.get("availableReplicas", 0)}
    counts = (f"observedGeneration {seen}/{gen}, updated {numbers['updated']}/{desired}, "
              f"available {numbers['available']}/{desired}")
    if seen is None or seen < gen:
        return Check(False, f"the deployment controller has not observed generation {gen} of {where} yet ({counts})",
                     details=numbers)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Check(False, f"deployment {where} exceeded its progress deadline: {cond.get('message', '')} "
                         f"({counts})", failed=True, details=numbers)
    if numbers["updated"] < desired:
        msg = f"{numbers['updated']} of {desired} new replicas of {where} have been updated"
    elif numbers["replicas"] > numbers["updated"]:
        msg = f"{numbers['replicas'] - numbers['updated']} old replicas of {where} are pending termination"
    elif numbers["available"] < numbers["updated"]:
        msg = f"{numbers['available']} of {numbers['updated']} updated replicas of {where} are available"
    else:
        return Check(True, f"deployment {where} rolled out: {numbers['available']}/{desired} replicas available "
                     f"(generation {gen} observed)", details=numbers)
    return Check(False, f"{msg} ({counts})", details=numbers)


async def _rollout(kube: ActionKube, req: ActionRequest) -> tuple[dict[str, Any], Check]:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    return dep, rollout_state(dep, req.where)


async def check_restart(kube: ActionKube, req: ActionRequest) -> Check:
    return (await _rollout(kube, req))[1]


async def check_rollback(kube: ActionKube, req: ActionRequest) -> Check:
    dep, state = await _rollout(kube, req)
    before = req.parameters.get("from_revision")
    revision = (dep["metadata"].get("annotations") or {}).get(REVISION)
    if state.done and before is not None and str(before) == revision:
        return Check(False, f"deployment {req.where} is still at revision {revision}; the controller has not "
                     "recorded the rollback yet", details=state.details)
    return state


async def check_scale(kube: ActionKube, req: ActionRequest) -> Check:
    dep, state = await _rollout(kube, req)
    want, have = req.parameters["replicas"], (dep.get("spec") or {}).get("replicas", 1)
    if have != want:
        return Check(False, f"deployment {req.where} now asks for {have} replicas, not {want}: an autoscaler or "
                     "another client changed it", failed=True, details=state.details)
    return state


async def check_resources(kube: ActionKube, req: ActionRequest) -> Check:
    dep, state = await _rollout(kube, req)
    container = pick_container(dep, req.parameters.get("container"), req.where)
    have = resource_values(container)
    differ = resource_differences(have, req.parameters)
    if differ:
        return Check(False, f"container {container['name']} in deployment {req.where} changed again: "
                     f"{'; '.join(differ)}", failed=True, details=state.details)
    return state


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _pod_state(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return f"{status.get('phase', '?')} ({waiting.get('reason')})"
    return status.get("phase") or "unknown"


async def check_pod(kube: ActionKube, req: ActionRequest) -> Check:
    ns, name = req.namespace or "", req.target
    old_uid, owner = req.parameters.get("pod_uid"), req.parameters.get("owner")
    pod = await read_pod_if_any(kube, ns, name)
    if pod is not None:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return Check(False, f"pod {req.where} is still terminating")
        if old_uid is None or meta.get("uid") == old_uid:  # without the old uid a same-name pod proves nothing
            return Check(False, f"pod {req.where} still exists and is not being deleted")
        # Same name, new uid: a StatefulSet recreated it.
        if _ready(pod):
            return Check(True, f"pod {req.where} was recreated and is Running and Ready")
        return Check(False, f"pod {req.where} was recreated but is {_pod_state(pod)}")
    if not owner:
        return Check(True, f"pod {req.where} is gone (it had no controller, so nothing replaces it)")
    body = await kube.json(f"/api/v1/namespaces/{ns}/pods", kube.core.list_namespaced_pod, namespace=ns)
    since = parse_time(req.parameters.get("deleted_at"))
    new = [p for p in body.get("items") or [] if _is_replacement(p, owner, old_uid, since)]
    who = f"{owner.get('kind')}/{owner.get('name')}"
    ready = [p["metadata"]["name"] for p in new if _ready(p)]
    if ready:
        return Check(True, f"pod {req.where} is gone and {who} replaced it with {ready[0]} (Running and Ready)",
                     details={"replacement": ready[0]})
    if new:
        p = new[0]
        return Check(False, f"pod {req.where} is gone; its replacement {p['metadata']['name']} from {who} is "
                     f"{_pod_state(p)}", details={"replacement": p["metadata"]["name"]})
    return Check(False, f"pod {req.where} is gone but {who} has not created a replacement yet")


def _is_replacement(pod: dict[str, Any], owner: dict[str, Any], old_uid: str | None, since: datetime | None) -> bool:
    meta = pod.get("metadata") or {}
    if meta.get("uid") == old_uid or meta.get("deletionTimestamp"):
        return False
    if not any(r.get("uid") == owner.get("uid") for r in meta.get("ownerReferences") or []):
        return False
    created = parse_time(meta.get("creationTimestamp"))
    # Siblings that existed before the delete are not replacements.
    return since is None or (created is not None and created >= since)


async def check_node(kube: ActionKube, req: ActionRequest) -> Check:
    node = await kube.json(f"/api/v1/nodes/{req.target}", kube.core.read_node, name=req.target)
    flag = bool((node.get("spec") or {}).get("unschedulable"))
    want = req.action_type == "cordon_node"
    state = "unschedulable (cordoned)" if flag else "schedulable"
    return Check(flag == want, f"node {req.target} is {state}", details={"unschedulable": flag})


CHECKS: dict[str, Callable[[ActionKube, ActionRequest], Awaitable[Check]]] = {
    "restart_deployment": check_restart, "scale_deployment": check_scale, "rollback_deployment": check_rollback,
    "set_resources": check_resources, "delete_pod": check_pod, "cordon_node": check_node,
    "uncordon_node": check_node,
}
# Errors no amount of waiting fixes.
_FINAL_CODES = {400, 401, 403, 404, 422}


async def wait_until(kube: ActionKube, req: ActionRequest, timeout: float, interval: float) -> ActionOutcome:
    check = CHECKS[req.action_type]
    started = time.monotonic()
    deadline = started + timeout
    last: Check | None = None
    error: str | None = None
    polls = 0
    while True:
        polls += 1
        try:
            last, error = await check(kube, req), None
        except ApiFailure as failure:
            if failure.code in _FINAL_CODES:
                return ActionOutcome(False, f"cannot verify {req.describe()}: {failure.message}",
                                     {"polls": polls, "requests": kube.queries[-6:]})
            error = failure.message  # 5xx, timeouts: the next poll may succeed
        except Refusal as refusal:  # e.g. the container is gone from the spec
            return ActionOutcome(False, f"verification failed: {refusal}", {"polls": polls})
        waited = round(time.monotonic() - started, 3)
        details = {"polls": polls, "waited": waited, "state": last.details if last else {}}
        if last is not None and error is None and last.done:
            return ActionOutcome(True, f"verified: {last.message}", details)
        if last is not None and error is None and last.failed:
            return ActionOutcome(False, f"verification failed: {last.message}", details)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = error or (last.message if last else "no answer")
            return ActionOutcome(False, f"not verified within {timeout:g}s: {missing}", details)
        await asyncio.sleep(min(interval, remaining))
