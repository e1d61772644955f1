"""delete_pod and cordon/uncordon: single-object writes on core/v1."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from tools.actions.calls import ActionKube, Plan
from tools.actions.deployments import STRATEGIC
from tools.actions.requests import ActionRequest
from tools.k8s.client import ApiFailure


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


async def read_pod_if_any(kube: ActionKube, namespace: str, name: str) -> dict[str, Any] | None:
    """The pod, or None once it is gone (404); other failures raise ApiFailure."""
    try:
        return await kube.json(pod_path(namespace, name), kube.core.read_namespaced_pod, name=name,
                               namespace=namespace)
    except ApiFailure as failure:
        if failure.code != 404:
            raise
        return None


def controller_of(meta: dict[str, Any]) -> dict[str, Any] | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return {"kind": ref.get("kind"), "name": ref.get("name"), "uid": ref.get("uid")}
    return None


async def plan_delete_pod(kube: ActionKube, req: ActionRequest, now: datetime) -> Plan:
    ns, name = req.namespace or "", req.target
    path = pod_path(ns, name)
    pod = await kube.json(path, kube.core.read_namespaced_pod, name=name, namespace=ns)
    meta = pod.get("metadata") or {}
    owner = controller_of(meta)
    warnings = [] if owner else [f"pod {req.where} has no controller: nothing will recreate it"]
    if meta.get("deletionTimestamp"):
        warnings.append(f"pod {req.where} is already terminating since {meta['deletionTimestamp']}")
    return Plan(method="DELETE", path=path, call=kube.core.delete_namespaced_pod,
                kwargs={"name": name, "namespace": ns}, observed={"pod_uid": meta.get("uid"), "owner": owner},
                before={"uid": meta.get("uid"), "phase": (pod.get("status") or {}).get("phase"), "owner": owner,
                        "node": (pod.get("spec") or {}).get("nodeName")},
                warnings=warnings,
                # The server's clock, comparable with the replacement's creationTimestamp; ours if absent.
                observe_result=lambda p: {"deleted_at": (p.get("metadata") or {}).get("deletionTimestamp")
                                          or now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
                after=lambda p: {"deletionTimestamp": (p.get("metadata") or {}).get("deletionTimestamp")})


async def plan_node(kube: ActionKube, req: ActionRequest, now: datetime) -> Plan:
    cordon = req.action_type == "cordon_node"
    path = f"/api/v1/nodes/{req.target}"
    node = await kube.json(path, kube.core.read_node, name=req.target)
    was = bool((node.get("spec") or {}).get("unschedulable"))
    # kubectl uncordon's patch removes the field (false is omitted from a Node spec).
    body = {"spec": {"unschedulable": True if cordon else None}}
    noop = None
    if was == cordon:
        noop = f"node {req.target} is already {'cordoned' if cordon else 'schedulable'}"
    return Plan(method="PATCH", path=path, call=kube.core.patch_node,
                kwargs={"name": req.target, "body": body, "_content_type": STRATEGIC},
                content_type=STRATEGIC, body=body, noop=noop, before={"unschedulable": was},
                after=lambda n: {"unschedulable": bool((n.get("spec") or {}).get("unschedulable"))})
