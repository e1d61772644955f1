"""The remediation actions the bot may offer: risk, reversibility, undo and parameters.

Parameters marked `readOnly` are not chosen by anyone: the executor writes what it observed
(current replicas, revision, previous resources, the pod's owner) into the request during the
dry run and the execution, so the request alone says exactly what changed and how to undo it,
and it survives being stored with the approval.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.taxonomy import ACTION_DESCRIPTIONS, ACTION_RISK, RISK_ORDER

RISKS: tuple[str, ...] = RISK_ORDER


@dataclass(frozen=True)
class ActionSpec:
    type: str
    risk: str
    reversible: bool
    undo: str | None
    description: str
    params_schema: dict[str, Any] = field(default_factory=dict)
    # Cluster-scoped actions (nodes) take no namespace and ignore the namespace allowlist.
    namespaced: bool = True
    kind: str = "deployment"


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _observed(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "readOnly": True, "description": f"filled by the executor: {description}"}


_QUANTITY = {"type": ["string", "null"], "description": "Kubernetes quantity; null removes the value"}

_SPECS: tuple[tuple[str, bool, str | None, dict[str, Any], bool, str], ...] = (
    ("restart_deployment", False, None, _schema({
        "restarted_at": _observed({"type": "string"}, "the kubectl.kubernetes.io/restartedAt value set"),
    }), True, "deployment"),
    ("scale_deployment", True, "scale_deployment", _schema({
        "replicas": {"type": "integer", "minimum": 0, "description": "desired replicas (within configured bounds)"},
        "from_replicas": _observed({"type": "integer", "minimum": 0}, "replicas before the change"),
    }, ("replicas",)), True, "deployment"),
    ("rollback_deployment", True, "rollback_deployment", _schema({
        "to_revision": {"type": "integer", "minimum": 1,
                        "description": "ReplicaSet revision to restore; default: the one before the current"},
        "from_revision": _observed({"type": "integer", "minimum": 1}, "the revision that was current"),
        "to_replicaset": _observed({"type": "string"}, "the ReplicaSet whose pod template is restored"),
    }), True, "deployment"),
    ("delete_pod", False, None, _schema({
        "pod_uid": _observed({"type": "string"}, "uid of the deleted pod"),
        "owner": _observed({"type": "object"}, "controller of the pod: kind, name, uid"),
        "deleted_at": _observed({"type": "string"}, "the pod's deletionTimestamp set by the API server"),
    }), True, "pod"),
    ("cordon_node", True, "uncordon_node", _schema({}), False, "node"),
    ("uncordon_node", True, "cordon_node", _schema({}), False, "node"),
    ("set_resources", True, "set_resources", _schema({
        "container": {"type": "string", "description": "container name; default: the only/first container"},
        "cpu_request": _QUANTITY, "cpu_limit": _QUANTITY, "memory_request": _QUANTITY, "memory_limit": _QUANTITY,
        "previous": _observed({"type": "object"}, "values before the change, null where unset"),
    }), True, "deployment"),
)

_EXTRA_DESCRIPTIONS = {"uncordon_node": "mark a node schedulable again (undo of cordon_node)"}

CATALOG: dict[str, ActionSpec] = {
    name: ActionSpec(type=name, risk=ACTION_RISK.get(name, "MEDIUM"), reversible=reversible, undo=undo,
                     description=ACTION_DESCRIPTIONS.get(name) or _EXTRA_DESCRIPTIONS[name],
                     params_schema=schema, namespaced=namespaced, kind=kind)
    for name, reversible, undo, schema, namespaced, kind in _SPECS
}

RESOURCE_PARAMS: tuple[str, ...] = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")


def user_params(action_type: str) -> tuple[str, ...]:
    """The parameters a proposal may set (everything that is not filled in by the executor)."""
    props = CATALOG[action_type].params_schema.get("properties", {})
    return tuple(k for k, v in props.items() if not v.get("readOnly"))
