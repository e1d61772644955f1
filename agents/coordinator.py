"""The coordinator: the only gate between what an engine proposes and what may be offered.

The model (or offline engine) can only *propose*. A proposal is kept only if its action is in the
catalog and its target is inside the scope computed from the trigger alone (agents.scope); its
risk comes from our table and the namespace floor, never from the engine. Nothing a model reads
or writes enters the scope, so a log line telling it to act on another workload gets no button.
"""
from __future__ import annotations

from dataclasses import dataclass

from agents.diagnosis import Diagnosis, ProposedAction
from agents.scope import TriggerScope
from tools.actions import CATALOG
from tools.taxonomy import ACTION_RISK, RISK_ORDER


@dataclass
class Review:
    kept: list[ProposedAction]
    dropped: list[tuple[ProposedAction, str]]


def raise_risk(base: str, floor: str | None) -> str:
    if floor not in RISK_ORDER:
        return base
    return max(base, floor, key=RISK_ORDER.index)


def review(diagnosis: Diagnosis, scope: TriggerScope) -> Review:
    kept: list[ProposedAction] = []
    dropped: list[tuple[ProposedAction, str]] = []
    seen: set[tuple[str, str, str | None]] = set()
    for p in diagnosis.proposals:
        node = CATALOG.get(p.action_type) is not None and CATALOG[p.action_type].kind == "node"
        namespace = None if node else p.namespace
        why = scope.refusal(p.action_type, p.target, namespace)
        key = (p.action_type, p.target, namespace)
        if why is None and key in seen:
            why = "duplicate proposal"
        if why:
            dropped.append((p, why))
            continue
        seen.add(key)
        risk = ACTION_RISK[p.action_type]
        if namespace:
            risk = raise_risk(risk, scope.risk_overrides.get(namespace))
        kept.append(p.model_copy(update={"risk": risk, "namespace": namespace}))
    return Review(kept, dropped)
