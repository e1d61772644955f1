"""rollback_deployment: what `kubectl rollout undo` does.

The ReplicaSets owned by the deployment carry the revision history. The target is `to_revision`
or the highest revision below the current one; its pod template (without the controller's
pod-template-hash label) replaces the deployment's, in one JSON patch that also restores the
ReplicaSet's annotations (e.g. change-cause) exactly as kubectl does.
"""
from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from tools.actions.calls import ActionKube, Plan, Refusal
from tools.actions.deployments import JSON_PATCH, _patch, read_deployment, refuse_if_paused
from tools.actions.requests import ActionRequest
from tools.k8s.compact import owner_uid
from tools.k8s.selectors import label_selector_string

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# Deployment annotations kubectl keeps from the deployment instead of copying from the ReplicaSet.
_SKIP = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
         "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
         "deprecated.deployment.rollback.to"}


def without_hash(template: dict[str, Any] | None) -> dict[str, Any]:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def _revision(meta: dict[str, Any]) -> int | None:
    try:
        return int((meta.get("annotations") or {}).get(REVISION))
    except (TypeError, ValueError):
        return None


async def revision_history(kube: ActionKube, dep: dict[str, Any]) -> dict[int, dict[str, Any]]:
    meta = dep["metadata"]
    ns = meta.get("namespace") or ""
    selector = label_selector_string((dep.get("spec") or {}).get("selector")) or None
    body = await kube.json(f"/apis/apps/v1/namespaces/{ns}/replicasets", kube.apps.list_namespaced_replica_set,
                           namespace=ns, label_selector=selector)
    history = {}
    for rs in body.get("items") or []:
        rs_meta = rs.get("metadata") or {}
        rev = _revision(rs_meta)
        if rev is not None and owner_uid(rs_meta, "Deployment") == meta.get("uid"):
            history[rev] = rs
    return history


async def plan_rollback(kube: ActionKube, req: ActionRequest, now: datetime) -> Plan:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    refuse_if_paused(dep, req, "roll back")
    current = _revision(dep["metadata"])
    if current is None:
        raise Refusal(f"deployment {req.where} has no {REVISION} annotation; the controller has not recorded a "
                      "rollout yet")
    history = await revision_history(kube, dep)
    known = ", ".join(str(r) for r in sorted(history)) or "none"
    to = req.parameters.get("to_revision")
    if to is None:
        older = [r for r in history if r < current]
        if not older:
            raise Refusal(f"deployment {req.where} has no revision before {current} to roll back to "
                          f"(revisions in history: {known})")
        to = max(older)
    elif to not in history:
        raise Refusal(f"revision {to} of deployment {req.where} is not in its history (revisions: {known}); "
                      "its ReplicaSet may have been garbage-collected (revisionHistoryLimit)")
    rs = history[to]
    template = without_hash((rs.get("spec") or {}).get("template"))
    noop = None
    if template == without_hash((dep.get("spec") or {}).get("template")):
        noop = f"the pod template of deployment {req.where} already matches revision {to}"
    dep_ann = dep["metadata"].get("annotations") or {}
    annotations = {k: v for k, v in dep_ann.items() if k in _SKIP}
    annotations.update({k: v for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items()
                        if k not in _SKIP})
    body = [{"op": "replace", "path": "/spec/template", "value": template},
            # JSON patch "replace" needs an existing member; a deployment without annotations gets "add".
            {"op": "replace" if "annotations" in dep["metadata"] else "add", "path": "/metadata/annotations",
             "value": annotations}]
    images = {c.get("name"): c.get("image") for c in (template.get("spec") or {}).get("containers") or []}
    # The controller renumbers the restored ReplicaSet; its name finds it again after a crash.
    observed = {"from_revision": current, "to_replicaset": rs["metadata"].get("name")}
    return _patch(kube, req, body, JSON_PATCH, observed=observed, pinned={"to_revision": to}, noop=noop,
                  before={"revision": current, "images": _images(dep)},
                  after=lambda d: {"to_revision": to, "images": _images(d), "replicaset": rs["metadata"].get("name"),
                                   "target_images": images})


def _images(dep: dict[str, Any]) -> dict[str, Any]:
    spec = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {c.get("name"): c.get("image") for c in spec.get("containers") or []}
