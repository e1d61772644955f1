"""Checks that need no API call: action type, names, namespace allowlist, parameter types,
replica bounds and quantities. Anything refused here never reaches the Kubernetes API."""
from __future__ import annotations

import re
from typing import Any

from tools.actions.catalog import CATALOG, RESOURCE_PARAMS
from tools.actions.quantity import QuantityError, check
from tools.actions.requests import ActionRequest
from tools.base import ToolContext

# DNS-1123 subdomain (object names) and label (namespaces, container names): also keeps
# anything that could alter the request path ("..", "/", "?") out of it.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TYPES = {"integer": int, "string": str, "object": dict, "null": type(None)}


def validate_request(req: ActionRequest, ctx: ToolContext, scale_bounds: tuple[int, int]) -> str | None:
    spec = CATALOG.get(req.action_type) if isinstance(req.action_type, str) else None
    if spec is None:
        return f"unknown action type {req.action_type!r}; known: {', '.join(sorted(CATALOG))}"
    if not isinstance(req.target, str) or len(req.target) > 253 or not _SUBDOMAIN.match(req.target):
        return f"target {req.target!r} is not a valid Kubernetes {spec.kind} name"
    if spec.namespaced:
        ns = req.namespace
        if not isinstance(ns, str) or not ns:
            return f"{req.action_type} needs the namespace of the {spec.kind}"
        if len(ns) > 63 or not _LABEL.match(ns):
            return f"namespace {ns!r} is not a valid namespace name"
        if not ctx.namespace_allowed(ns):
            return (f"namespace {ns!r} is outside the namespace allowlist ({', '.join(ctx.namespace_allowlist)}); "
                    "the Kubernetes API was not contacted")
    elif req.namespace:
        return f"{spec.kind}s are cluster-scoped: {req.action_type} takes no namespace (got {req.namespace!r})"
    if not isinstance(req.parameters, dict):
        return "parameters must be an object"
    why = _check_schema(req.action_type, req.parameters, spec.params_schema)
    if why:
        return why
    if req.action_type == "scale_deployment":
        lo, hi = scale_bounds
        if not lo <= req.parameters["replicas"] <= hi:
            return f"replicas {req.parameters['replicas']} is outside the allowed range {lo}..{hi}"
    if req.action_type == "set_resources":
        return _check_resources(req.parameters)
    return None


def _check_schema(action: str, params: dict[str, Any], schema: dict[str, Any]) -> str | None:
    props: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(params) - set(props))
    if unknown:
        allowed = ", ".join(k for k, v in props.items() if not v.get("readOnly")) or "none"
        return f"unknown parameter(s) for {action}: {', '.join(unknown)}; allowed: {allowed}"
    for key in schema.get("required", []):
        if key not in params:
            return f"{action} needs the parameter {key!r}"
    for key, value in params.items():
        prop = props[key]
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        # bool is an int subclass in Python, never a valid integer here.
        if isinstance(value, bool) or not any(isinstance(value, _TYPES[t]) for t in types):
            return f"parameter {key!r} must be {' or '.join(types)}, got {value!r}"
        if "minimum" in prop and isinstance(value, int) and value < prop["minimum"]:
            return f"parameter {key!r} must be at least {prop['minimum']}, got {value}"
    return None


def _check_resources(params: dict[str, Any]) -> str | None:
    container = params.get("container")
    if container is not None and (len(container) > 63 or not _LABEL.match(container)):
        return f"container {container!r} is not a valid container name"
    given = [k for k in RESOURCE_PARAMS if k in params]
    if not given:
        return f"set_resources needs at least one of {', '.join(RESOURCE_PARAMS)}"
    values = {}
    for key in given:
        if params[key] is None:
            continue
        try:
            values[key] = check(key.split("_")[0], params[key])
        except QuantityError as exc:
            return f"{key}: {exc}"
    for res in ("cpu", "memory"):
        req, lim = values.get(f"{res}_request"), values.get(f"{res}_limit")
        if req is not None and lim is not None and req > lim:
            return f"{res}_request {params[res + '_request']} is above {res}_limit {params[res + '_limit']}"
    return None
