"""Deployment actions: rollout restart, scale, container resources.

Each planner reads the current object, refuses if the change would be wrong, and returns the
exact write; the executor sends it once with dryRun=All and, after approval, for real.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from tools.actions.calls import ActionKube, Plan, Refusal
from tools.actions.catalog import RESOURCE_PARAMS
from tools.actions.quantity import QuantityError, parse
from tools.actions.requests import ActionRequest

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


async def read_deployment(kube: ActionKube, namespace: str, name: str) -> dict[str, Any]:
    return await kube.json(deployment_path(namespace, name), kube.apps.read_namespaced_deployment,
                           name=name, namespace=namespace)


def refuse_if_paused(dep: dict[str, Any], req: ActionRequest, verb: str) -> None:
    if (dep.get("spec") or {}).get("paused"):
        raise Refusal(f"deployment {req.where} is paused; resume it before you {verb} it (kubectl refuses too)")


def _patch(kube: ActionKube, req: ActionRequest, body: Any, content_type: str, **extra: Any) -> Plan:
    return Plan(method="PATCH", path=deployment_path(req.namespace or "", req.target),
                call=kube.apps.patch_namespaced_deployment,
                kwargs={"name": req.target, "namespace": req.namespace, "body": body, "_content_type": content_type},
                content_type=content_type, body=body, **extra)


async def plan_restart(kube: ActionKube, req: ActionRequest, now: datetime) -> Plan:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    refuse_if_paused(dep, req, "restart")
    value = k8s_time(now)  # as kubectl rollout restart: each restart changes the pod template
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: value}}}}}
    old = template_annotations(dep)
    return _patch(kube, req, body, STRATEGIC, observed={"restarted_at": value},
                  before={"restarted_at": old.get(RESTARTED_AT), "generation": dep["metadata"].get("generation")},
                  after=lambda d: {"restarted_at": template_annotations(d).get(RESTARTED_AT),
                                   "generation": d["metadata"].get("generation")})


def k8s_time(now: datetime) -> str:
    """A Kubernetes timestamp: RFC 3339 in whole seconds, UTC (kubectl rollout restart's format)."""
    return (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).astimezone(timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def template_annotations(dep: dict[str, Any]) -> dict[str, Any]:
    return ((((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {})


async def plan_scale(kube: ActionKube, req: ActionRequest, now: datetime) -> Plan:
    ns, name = req.namespace or "", req.target
    path = f"{deployment_path(ns, name)}/scale"
    scale = await kube.json(path, kube.apps.read_namespaced_deployment_scale, name=name, namespace=ns)
    current = (scale.get("spec") or {}).get("replicas", 0)
    target = req.parameters["replicas"]
    body = {"spec": {"replicas": target}}
    # kubectl scale sends a JSON merge patch to the scale subresource.
    return Plan(method="PATCH", path=path, call=kube.apps.patch_namespaced_deployment_scale,
                kwargs={"name": name, "namespace": ns, "body": body, "_content_type": MERGE},
                content_type=MERGE, body=body, observed={"from_replicas": current},
                noop=f"deployment {req.where} already has {target} replicas" if current == target else None,
                before={"replicas": current},
                after=lambda s: {"replicas": (s.get("spec") or {}).get("replicas")})


def pick_container(dep: dict[str, Any], wanted: str | None, where: str) -> dict[str, Any]:
    template = (dep.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        raise Refusal(f"deployment {where} has no containers")
    names = [c.get("name") for c in containers]
    if wanted is None:
        wanted = ((template.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER) or names[0]
    for c in containers:
        if c.get("name") == wanted:
            return c
    raise Refusal(f"container {wanted!r} not found in deployment {where}; its containers: {', '.join(names)}")


def resource_values(container: dict[str, Any]) -> dict[str, str | None]:
    res = container.get("resources") or {}
    out = {}
    for key in RESOURCE_PARAMS:
        kind, which = key.split("_")
        out[key] = (res.get("requests" if which == "request" else "limits") or {}).get(kind)
    return out


def same_quantity(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return parse(a) == parse(b)
    except QuantityError:
        return a == b


def resource_differences(have: dict[str, str | None], params: dict[str, Any]) -> list[str]:
    """The requested resource values (`params`) a container's values (`have`) do not equal."""
    return [f"{k} is {have[k]}, not {v}" for k, v in params.items() if k in have and not same_quantity(have[k], v)]


async def plan_set_resources(kube: ActionKube, req: ActionRequest, now: datetime) -> Plan:
    dep = await read_deployment(kube, req.namespace or "", req.target)
    container = pick_container(dep, req.parameters.get("container"), req.where)
    cname = container["name"]
    current = resource_values(container)
    changes = {k: req.parameters[k] for k in RESOURCE_PARAMS if k in req.parameters}
    merged = {**current, **changes}
    for res in ("cpu", "memory"):
        request, limit = merged[f"{res}_request"], merged[f"{res}_limit"]
        if request is None or limit is None:
            continue
        try:
            too_high = parse(request) > parse(limit)
        except QuantityError as exc:  # a value already in the cluster we cannot read
            raise Refusal(f"cannot compare {res} request and limit of container {cname}: {exc}") from None
        if too_high:
            raise Refusal(f"after the change container {cname} in deployment {req.where} would have {res} request "
                          f"{request} above its {res} limit {limit}; the apiserver requires request <= limit")
    previous = {k: current[k] for k in changes}
    resources: dict[str, dict[str, str | None]] = {}
    for key, value in changes.items():
        kind, which = key.split("_")
        resources.setdefault("requests" if which == "request" else "limits", {})[kind] = value
    # Strategic merge: containers merge by name, so the other containers stay untouched.
    body = {"spec": {"template": {"spec": {"containers": [{"name": cname, "resources": resources}]}}}}
    noop = None
    if all(same_quantity(previous[k], v) for k, v in changes.items()):
        noop = f"container {cname} in deployment {req.where} already has these resources"

    def after(d: dict[str, Any]) -> dict[str, Any]:
        for c in ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
            if c.get("name") == cname:
                return c.get("resources") or {}
        return {}

    return _patch(kube, req, body, STRATEGIC, observed={"previous": previous}, pinned={"container": cname},
                  noop=noop, before=container.get("resources") or {}, after=after)
