"""Re-check, at proposal time, that an action stays inside its incident.

The agents coordinator already filters proposals against what tools observed; this is the
second, independent gate, working only from what is stored: the incident (namespace, service,
alert labels) and the recorded diagnosis (component and evidence). A proposal whose namespace
is neither the incident's nor named in the evidence, or whose target is not named there, is
refused, so text injected into logs cannot point an action anywhere new.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def is_node_action(action_type: str) -> bool:
    return action_type.endswith("_node")


def _mentions(text: str, name: str) -> bool:
    # Whole-token match: "cart" is not in scope because "cartography" was seen.
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.[\w])", text) is not None


@dataclass
class IncidentScope:
    namespace: str | None = None
    evidence_text: str = ""          # diagnosis component + evidence (tool, query, finding)
    incident_text: str = ""          # incident service, title, alert labels
    namespace_allowlist: tuple[str, ...] = ()
    unknown: str | None = None       # why there is no scope at all (everything is refused)

    @classmethod
    def load(cls, incident, diagnosis, namespace_allowlist: tuple[str, ...] = ()) -> "IncidentScope":  # noqa: ANN001
        if incident is None and diagnosis is None:
            return cls.none("no incident or diagnosis to scope the action to")
        ev_parts: list[str] = []
        inc_parts: list[str] = []
        if diagnosis is not None:
            ev_parts.append(diagnosis.component or "")
            for e in diagnosis.evidence or []:
                if isinstance(e, dict):
                    ev_parts.extend(str(e.get(k) or "") for k in ("tool", "query", "finding"))
            doc = diagnosis.document or {}
            ev_parts.append(str(doc.get("component") or ""))
        if incident is not None:
            inc_parts.extend([incident.service or "", incident.namespace or ""])
            inc_parts.append(json.dumps(incident.labels or {}, sort_keys=True))
        namespace = incident.namespace if incident is not None else None
        return cls(namespace=namespace, evidence_text="\n".join(ev_parts), incident_text="\n".join(inc_parts),
                   namespace_allowlist=namespace_allowlist)

    @classmethod
    def none(cls, why: str) -> "IncidentScope":
        return cls(unknown=why)

    def refusal(self, action_type: str, target: str, namespace: str | None) -> str | None:
        """None if the action is inside this incident, else why not."""
        if self.unknown:
            return self.unknown
        if not NAME_RE.match(target or ""):
            return f"target {target!r} is not a valid object name"
        if not is_node_action(action_type):
            if not namespace:
                return "namespaced action without a namespace"
            if namespace != self.namespace and not _mentions(self.evidence_text, namespace):
                return (f"namespace {namespace} is neither the incident's ({self.namespace or 'none'}) "
                        "nor named in the diagnosis evidence")
            if self.namespace_allowlist and namespace not in self.namespace_allowlist:
                return f"namespace {namespace} is not in the allowlist"
        if not (_mentions(self.evidence_text, target) or _mentions(self.incident_text, target)):
            return f"target {target} is not named in the diagnosis evidence or the incident"
        return None
