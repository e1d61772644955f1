"""The digest's rules on their own: verdicts from feedback, ISO weeks in a timezone, when the cron
schedule is due, and the recurring-alert suggestions."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from bot.db import transaction
from bot.digest.compute import compute
from bot.digest.facts import verdict
from bot.digest.runbooks import RunbookDoc, covering
from bot.digest.week import WeekError, check_cron, due_week, parse_week, previous_week, week_of, zone
from bot.models import AgentSession, Diagnosis, Feedback, Incident

UTC = timezone.utc
PARIS = zone("Europe/Paris")


def _fb(i: int, verdict_: str, at: int, category: str | None = None) -> Feedback:
    ts = datetime(2026, 12, 1, 10, at, tzinfo=UTC)
    return Feedback(id=i, diagnosis_id="d", actor=f"slack:U{i}", platform="slack", verdict=verdict_,
                    category=category, created_at=ts, updated_at=ts)


def test_verdict_is_the_majority_and_a_tie_goes_to_the_latest():
    assert verdict([]) == ("unknown", None)
    assert verdict([_fb(1, "right", 1), _fb(2, "right", 2), _fb(3, "wrong", 3, "dns_failure")]) == ("right", None)
    assert verdict([_fb(1, "wrong", 5, "dns_failure"), _fb(2, "right", 1)]) == ("wrong", "dns_failure")  # tie: latest
    assert verdict([_fb(1, "wrong", 1, "dns_failure"), _fb(2, "right", 5)]) == ("right", None)
    # the corrected cause is the latest "wrong" that named one
    assert verdict([_fb(1, "wrong", 1, "oom_killed"), _fb(2, "wrong", 2, "disk_full"), _fb(3, "wrong", 3)]) == \
        ("wrong", "disk_full")


def test_weeks_are_iso_weeks_in_the_configured_timezone():
    w = parse_week("2026-W49", PARIS)
    assert (w.start.isoformat(), w.end.isoformat()) == ("2026-11-30T00:00:00+01:00", "2026-12-07T00:00:00+01:00")
    assert w.start_utc == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert parse_week("2020-W53", UTC).start.date() == date(2020, 12, 28)
    for bad in ("2026-49", "2026-W7", "2025-W53", "W49"):
        with pytest.raises(WeekError):
            parse_week(bad, UTC)
    # Sunday 23:30 UTC is already Monday in Paris: the "previous full week" differs.
    sunday_night = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert previous_week(sunday_night, UTC).name == "2026-W48"
    assert previous_week(sunday_night, PARIS).name == "2026-W49"
    # A summer-time change inside the week: the week still ends at local midnight.
    march = week_of(date(2026, 3, 25), PARIS)
    assert (march.end - march.start) == timedelta(days=7) and march.end_utc - march.start_utc == timedelta(hours=167)


def test_the_cron_schedule_says_which_week_is_due():
    cron = check_cron("0 9 * * 1")
    monday_9 = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)
    assert due_week(monday_9 - timedelta(minutes=1), cron, PARIS) is None  # not yet; last Monday's fire is old
    assert due_week(monday_9, cron, PARIS).name == "2026-W49"  # a fire exactly now counts
    assert due_week(monday_9 + timedelta(hours=23), cron, PARIS).name == "2026-W49"  # back the same day: catch up
    assert due_week(monday_9 + timedelta(hours=25), cron, PARIS) is None  # a day late: not posted by the clock
    # 09:00 in Paris is 08:00 UTC: in UTC terms the same instant fires
    assert due_week(datetime(2026, 12, 7, 8, 0, tzinfo=UTC), cron, PARIS).name == "2026-W49"
    assert due_week(datetime(2026, 12, 7, 8, 0, tzinfo=UTC), cron, UTC) is None  # an hour before 09:00 UTC
    # a Sunday-evening schedule posts the week that is ending only once it is over: the one before
    assert due_week(datetime(2026, 12, 6, 18, 0, tzinfo=UTC), "0 18 * * 0", UTC).name == "2026-W48"
    for bad in ("0 9 * *", "* * * * * */5", "61 9 * * 1", "every monday"):
        with pytest.raises(WeekError):
            check_cron(bad)


def _rb(title: str, categories=(), services=("any",), text="") -> RunbookDoc:
    return RunbookDoc(f"rb/{title}", title, tuple(services), tuple(categories), "", text.lower())


def test_a_runbook_covers_an_alert_it_names_or_a_category_it_is_filed_under():
    docs = [_rb("Triage", ["unknown"], text="Any alert."), _rb("Pool", ["connection_pool_exhausted"], ["payments"]),
            _rb("Certs", [], text="When `CertExpiringSoon` or KubeClientCertificateExpiration fires")]
    assert covering(docs, "CertExpiringSoon", "web", ["unknown"]).title == "Certs"
    assert covering(docs, "CertExpiring", "web", ["unknown"]) is None  # a whole word, not a prefix
    assert covering(docs, "HikariPending", "payments", ["connection_pool_exhausted"]).title == "Pool"
    assert covering(docs, "HikariPending", "checkout", ["connection_pool_exhausted"]) is None  # other service
    assert covering(docs, "Anything", "web", ["unknown"]) is None  # the generic triage runbook does not count


def _incident(s, n: int, opened: datetime, minutes: int | None, category: str, alert: str = "FlappyProbe") -> None:
    iid = f"i{n}"
    s.add(Incident(id=iid, source="alertmanager", alert_name=alert, namespace="web", service="front",
                   severity="warning", status="resolved" if minutes is not None else "open", labels={},
                   opened_at=opened, resolved_at=opened + timedelta(minutes=minutes) if minutes is not None else None))
    s.add(AgentSession(id=f"s{n}", incident_id=iid, trigger="alert", engine="offline", status="succeeded",
                       started_at=opened))
    s.flush()
    s.add(Diagnosis(id=f"d{n}", session_id=f"s{n}", incident_id=iid, category=category, summary="x", confidence=0.6,
                    created_at=opened + timedelta(minutes=1)))


@pytest.mark.parametrize("minutes,categories,reasons", [
    ((45, 50, None), ("probe_failure",) * 3, ["nobody acted on any"]),
    ((45, 50, 60), ("unknown",) * 3, ["nobody acted on any", "every diagnosis was unknown"]),
    ((2, 3, 4), ("probe_failure",) * 3, ["all 3 resolved within 10 min", "nobody acted on any"]),
])
def test_noisy_rules(migrated, minutes, categories, reasons):
    _, factory = migrated
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    with transaction(factory) as s:
        for n, (m, c) in enumerate(zip(minutes, categories)):
            _incident(s, n, monday + timedelta(days=n), m, c)
    [group] = compute(factory, parse_week("2026-W49", zone("UTC")), []).recurring
    assert group.reasons == reasons and group.suggestions == ["noisy", "runbook_missing"]


def test_two_incidents_are_recurring_but_never_noisy_and_feedback_counts_as_acting(migrated):
    _, factory = migrated
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    with transaction(factory) as s:
        for n in range(2):
            _incident(s, n, monday + timedelta(days=n), 2, "unknown")
        _incident(s, 5, monday, 2, "unknown", alert="Lonely")  # one incident: not recurring
    with transaction(factory) as s:
        s.add(Feedback(diagnosis_id="d0", incident_id="i0", actor="slack:U1", platform="slack", verdict="right",
                       created_at=monday, updated_at=monday))
    [group] = compute(factory, parse_week("2026-W49", zone("UTC")), [_rb("Flappy", text="FlappyProbe")]).recurring
    assert (group.alert_name, group.incidents, group.acted_on, group.reasons, group.suggestions, group.runbook) == \
        ("FlappyProbe", 2, 1, [], [], "Flappy")


def test_a_periodic_run_acts_for_its_own_period_on_both_job_backends():
    from bot.jobs.tasks import period_start

    monday_9 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    # Procrastinate passes the cron timestamp it deferred the job for; the local runner its period number
    assert period_start({"period": 29_000_000, "seconds": 60.0, "timestamp": int(monday_9.timestamp())}) == monday_9
    assert period_start({"period": int(monday_9.timestamp() // 60), "seconds": 60.0}) == monday_9
    assert abs(period_start({}) - datetime.now(UTC)) < timedelta(seconds=5)
