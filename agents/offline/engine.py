"""OfflineEngine: a deterministic diagnosis from tool results alone, no model involved.

Three roles, in order:
  1. monitoring analysis  - gather what is abnormal (gather.py), scoped from the trigger (scope.py)
  2. fault diagnosis      - score every taxonomy category from the facts (rules*.py), pick the best
  3. remediation          - the catalog action for it, with parameters from the evidence (remedy.py)
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from agents.diagnosis import Diagnosis
from agents.offline import explain
from agents.offline.alerttext import alert_rows
from agents.offline.facts import Row
from agents.offline.features import Facts, Obs, extract, parse_time
from agents.offline.heartbeat import heartbeat_kind, heartbeat_summary
from agents.offline.gather import Gatherer
from agents.offline.remedy import propose
from agents.offline.rules import RULES
from agents.offline.scope import Scope, scope_from_trigger
from agents.offline.signals import Ctx, Hypothesis
from agents.offline.subject import merge_subject
from agents.toolrunner import ToolRunner
from agents.trigger import Trigger
from tools.taxonomy import CATEGORIES

if TYPE_CHECKING:
    from agents.scope import TriggerScope

log = logging.getLogger(__name__)
MIN_SCORE = 0.35         # below this the best hypothesis is a guess
TIE_MARGIN = 0.07        # two hypotheses this close ...
TIE_CEILING = 0.6        # ... with evidence this thin make the answer "unknown"
PRIOR_PER_INCIDENT = 0.03
PRIOR_CAP = 0.06


class OfflineEngine:
    name = "offline"

    async def diagnose(self, trigger: Trigger, runner: ToolRunner, unavailable: dict[str, str],
                       subject: "TriggerScope | None" = None) -> Diagnosis:
        kind = heartbeat_kind(trigger)
        if kind is not None:   # fires by design: nothing to investigate, nothing to propose
            return Diagnosis(category="unknown", component=trigger.alert.name if trigger.alert else None,
                             confidence=0.9, summary=heartbeat_summary(trigger, kind))
        scope = scope_from_trigger(trigger)
        merge_subject(scope, subject if subject is not None else await _resolve(trigger, runner))
        g = Gatherer(runner, unavailable)
        now = trigger.at or datetime.now(timezone.utc)
        rows = alert_rows(trigger, scope.nodes[0] if scope.nodes else None)

        # -- 1. monitoring analysis --------------------------------------------------------
        g.set_window(scope, now)
        calls = g.subject_calls(scope) + g.cluster_calls(scope)
        if scope.namespace:
            calls += g.namespace_calls(scope.namespace, scope, now)
        await g.batch("monitoring analysis: the alert's subject, cluster-wide signals and its namespace", calls)
        facts = await asyncio.to_thread(self._facts, g, now, trigger, rows)
        resolve_scope(scope, facts)
        if scope.namespace not in g.done_namespaces:
            await g.batch(f"monitoring analysis: namespace {scope.namespace or '(all)'}",
                          g.namespace_calls(scope.namespace, scope, facts.now))
            facts = await asyncio.to_thread(self._facts, g, now, trigger, rows)
            resolve_scope(scope, facts)
        missing = g.missing_subject_pods(scope, facts)
        if missing:
            await g.batch("monitoring analysis: the subject's pods the namespace listing left out", missing)
            facts = await asyncio.to_thread(self._facts, g, now, trigger, rows)
        prelim = await asyncio.to_thread(score, Ctx(facts, scope))  # CPU work stays off the event loop
        targeted = g.targeted_calls(scope, facts)
        if g.available("search_knowledge"):
            targeted.append(("search_knowledge", {"query": knowledge_query(trigger, prelim), "limit": 5}, ""))
        await g.batch("monitoring analysis: the subject's containers and logs, error sources, past incidents",
                      targeted)
        facts = await asyncio.to_thread(self._facts, g, now, trigger, rows)
        for label in ("dependencies the subject's own logs point at", "logs of failing dependencies"):
            follow = g.dependency_calls(scope, facts)
            if not follow:
                break
            await g.batch(f"monitoring analysis: {label}", follow)
            facts = await asyncio.to_thread(self._facts, g, now, trigger, rows)

        # -- 2. fault diagnosis -------------------------------------------------------------
        g.step += 1
        runner.tracer.step(g.step, None, "fault diagnosis: scoring every category")
        ctx = Ctx(facts, scope)
        hyps = await asyncio.to_thread(score, ctx)
        apply_prior(hyps, facts)
        chosen, runner_up = choose(hyps)
        confidence = calibrate(chosen, hyps)

        # -- 3. remediation -----------------------------------------------------------------
        proposals = propose(chosen, ctx) if chosen.category != "unknown" else []
        missing = explain.unavailable_sources({**g.down, **unavailable}, facts)
        return Diagnosis(
            category=chosen.category, component=chosen.component, confidence=confidence,
            summary=explain.summary(chosen, ctx, proposals, missing, runner_up),
            evidence=explain.evidence(chosen),
            ruled_out=explain.ruled_out(chosen, [h for h in hyps if h is not chosen]),
            timeline=explain.timeline(chosen, ctx), similar_incidents=explain.similar(facts),
            proposals=proposals, unavailable_sources=missing)

    @staticmethod
    def _facts(g: Gatherer, now: datetime, trigger: Trigger, rows: list[Row]) -> Facts:
        facts = extract(g.obs, trigger.at or observed_now(g.obs) or now)
        for r in rows:
            facts.rows[r.name].append(r)
        return facts


async def _resolve(trigger: Trigger, runner: ToolRunner) -> "TriggerScope | None":
    """The action scope's subject, when the session did not pass it (the engine run on its own)."""
    from agents.scope import resolve_scope as resolve_trigger_scope  # agents.scope imports this package

    try:
        return await resolve_trigger_scope(trigger, runner.registry)
    except Exception:  # the subject helps; its absence must not cost the diagnosis
        log.exception("subject resolution failed")
        return None


def observed_now(obs: list[Obs]) -> datetime | None:
    """The tools' notion of now (a replayed incident's moment), read from their results."""
    for o in obs:
        d = o.result.data if isinstance(o.result.data, dict) else {}
        t = parse_time(d.get("evaluated_at")) or parse_time((d.get("window") or {}).get("end")) \
            or parse_time(d.get("at"))
        if t:
            return t
    return None


def resolve_scope(scope: Scope, facts: Facts) -> None:
    """Fill in namespace and focus from what the cluster says exists, matched against the text."""
    known_ns = {r.labels["namespace"] for r in facts.rows.get("namespaces", [])} | facts.namespaces
    if scope.namespace is None:
        for w in scope.words:
            if w in known_ns:
                scope.namespace = w
                break
    workloads = facts.workload_names()
    if not scope.focus:
        for w in scope.words:
            if w in workloads:
                scope.add_focus(w)
    if scope.namespace is None and scope.focus:
        ns = {p.namespace for p in facts.pods.values() if p.workload in scope.focus and p.namespace}
        for rows in facts.rows.values():
            for r in rows:
                if r.labels.get("namespace") and r.labels.get("pod", "").rsplit("-", 2)[0] in scope.focus:
                    ns.add(r.labels["namespace"])
        if len(ns) == 1:
            scope.namespace = ns.pop()
    if scope.namespace and scope.namespace not in scope.namespaces:
        scope.namespaces.insert(0, scope.namespace)


def score(ctx: Ctx) -> list[Hypothesis]:
    hyps = []
    for rule in RULES:
        try:
            h = rule(ctx)
        except Exception:  # one faulty rule must not cost the whole diagnosis
            log.exception("offline rule %s failed", rule.__name__)
            continue
        if h is not None and h.score > 0:
            hyps.append(h)
    return sorted(hyps, key=lambda h: (-round(h.score, 6), CATEGORIES.index(h.category)))


def apply_prior(hyps: list[Hypothesis], facts: Facts) -> None:
    """Past incidents nudge (never decide) categories the evidence already supports."""
    for h in hyps:
        if h.score < MIN_SCORE:
            continue
        n = sum(1 for k in facts.knowledge if k.get("type") == "incident" and h.category in (k.get("categories") or []))
        if n:
            h.score = min(1.0, h.score + min(PRIOR_CAP, PRIOR_PER_INCIDENT * n))
    hyps.sort(key=lambda h: (-round(h.score, 6), CATEGORIES.index(h.category)))


def choose(hyps: list[Hypothesis]) -> tuple[Hypothesis, Hypothesis | None]:
    top = hyps[0] if hyps else None
    second = hyps[1] if len(hyps) > 1 else None
    if top is None or top.score < MIN_SCORE:
        return Hypothesis("unknown", score=top.score if top else 0.0, evidence=top.evidence if top else []), top
    if second is not None and top.score - second.score < TIE_MARGIN and top.score < TIE_CEILING \
            and second.component != top.component:
        return Hypothesis("unknown", score=top.score, evidence=top.evidence + second.evidence), top
    return top, second


def calibrate(chosen: Hypothesis, hyps: list[Hypothesis]) -> float:
    """Confidence from the winning score and its margin over the runner-up; never certainty."""
    if chosen.category == "unknown":
        return round(min(0.3, 0.1 + 0.4 * chosen.score), 2)
    others = [h.score for h in hyps if h is not chosen]
    margin = chosen.score - (max(others) if others else 0.0)
    return round(max(0.05, min(0.9, 0.2 + 0.5 * chosen.score + 0.3 * margin)), 2)


def knowledge_query(trigger: Trigger, prelim: list[Hypothesis]) -> str:
    words = [trigger.alert.name if trigger.alert else "", trigger.text[:160]]
    for h in prelim[:2]:
        words.append(h.category.replace("_", " "))
        if h.evidence:
            words.append(h.evidence[0].finding[:120])
    return " ".join(w for w in words if w)[:480]
