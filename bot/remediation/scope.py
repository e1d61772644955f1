"""Re-check, at proposal time, that an action stays inside its incident.

The agents coordinator already filtered the engine's proposals; this second, independent gate
works only from what is stored: the scope recorded with the diagnosis, which code computed from
the trigger alone (agents.scope) before any engine ran. The diagnosis's component and evidence,
which a model writes, play no part, so a model that was told by a log line to act elsewhere
cannot get a button for it, whatever it looked at or wrote.
"""
from __future__ import annotations

from dataclasses import dataclass

from agents.scope import OUTSIDE, TriggerScope


def is_node_action(action_type: str) -> bool:
    return action_type.endswith("_node")


@dataclass
class IncidentScope:
    scope: TriggerScope | None = None
    unknown: str | None = None       # why there is no scope at all (everything is refused)

    @classmethod
    def load(cls, incident, diagnosis, namespace_allowlist: tuple[str, ...] = ()) -> "IncidentScope":  # noqa: ANN001
        if diagnosis is None:
            return cls.none("no incident or diagnosis to scope the action to" if incident is None
                            else "no diagnosis to scope the action to")
        if not isinstance(diagnosis.scope, dict):
            return cls.none(f"{OUTSIDE}: diagnosis {diagnosis.id} has no recorded action scope")
        scope = TriggerScope.from_dict(diagnosis.scope, namespace_allowlist)
        if incident is not None and incident.namespace and scope.namespace not in (None, incident.namespace):
            return cls.none(f"diagnosis scope ({scope.namespace}) does not match incident {incident.id}")
        return cls(scope=scope)

    @classmethod
    def none(cls, why: str) -> "IncidentScope":
        return cls(unknown=why)

    def refusal(self, action_type: str, target: str, namespace: str | None) -> str | None:
        """None if the action is inside this incident, else why not."""
        if self.unknown or self.scope is None:
            return self.unknown or "no scope"
        return self.scope.refusal(action_type, target, namespace)
