"""What is asked (ActionRequest) and what happened (ActionOutcome)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# set_resources parameter -> words used in descriptions.
_RESOURCE_WORDS = {"cpu_request": "cpu request", "cpu_limit": "cpu limit",
                   "memory_request": "memory request", "memory_limit": "memory limit"}


@dataclass
class ActionRequest:
    action_type: str
    target: str
    namespace: str | None
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.target}" if self.namespace else self.target

    def describe(self) -> str:
        """Exact human text. After a dry run it includes the observed current state."""
        p = self.parameters if isinstance(self.parameters, dict) else {}
        t = self.action_type
        if t == "restart_deployment":
            return f"restart deployment {self.where} (rollout restart)"
        if t == "scale_deployment":
            start = f" from {p['from_replicas']}" if p.get("from_replicas") is not None else ""
            return f"scale deployment {self.where}{start} to {p.get('replicas')} replicas"
        if t == "rollback_deployment":
            start = f" from revision {p['from_revision']}" if p.get("from_revision") is not None else ""
            to = f"revision {p['to_revision']}" if p.get("to_revision") is not None else "the previous revision"
            return f"roll back deployment {self.where}{start} to {to}"
        if t == "delete_pod":
            return f"delete pod {self.where}"
        if t == "cordon_node":
            return f"cordon node {self.target} (mark unschedulable)"
        if t == "uncordon_node":
            return f"uncordon node {self.target} (mark schedulable)"
        if t == "set_resources":
            return self._describe_resources(p)
        return f"{t} {self.where}"

    def _describe_resources(self, p: dict[str, Any]) -> str:
        container = f"container {p['container']}" if p.get("container") else "the first container"
        previous = p.get("previous") if isinstance(p.get("previous"), dict) else {}
        changes = []
        for key, words in _RESOURCE_WORDS.items():
            if key not in p:
                continue
            new = p[key] if p[key] is not None else "(unset)"
            if key in previous:
                old = previous[key] if previous[key] is not None else "(unset)"
                changes.append(f"{words} from {old} to {new}")
            else:
                changes.append(f"{words} to {new}")
        return f"set resources of {container} in deployment {self.where}: {', '.join(changes) or 'no change'}"

    def to_dict(self) -> dict[str, Any]:
        return {"action_type": self.action_type, "target": self.target, "namespace": self.namespace,
                "parameters": dict(self.parameters)}


@dataclass
class ActionOutcome:
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    # Set on executes of reversible actions: the exact request that restores the captured state.
    undo: ActionRequest | None = None
