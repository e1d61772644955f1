"""k8s_deployments: replica counts, conditions, images and rollout history from ReplicaSets.

The rollout history is what change correlation needs: each ReplicaSet owned by a deployment
carries the revision annotation, its pod template's images and its creation time, so "revision
7 (image v2.3) was created 4 minutes before the alert" can be read straight off the result.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import Kube
from tools.k8s.compact import ago, as_int, conditions, images, owner_uid, prune
from tools.k8s.selectors import label_selector_string
from tools.k8s.template_diff import restart_only, template_changes

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HISTORY_KEPT = 5


async def read_deployments(kube: Kube, now: datetime, namespace: str, name: str | None = None) -> ToolResult:
    base = f"/apis/apps/v1/namespaces/{namespace}"
    rs_path = f"{base}/replicasets"
    if name:
        deps = [await kube.json(f"{base}/deployments/{name}", kube.apps.read_namespaced_deployment,
                                name=name, namespace=namespace)]
        selector = label_selector_string((deps[0].get("spec") or {}).get("selector")) or None
        rs_body = await kube.json(rs_path, kube.apps.list_namespaced_replica_set, namespace=namespace,
                                  label_selector=selector)
    else:
        body = await kube.json(f"{base}/deployments", kube.apps.list_namespaced_deployment, namespace=namespace)
        deps = body.get("items") or []
        if not deps:
            return ToolResult(status="no_data", summary=f"no deployments in namespace {namespace}")
        rs_body = await kube.json(rs_path, kube.apps.list_namespaced_replica_set, namespace=namespace)
    by_owner: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rs in rs_body.get("items") or []:
        uid = owner_uid(rs.get("metadata") or {}, "Deployment")
        if uid:
            by_owner[uid].append(rs)
    views = [deployment_view(d, by_owner.get(d["metadata"].get("uid"), []), now) for d in deps]
    views.sort(key=lambda v: (not v.get("problems"), v["name"]))
    bad = [v for v in views if v.get("problems")]
    summary = f"{len(views)} deployment(s) in {namespace}, {len(bad)} with problems"
    details = [_line(v) for v in (bad or views)[:4]]
    if details:
        summary += ": " + "; ".join(details)
    return ToolResult(status="ok", data={"namespace": namespace, "deployments": views}, summary=summary)


def deployment_view(dep: dict[str, Any], replicasets: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas", 1)
    template = spec.get("template") or {}
    replicas = {"desired": desired, "updated": status.get("updatedReplicas", 0), "ready": status.get("readyReplicas", 0),
                "available": status.get("availableReplicas", 0), "unavailable": status.get("unavailableReplicas", 0)}
    ordered = sorted(replicasets, key=lambda rs: as_int(((rs.get("metadata") or {}).get("annotations") or {})
                                                     .get(REVISION)) or 0, reverse=True)
    history = [_rs_view(rs, now) for rs in ordered]
    for view, rs, older in zip(history, ordered, ordered[1:]):
        # What a rollback to the older revision would undo; nothing when only restartedAt changed.
        old_t, new_t = (older.get("spec") or {}).get("template"), (rs.get("spec") or {}).get("template")
        if restart_only(old_t, new_t):
            view["restart_only"] = True
            view["changes"] = ["restartedAt only (kubectl rollout restart): same pod template as the previous revision"]
        else:
            view["changes"] = template_changes(old_t, new_t)
    view = prune({
        "name": meta.get("name"),
        "replicas": replicas,
        "generation": meta.get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "paused": spec.get("paused"),
        "strategy": (spec.get("strategy") or {}).get("type"),
        "images": images(template.get("spec")),
        "revision": as_int((meta.get("annotations") or {}).get(REVISION)),
        "restarted_at": (template.get("metadata") or {}).get("annotations", {}).get(RESTARTED_AT),
        "created": meta.get("creationTimestamp"),
        "conditions": conditions(status.get("conditions")),
        "rollout_history": history[:HISTORY_KEPT],
    })
    if len(history) > HISTORY_KEPT:
        view["older_revisions_omitted"] = len(history) - HISTORY_KEPT
    if history:
        newest = history[0]
        view["latest_change"] = prune({
            "revision": newest.get("revision"), "created": newest.get("created"),
            "age": ago(newest.get("created"), now), "image_changes": _image_changes(history)})
    view["problems"] = _problems(view, desired)
    return view


def _rs_view(rs: dict[str, Any], now: datetime) -> dict[str, Any]:
    meta, spec, status = rs.get("metadata") or {}, rs.get("spec") or {}, rs.get("status") or {}
    ann = meta.get("annotations") or {}
    return prune({
        "revision": as_int(ann.get(REVISION)),
        "name": meta.get("name"),
        "created": meta.get("creationTimestamp"),
        "age": ago(meta.get("creationTimestamp"), now),
        "images": images((spec.get("template") or {}).get("spec")),
        "replicas": spec.get("replicas", 0),
        "ready": status.get("readyReplicas", 0),
        "available": status.get("availableReplicas", 0),
        "change_cause": ann.get(CHANGE_CAUSE),
    })


def _image_changes(history: list[dict[str, Any]]) -> list[str]:
    if len(history) < 2:
        return []
    new, old = history[0].get("images", {}), history[1].get("images", {})
    return [f"{c}: {old.get(c, '(none)')} -> {img}" for c, img in new.items() if old.get(c) != img]


def _problems(view: dict[str, Any], desired: int) -> list[str]:
    problems = []
    r = view["replicas"]
    if r["available"] < desired:
        problems.append(f"available {r['available']}/{desired}")
    if r["unavailable"]:
        problems.append(f"unavailable={r['unavailable']}")
    if r["updated"] < desired:
        problems.append(f"updated {r['updated']}/{desired}")
    for c in view.get("conditions", []):
        if c.get("status") != "True":
            problems.append(f"{c['type']}={c.get('status')}" + (f" ({c['reason']})" if c.get("reason") else ""))
    gen, seen = view.get("generation"), view.get("observed_generation")
    if gen and seen and seen < gen:
        problems.append("rollout not yet observed by controller")
    return problems


def _line(v: dict[str, Any]) -> str:
    r = v["replicas"]
    text = f"{v['name']} {r['available']}/{r['desired']} available"
    if v.get("problems"):
        text += f" [{', '.join(v['problems'][:3])}]"
    change = v.get("latest_change")
    if change:
        text += f"; newest revision {change.get('revision')} created {change.get('created')}"
        if change.get("age"):
            text += f" ({change['age']})"
        if change.get("image_changes"):
            text += f", {'; '.join(change['image_changes'])}"
    return text
