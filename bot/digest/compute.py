"""The Digest of one ISO week, computed from the database (and the knowledge base's runbooks).

Percentiles are nearest-rank: the p-th percentile of n values is the ceil(p·n/100)-th smallest, a
value that actually occurred (the median of 4 values is the 2nd, the p90 of 8 values the 8th).
Timings are per incident opened in the week: to the first diagnosis (when it reached its thread,
else when it was recorded), to the first human action (see bot.digest.facts), and to resolve (a
resolved alert; incidents still open or expired by the ageing rule have no resolve time).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from sqlalchemy.orm import Session, sessionmaker

from bot.digest.facts import TREND_WEEKS, Facts, aware, load, seconds
from bot.digest.model import (Correction, Count, DayCount, Digest, Knowledge, Memory, RunbookChange, Timing,
                              WeekTiming)
from bot.digest.recurring import recurring
from bot.digest.remediations import remediations
from bot.digest.runbooks import RunbookDoc
from bot.digest.scorecard import gaps, learning_queue, scorecard
from bot.digest.week import Week

NO_SERVICE = "(no service)"
NO_SEVERITY = "none"


def nearest_rank(values: Iterable[float], p: int) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[-(-p * len(ordered) // 100) - 1]


def _timing(measure: str, values: list[float]) -> Timing:
    return Timing(measure=measure, n=len(values), median_s=nearest_rank(values, 50), p90_s=nearest_rank(values, 90))


def _counts(this: Counter, last: Counter) -> list[Count]:
    rows = [Count(key=k, count=this[k], last_week=last[k]) for k in set(this) | set(last)]
    return sorted(rows, key=lambda c: (-c.count, -c.last_week, c.key))


def _by(f: Facts, key) -> list[Count]:  # noqa: ANN001 (Incident -> str)
    return _counts(Counter(map(key, f.this_week)), Counter(map(key, f.last_week)))


def timings(f: Facts) -> list[Timing]:
    first_diag, first_human, resolve = [], [], []
    for inc in f.this_week:
        posted = [aware(d.posted_at or d.created_at) for d in f.diagnoses.get(inc.id, ())]
        if posted:
            first_diag.append(seconds(inc.opened_at, min(posted)))
        if actions := f.human_actions(inc.id):
            first_human.append(seconds(inc.opened_at, actions[0]))
        if inc.resolved_at is not None:
            resolve.append(seconds(inc.opened_at, inc.resolved_at))
    return [_timing("first_diagnosis", first_diag), _timing("first_human_action", first_human),
            _timing("resolve", resolve)]


def resolve_trend(f: Facts) -> list[WeekTiming]:
    out = []
    for back in range(TREND_WEEKS - 1, -1, -1):
        w = f.week.shifted(-back)
        values = [seconds(o, r) for o, r in f.trend if r is not None and w.start_utc <= o < w.end_utc]
        t = _timing("resolve", values)
        out.append(WeekTiming(week=w.name, n=t.n, median_s=t.median_s, p90_s=t.p90_s))
    return out


def per_day(f: Facts) -> list[DayCount]:
    days = {d.isoformat(): Counter() for d in f.week.days()}
    for inc in f.this_week:
        days[aware(inc.opened_at).astimezone(f.week.tz).date().isoformat()][inc.severity or NO_SEVERITY] += 1
    return [DayCount(day=d, by_severity=dict(sorted(c.items()))) for d, c in days.items()]


def knowledge(f: Facts, runbooks: list[RunbookDoc] | None, runbooks_note: str | None) -> Knowledge:
    """New incident memories (an incident with a diagnosis is remembered when it resolves or an
    action on it succeeds: bot.incident_memory), corrected causes, runbooks added or changed."""
    memories: dict[str, Memory] = {}
    for inc in f.resolved_in_week:
        if f.diagnoses.get(inc.id):
            memories[inc.id] = Memory(incident_id=inc.id, title=f.title(inc.id), category=f.category_of(inc.id),
                                      why="resolved")
    for p in f.succeeded_in_week:
        if p.incident_id and p.incident_id not in memories and f.diagnoses.get(p.incident_id):
            memories[p.incident_id] = Memory(incident_id=p.incident_id, title=f.title(p.incident_id),
                                             category=f.category_of(p.incident_id), why="action succeeded")
    diagnosed = {d.id: d.category for ds in f.diagnoses.values() for d in ds}
    corrections = [Correction(incident_id=c.incident_id, title=f.title(c.incident_id),
                              diagnosed=diagnosed.get(c.diagnosis_id, "unknown"), corrected=c.category, by=c.actor)
                   for c in f.corrections]
    changed = None
    if runbooks is not None:
        changed = [RunbookChange(doc_id=r.doc_id, title=r.title, updated=r.updated) for r in runbooks
                   if r.updated_within(f.week.start_utc, f.week.end_utc)]
    return Knowledge(memories=list(memories.values()), corrections=corrections, runbooks=changed,
                     runbooks_note=runbooks_note)


def compute(factory: sessionmaker[Session], week: Week, runbooks: list[RunbookDoc] | None = None,
            runbooks_note: str | None = None) -> Digest:
    """Every figure of `week` except the summary (bot.digest.summary). `runbooks` None: the
    knowledge base could not be read (`runbooks_note` says why), so runbook rules are not applied."""
    with factory() as s:
        f = load(s, week)
        return Digest(
            week=week.name, timezone=str(week.tz.key), start=week.start, end=week.end,
            incidents=len(f.this_week), incidents_last_week=len(f.last_week),
            by_service=_by(f, lambda i: i.service or NO_SERVICE), by_category=_by(f, lambda i: f.category_of(i.id)),
            by_severity=_by(f, lambda i: i.severity or NO_SEVERITY), per_day=per_day(f), timing=timings(f),
            resolve_trend=resolve_trend(f), recurring=recurring(f, runbooks), remediations=remediations(f),
            scorecard=scorecard(f), learning_queue=learning_queue(f), knowledge=knowledge(f, runbooks, runbooks_note),
            gaps=gaps(f))
