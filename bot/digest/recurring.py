"""Recurring alerts: the week's fingerprint groups that opened more than one incident, each with a
suggestion.

A group is alert name + namespace + service: the labels that say *what* alerted. Alertmanager's own
fingerprint also covers labels such as the pod, which change with every restart, so the same
problem would never recur under it. /diagnose incidents have no alert and are left out.

Rules, in this order (both may apply):
- "noisy": it opened at least NOISY_MIN incidents and either every one resolved within QUICK of
  opening, or nobody acted on any (no approval, rejection or feedback), or every one's latest
  diagnosis was `unknown`: tune the alert (threshold, `for:` duration, routing).
- "runbook_missing": no runbook covers it (bot.digest.runbooks.covering). Not said when the
  knowledge base could not be read.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from bot.digest.facts import Facts, seconds
from bot.digest.model import RecurringAlert
from bot.digest.runbooks import RunbookDoc, covering

RECURRING_MIN = 2
NOISY_MIN = 3
QUICK = timedelta(minutes=10)
TOP = 5


def recurring(f: Facts, runbooks: list[RunbookDoc] | None) -> list[RecurringAlert]:
    groups: dict[tuple[str, str | None, str | None], list] = defaultdict(list)
    for inc in f.this_week:
        if inc.alert_name:
            groups[(inc.alert_name, inc.namespace, inc.service)].append(inc)
    ranked = sorted(((k, v) for k, v in groups.items() if len(v) >= RECURRING_MIN),
                    key=lambda kv: (-len(kv[1]), kv[0][0], kv[0][1] or "", kv[0][2] or ""))
    return [_group(f, name, ns, svc, incs, runbooks) for (name, ns, svc), incs in ranked[:TOP]]


def _group(f: Facts, name: str, ns: str | None, svc: str | None, incs: list, runbooks: list[RunbookDoc] | None
           ) -> RecurringAlert:
    n = len(incs)
    quick = sum(1 for i in incs if (t := seconds(i.opened_at, i.resolved_at)) is not None
                and t <= QUICK.total_seconds())
    acted = sum(1 for i in incs if f.human_actions(i.id))
    unknown = sum(1 for i in incs if (d := f.latest_diagnosis(i.id)) is not None and d.category == "unknown")
    reasons = []
    if n >= NOISY_MIN:
        if quick == n:
            reasons.append(f"all {n} resolved within {int(QUICK.total_seconds() // 60)} min")
        if acted == 0:
            reasons.append("nobody acted on any")
        if unknown == n:
            reasons.append("every diagnosis was unknown")
    doc = covering(runbooks, name, svc, {f.category_of(i.id) for i in incs}) if runbooks is not None else None
    suggestions = (["noisy"] if reasons else []) + (["runbook_missing"] if runbooks is not None and doc is None else [])
    return RecurringAlert(alert_name=name, namespace=ns, service=svc, incidents=n, resolved_quickly=quick,
                          acted_on=acted, unknown=unknown, runbook=doc.title if doc else None,
                          runbooks_known=runbooks is not None, suggestions=suggestions, reasons=reasons)
