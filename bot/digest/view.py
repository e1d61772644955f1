"""The digest's wording, once for every surface: a header, the summary paragraph and titled
sections of plain-text lines. Renderers only lay these out and escape them for their platform, so
Slack, Teams and the console say the same thing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.digest.model import Count, Digest, Score, Timing
from bot.digest.recurring import QUICK
from bot.digest.scorecard import LOW_CONFIDENCE
from tools.taxonomy import category_label

TOP = 8  # entries per "by …" line and score lines per dimension
MEASURES = {"first_diagnosis": "To first diagnosis", "first_human_action": "To first human action",
            "resolve": "To resolve"}
SUGGESTIONS = {"noisy": "noisy: tune it", "runbook_missing": "a runbook is missing"}


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DigestView:
    header: str
    period: str
    summary: str
    summary_by: str
    sections: list[Section]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m}m" + (f" {r}s" if r else "")
    if s < 86400:
        h, r = divmod(s // 60, 60)
        return f"{h}h" + (f" {r}m" if r else "")
    d, r = divmod(s // 3600, 24)
    return f"{d}d" + (f" {r}h" if r else "")


def label(category: str) -> str:
    return "Undiagnosed" if category == "undiagnosed" else category_label(category)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def change(n: int) -> str:
    return f"+{n}" if n > 0 else f"−{-n}" if n < 0 else "="


def _counts(title: str, rows: list[Count], name=lambda k: k) -> str:  # noqa: ANN001
    shown = ", ".join(f"{name(c.key)} {c.count} ({change(c.change)})" for c in rows[:TOP])
    more = f", and {len(rows) - TOP} more" if len(rows) > TOP else ""
    return f"{title}: {shown or 'none'}{more}"


def _timing(t: Timing) -> str:
    if not t.n:
        return f"{MEASURES[t.measure]}: no incident had one"
    return f"{MEASURES[t.measure]}: {duration(t.median_s)} / {duration(t.p90_s)} ({plural(t.n, 'incident')})"


def _score(s: Score, name: str) -> str:
    confirmed = f", {s.confirmed_by_action} confirmed by an action that resolved the alert" \
        if s.confirmed_by_action else ""
    return f"{name}: {plural(s.diagnoses, 'diagnosis', 'diagnoses')} — {s.right} right, {s.wrong} wrong, " \
           f"{s.unknown} unknown{confirmed}"


def _where(namespace: str | None, service: str | None) -> str:
    return "/".join(p for p in (namespace, service) if p)


def incidents(d: Digest) -> Section:
    head = f"{plural(d.incidents, 'incident')}, {d.incidents_last_week} last week " \
           f"({change(d.incidents - d.incidents_last_week)})"
    return Section("incidents", "Incidents", [head, _counts("By service", d.by_service),
                                              _counts("By category", d.by_category, label),
                                              _counts("By severity", d.by_severity)])


def timing(d: Digest) -> Section:
    lines = [_timing(t) for t in d.timing]
    seen = [w for w in d.resolve_trend if w.n][-4:]
    if seen:
        lines.append("Resolve median by week: " + ", ".join(f"{w.week} {duration(w.median_s)}" for w in seen))
    return Section("timing", "Timing (median / p90)", lines)


def recurring(d: Digest) -> Section:
    lines = []
    for r in d.recurring:
        where = _where(r.namespace, r.service)
        facts = (f"{plural(r.incidents, 'incident')}; {r.resolved_quickly} resolved within "
                 f"{int(QUICK.total_seconds() // 60)} min, {r.acted_on} acted on, {r.unknown} diagnosed unknown.")
        says = []
        if "noisy" in r.suggestions:
            says.append(f"Noisy: tune it ({'; '.join(r.reasons)}).")
        if "runbook_missing" in r.suggestions:
            says.append("A runbook is missing.")
        elif r.runbook:
            says.append(f"Runbook: {r.runbook}.")
        elif not r.runbooks_known:
            says.append("Runbooks not checked (knowledge base unavailable).")
        lines.append(" ".join([f"{r.alert_name}{' ' + where if where else ''}: {facts}", *says]))
    return Section("recurring", "Recurring alerts", lines or ["No alert opened more than one incident."])


def remediations(d: Digest) -> Section:
    r = d.remediations
    head = (f"{r.proposed} proposed: {r.approved} approved ({r.succeeded} succeeded, {r.failed} failed), "
            f"{r.rejected} rejected, {r.expired} expired, {r.awaiting} awaiting a decision")
    if r.not_offered:
        head += f"; {r.not_offered} not offered (validation or dry run failed)"
    lines = [head]
    if r.approvers:
        votes = [(a.who, [f"{n} {verb}" for n, verb in ((a.approved, "approved"), (a.rejected, "rejected")) if n])
                 for a in r.approvers]
        lines.append("Approvers: " + "; ".join(f"{who} {', '.join(said)}" for who, said in votes))
    for e in r.executed:
        who = f"approved by {', '.join(e.approvers)}" if e.approvers else "auto-approved (LOW risk)"
        after = {True: "the alert resolved afterwards", False: "the alert did not resolve in time afterwards",
                 None: "whether the alert resolved is not known yet"}[e.alert_resolved]
        lines.append(f"{e.action}: {e.state}, {who}; {after}")
    return Section("remediations", "Remediations", lines)


def scorecard(d: Digest) -> Section:
    t = d.scorecard.total
    judged = t.right + t.wrong
    share = f" Right in {round(100 * t.right / judged)}% of those judged." if judged else ""
    head = (f"{plural(t.diagnoses, 'diagnosis', 'diagnoses')}: {t.right} confirmed right, {t.wrong} marked wrong, "
            f"{t.unknown} unknown (no feedback); {t.confirmed_by_action} confirmed by an action that resolved "
            f"the alert.{share}")
    lines = [head] + [_score(s, f"Category {label(s.key)}") for s in d.scorecard.by_category[:TOP]]
    lines += [_score(s, f"Alert {s.key}") for s in d.scorecard.by_alert[:TOP]]
    return Section("scorecard", "Scorecard", lines)


def learning(d: Digest) -> Section:
    lines = []
    for item in d.learning_queue:
        actual = f", actually {label(item.corrected)}" if item.corrected else ""
        notes = f" — {'; '.join(f'“{n}”' for n in item.notes)}" if item.notes else ""
        lines.append(f"{item.title} (incident {item.incident_id}): diagnosed {label(item.diagnosed)}{actual}{notes} "
                     f"(marked wrong by {', '.join(item.by)})")
    return Section("learning", "Learning queue (marked wrong)", lines or ["Nothing was marked wrong."])


def knowledge(d: Digest) -> Section:
    k = d.knowledge
    mems = ", ".join(f"{m.title} ({label(m.category)})" for m in k.memories[:5])
    more = f", and {len(k.memories) - 5} more" if len(k.memories) > 5 else ""
    lines = [f"{plural(len(k.memories), 'new incident memory', 'new incident memories')}"
             + (f": {mems}{more}" if mems else "")]
    lines += [f"Corrected cause: {c.title}: {label(c.diagnosed)} → {label(c.corrected)} (by {c.by})"
              for c in k.corrections]
    if k.runbooks is None:
        lines.append(f"Runbooks: not known ({k.runbooks_note or 'knowledge base unavailable'})")
    else:
        titles = ", ".join(r.title for r in k.runbooks)
        lines.append(f"{plural(len(k.runbooks), 'runbook')} added or changed" + (f": {titles}" if titles else ""))
    return Section("knowledge", "Knowledge learned", lines)


def gaps(d: Digest) -> Section:
    lines = []
    for g in d.gaps:
        what = plural(g.weak, "diagnosis", "diagnoses") if g.category == "unknown" else \
            f"{g.weak} of {plural(g.diagnoses, 'diagnosis', 'diagnoses')} below {LOW_CONFIDENCE:.0%} confidence"
        lines.append(f"{label(g.category)}: {what} (alerts: {', '.join(g.alerts)})")
    return Section("gaps", "Gaps", lines or ["No category was diagnosed unknown or with low confidence."])


def view(d: Digest) -> DigestView:
    last = d.end.date() - timedelta(days=1)
    period = f"{d.start:%a} {d.start.day} {d.start:%b} – {last:%a} {last.day} {last:%b %Y} ({d.timezone})"
    return DigestView(header=f"Weekly digest · {d.week}", period=period, summary=d.summary, summary_by=d.summary_by,
                      sections=[incidents(d), timing(d), recurring(d), remediations(d), scorecard(d), learning(d),
                                knowledge(d), gaps(d)])
