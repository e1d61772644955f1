"""How often the week's diagnoses were right, which were wrong (the learning queue), and where
knowledge is thin (the gaps). Over the diagnoses *recorded* in the week that belong to an incident
(scenario replays from `chatops diagnose` have none and are left out)."""
from __future__ import annotations

from collections import defaultdict

from bot.digest.facts import Facts
from bot.digest.model import Gap, LearningItem, Score, Scorecard

COMMAND = "/diagnose"    # the "alert name" of incidents opened by a command
LOW_CONFIDENCE = 0.5     # below this a diagnosis is "low" (as the diagnosis post labels it)


def _alert_key(f: Facts, incident_id: str) -> str:
    inc = f.incidents.get(incident_id)
    return (inc.alert_name if inc is not None else None) or COMMAND


def _ranked(scores: dict[str, Score]) -> list[Score]:
    return sorted(scores.values(), key=lambda s: (-s.diagnoses, s.key))


def scorecard(f: Facts) -> Scorecard:
    total = Score(key="all")
    by_cat: dict[str, Score] = {}
    by_alert: dict[str, Score] = {}
    for d in f.week_diagnoses:
        outcome, _ = f.verdict_of(d)
        confirmed = f.confirmed(d.incident_id)
        for s in (total, by_cat.setdefault(d.category, Score(key=d.category)),
                  by_alert.setdefault(_alert_key(f, d.incident_id), Score(key=_alert_key(f, d.incident_id)))):
            s.diagnoses += 1
            setattr(s, outcome, getattr(s, outcome) + 1)
            s.confirmed_by_action += confirmed
    return Scorecard(total=total, by_category=_ranked(by_cat), by_alert=_ranked(by_alert))


def learning_queue(f: Facts) -> list[LearningItem]:
    out = []
    for d in f.week_diagnoses:
        outcome, corrected = f.verdict_of(d)
        if outcome != "wrong":
            continue
        wrong = sorted((x for x in f.feedback.get(d.id, ()) if x.verdict == "wrong"), key=lambda x: x.id)
        out.append(LearningItem(incident_id=d.incident_id, diagnosis_id=d.id, title=f.title(d.incident_id),
                                diagnosed=d.category, corrected=corrected,
                                notes=[x.note for x in wrong if x.note], by=[x.actor for x in wrong]))
    return out


def gaps(f: Facts) -> list[Gap]:
    """Categories whose diagnoses were `unknown` or below LOW_CONFIDENCE, most such first."""
    total: dict[str, int] = defaultdict(int)
    weak: dict[str, int] = defaultdict(int)
    alerts: dict[str, list[str]] = defaultdict(list)
    for d in f.week_diagnoses:
        total[d.category] += 1
        if d.category == "unknown" or d.confidence < LOW_CONFIDENCE:
            weak[d.category] += 1
            name = _alert_key(f, d.incident_id)
            if name not in alerts[d.category]:
                alerts[d.category].append(name)
    return sorted((Gap(category=c, diagnoses=total[c], weak=n, alerts=alerts[c]) for c, n in weak.items()),
                  key=lambda g: (-g.weak, g.category))
