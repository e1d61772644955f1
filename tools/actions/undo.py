"""The request that restores what a request changed, built from the request alone.

The planners record what they observed (from_replicas, from_revision, previous) into the
request's parameters before anything is written, and those parameters are stored with the
proposal; so the executor after a write, and the reconciler after a crash, build the same undo.
"""
from __future__ import annotations

from tools.actions.catalog import CATALOG, RESOURCE_PARAMS
from tools.actions.requests import ActionRequest


def undo_request(req: ActionRequest) -> ActionRequest | None:
    """None for irreversible actions, or when what the undo needs was never observed."""
    spec = CATALOG.get(req.action_type)
    if spec is None or not spec.reversible or spec.undo is None:
        return None
    p = req.parameters
    if req.action_type == "scale_deployment":
        if p.get("from_replicas") is None:
            return None
        params = {"replicas": p["from_replicas"], "from_replicas": p.get("replicas")}
    elif req.action_type == "rollback_deployment":
        if p.get("from_revision") is None:
            return None
        params = {"to_revision": p["from_revision"]}
    elif req.action_type == "set_resources":
        if not isinstance(p.get("previous"), dict) or not p.get("container"):
            return None
        changed = {k: p[k] for k in RESOURCE_PARAMS if k in p}
        params = {"container": p["container"], **p["previous"], "previous": changed}
    else:  # cordon/uncordon: the flag alone
        params = {}
    return ActionRequest(spec.undo, req.target, req.namespace, params)
