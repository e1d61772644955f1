"""After a crash: is the change a request asks for in effect? One read-only look per action.

An execution's outcome is recorded after its Kubernetes call, so a process killed in between
leaves no record of whether the write reached the API server; the cluster is the record. Each
check compares what the request asks for with what is there now, using only what the dry run
stored with the proposal (the readOnly parameters) and `since`, the moment the proposal went
`executing`: nothing here needs anything that only the execution knew.

`applied` is True (the requested state holds), False (it does not) or None (cannot tell: the
API unreachable or refusing, the object gone, nothing recorded to compare with).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from tools.actions.calls import ActionKube, Refusal
from tools.actions.catalog import RESOURCE_PARAMS
from tools.actions.deployments import (RESTARTED_AT, k8s_time, pick_container, read_deployment, resource_differences,
                                       resource_values, same_quantity, template_annotations)
from tools.actions.pods_nodes import read_pod_if_any
from tools.actions.requests import ActionOutcome, ActionRequest
from tools.actions.rollback import REVISION, revision_history, without_hash
from tools.actions.undo import undo_request
from tools.actions.verify import check_node
from tools.k8s.client import ApiFailure
from tools.k8s.compact import parse_time


@dataclass
class Seen:
    applied: bool | None
    message: str
    state: dict[str, Any] = field(default_factory=dict)
    # What the verification needs, written into the request as an execution would have.
    record: dict[str, Any] = field(default_factory=dict)


async def observe_restart(kube: ActionKube, req: ActionRequest, since: datetime) -> Seen:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    value = template_annotations(dep).get(RESTARTED_AT)
    # The executor stamps whole seconds from the bot's clock, the clock `since` comes from too.
    began = k8s_time(since)
    state = {"restarted_at": value, "executing_since": began}
    if value is None:
        return Seen(False, f"deployment {req.where} has no {RESTARTED_AT} annotation", state)
    at = parse_time(value)
    if at is None:
        return Seen(None, f"deployment {req.where} has an unreadable {RESTARTED_AT} {value!r}", state)
    if (at if at.tzinfo else at.replace(tzinfo=timezone.utc)) >= parse_time(began):
        return Seen(True, f"deployment {req.where} was restarted at {value}, at or after execution began ({began})",
                    state)
    return Seen(False, f"deployment {req.where} was last restarted at {value}, before execution began ({began})",
                state)


async def observe_scale(kube: ActionKube, req: ActionRequest, since: datetime) -> Seen:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    want, was = req.parameters.get("replicas"), req.parameters.get("from_replicas")
    have = (dep.get("spec") or {}).get("replicas", 1)
    state = {"replicas": have}
    if have == want:
        return Seen(True, f"deployment {req.where} asks for {have} replicas, as requested", state)
    if have == was:
        return Seen(False, f"deployment {req.where} still asks for {have} replicas, as before the change", state)
    return Seen(False, f"deployment {req.where} asks for {have} replicas: neither the requested {want} nor the {was} "
                "it had before (another client or an autoscaler changed it)", state)


async def observe_rollback(kube: ActionKube, req: ActionRequest, since: datetime) -> Seen:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    history = await revision_history(kube, dep)
    p = req.parameters
    name, before = p.get("to_replicaset"), history.get(p.get("from_revision"))
    # By name: the controller renumbers the restored ReplicaSet (revision N becomes current + 1).
    target = (next((rs for rs in history.values() if rs["metadata"].get("name") == name), None) if name
              else history.get(p.get("to_revision")))
    wanted = f"ReplicaSet {name}" if name else f"revision {p.get('to_revision')}"
    current = without_hash((dep.get("spec") or {}).get("template"))
    revision = (dep["metadata"].get("annotations") or {}).get(REVISION)
    state = {"revision": revision, "target": wanted}
    if target is not None and without_hash((target.get("spec") or {}).get("template")) == current:
        return Seen(True, f"deployment {req.where} (revision {revision}) has the pod template of {wanted}, the "
                    "rollback target", state)
    if before is not None and without_hash((before.get("spec") or {}).get("template")) == current:
        return Seen(False, f"deployment {req.where} still has the pod template of revision {p.get('from_revision')}",
                    state)
    if target is None:
        return Seen(None, f"{wanted} is no longer in the history of deployment {req.where}, so its pod template "
                    "cannot be compared", state)
    return Seen(False, f"the pod template of deployment {req.where} (revision {revision}) is neither that of {wanted} "
                f"nor that of revision {p.get('from_revision')}: another rollout changed it", state)


async def observe_pod(kube: ActionKube, req: ActionRequest, since: datetime) -> Seen:
    uid = req.parameters.get("pod_uid")
    pod = await read_pod_if_any(kube, req.namespace or "", req.target)
    meta = (pod or {}).get("metadata") or {}
    deleting = meta.get("deletionTimestamp")
    state = {"recorded_uid": uid, "uid": meta.get("uid"), "deletionTimestamp": deleting, "exists": pod is not None}
    # The verification counts replacements created after the delete, which came after `since`.
    record = {"deleted_at": deleting or k8s_time(since)}
    unrecorded = "" if uid else " (no uid was recorded at the dry run)"
    if pod is None:
        return Seen(True, f"pod {req.where} is gone{unrecorded}", state, record)
    if deleting:
        return Seen(True, f"pod {req.where} is terminating since {deleting}{unrecorded}", state, record)
    if uid is None:
        return Seen(None, f"pod {req.where} exists and is not terminating, and no uid was recorded at the dry run: "
                    "it cannot be told apart from a replacement with the same name", state)
    if meta.get("uid") == uid:
        return Seen(False, f"pod {req.where} (uid {uid}) still exists and is not being deleted", state)
    return Seen(True, f"pod {req.where} with uid {uid} is gone; a pod with the same name (uid {meta.get('uid')}) "
                "replaced it", state, record)


async def observe_node(kube: ActionKube, req: ActionRequest, since: datetime) -> Seen:
    check = await check_node(kube, req)
    return Seen(check.done, check.message, check.details)


async def observe_resources(kube: ActionKube, req: ActionRequest, since: datetime) -> Seen:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    container = pick_container(dep, req.parameters.get("container"), req.where)
    have = resource_values(container)
    wanted = {k: req.parameters[k] for k in RESOURCE_PARAMS if k in req.parameters}
    previous = req.parameters.get("previous") or {}
    state = {k: have[k] for k in wanted}
    where = f"container {container['name']} in deployment {req.where}"
    differ = resource_differences(have, wanted)
    if not differ:
        return Seen(True, f"{where} has the requested values ({', '.join(f'{k} {v}' for k, v in wanted.items())})",
                    state)
    unchanged = bool(previous) and all(same_quantity(have[k], previous.get(k)) for k in wanted)
    return Seen(False, f"{where}: {'; '.join(differ)}{' (as before the change)' if unchanged else ''}", state)


OBSERVERS: dict[str, Callable[[ActionKube, ActionRequest, datetime], Awaitable[Seen]]] = {
    "restart_deployment": observe_restart, "scale_deployment": observe_scale, "rollback_deployment": observe_rollback,
    "set_resources": observe_resources, "delete_pod": observe_pod, "cordon_node": observe_node,
    "uncordon_node": observe_node,
}
_VERDICT = {True: "applied", False: "not applied", None: "cannot tell whether it was applied"}


async def observe(kube: ActionKube, req: ActionRequest, since: datetime) -> ActionOutcome:
    """ok when the change is in effect; details["applied"] is True, False or None. Reads only."""
    try:
        seen = await OBSERVERS[req.action_type](kube, req, since)
    except ApiFailure as failure:
        seen = Seen(None, f"the cluster could not be read: {failure.message}", {"code": failure.code})
    except Refusal as why:  # e.g. the container is gone from the spec
        seen = Seen(None, str(why))
    if seen.applied:
        for key, value in seen.record.items():
            req.parameters.setdefault(key, value)
    details = {"applied": seen.applied, "state": seen.state, "requests": kube.queries}
    return ActionOutcome(seen.applied is True, f"{_VERDICT[seen.applied]}: {seen.message}", details,
                         undo=undo_request(req) if seen.applied else None)
