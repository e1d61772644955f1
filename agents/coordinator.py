"""The coordinator: the only gate between what an engine proposes and what may be offered.

The model (or offline engine) can only *propose*. Here a proposal is kept only if its action is
in the catalog, its target was actually observed by a tool in this session (or named by the
trigger), and its namespace is in scope and allowed; its risk comes from our table, never
from the engine. This is what makes prompt injection in logs unable to widen the blast radius.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from agents.diagnosis import Diagnosis, ProposedAction
from tools.taxonomy import ACTION_RISK, RISK_ORDER

NODE_ACTIONS = {"cordon_node"}
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass
class Scope:
    """What this incident is about: namespaces and object names seen in trigger and tool results."""

    namespaces: set[str] = field(default_factory=set)
    names: frozenset[str] = frozenset()
    namespace_allowlist: tuple[str, ...] = ()
    risk_overrides: dict[str, str] = field(default_factory=dict)  # namespace -> minimum risk

    def observed(self, name: str) -> bool:
        # Exact names only: "cart" is not in scope just because "cartography" was seen.
        return name in self.names


@dataclass
class Review:
    kept: list[ProposedAction]
    dropped: list[tuple[ProposedAction, str]]


def raise_risk(base: str, floor: str | None) -> str:
    if floor not in RISK_ORDER:
        return base
    return max(base, floor, key=RISK_ORDER.index)


def review(diagnosis: Diagnosis, scope: Scope) -> Review:
    kept: list[ProposedAction] = []
    dropped: list[tuple[ProposedAction, str]] = []
    seen: set[tuple[str, str, str | None]] = set()
    for p in diagnosis.proposals:
        why = _reject_reason(p, scope)
        key = (p.action_type, p.target, p.namespace)
        if why is None and key in seen:
            why = "duplicate proposal"
        if why:
            dropped.append((p, why))
            continue
        seen.add(key)
        risk = ACTION_RISK[p.action_type]
        if p.namespace:
            risk = raise_risk(risk, scope.risk_overrides.get(p.namespace))
        kept.append(p.model_copy(update={"risk": risk, "namespace": None if p.action_type in NODE_ACTIONS else p.namespace}))
    return Review(kept, dropped)


def _reject_reason(p: ProposedAction, scope: Scope) -> str | None:
    if p.action_type not in ACTION_RISK:
        return f"{p.action_type} is not a catalog action"
    if not NAME_RE.match(p.target or ""):
        return f"target {p.target!r} is not a valid object name"
    if p.action_type not in NODE_ACTIONS:
        if not p.namespace:
            return "namespaced action without a namespace"
        if p.namespace not in scope.namespaces:
            return f"namespace {p.namespace} is outside this incident's scope ({', '.join(sorted(scope.namespaces)) or 'none'})"
        if scope.namespace_allowlist and p.namespace not in scope.namespace_allowlist:
            return f"namespace {p.namespace} is not in the allowlist"
    if not scope.observed(p.target):
        return f"target {p.target} was not observed by any tool in this session"
    return None
