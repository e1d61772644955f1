"""Every figure of the weekly digest, on the seeded history of tests/digest_support.py (SQLite and
PostgreSQL), against values worked out by hand from the seed tables, not by the digest's own code.

Hand computation (times UTC, week 2026-W49 = Mon 30 Nov .. Sun 6 Dec; 2026-W48 the week before):
- incidents opened in W49: a b c d e f g h = 8; in W48: l1 l2 l3 = 3 (k is in W47).
- first diagnosis (posted, else recorded, minus opened): a 3m b 2m c 4m d 4m e 6m f 11m g 6m h 4m
  (h never posted: recorded 05:04) → sorted 120 180 240 240 240 360 360 660 s; nearest-rank median
  = 4th of 8 = 240, p90 = ceil(7.2) = 8th = 660.
- first human action (approval/rejection or feedback): c 09:20 (20m), d approval 14:10 (10m), e
  approval 10:20 (20m), f rejection 02:15 (15m); a b g h none → 600 900 1200 1200; median 2nd = 900,
  p90 ceil(3.6) = 4th = 1200.
- resolve: a 8m b 5m c 6m d 40m e 90m f 60m h 50m (g open) → 300 360 480 2400 3000 3600 5400;
  median 4th = 2400, p90 ceil(6.3) = 7th = 5400. W48: l1 30m, l2 60m, l3 71h → median 3600,
  p90 255600. W47: k 2h.
- verdicts: c right; d right (2-0); e wrong (2 wrong, 1 right; corrected config_error by the latest
  "wrong" naming one); f wrong (1-1 tie, the latest verdict is bob's "wrong"); a b g h unknown.
- categories of incidents: a b unknown, c oom_killed, d bad_deploy, e config_error (corrected),
  f h node_pressure (f was wrong but named no cause), g slow_query.
"""
from __future__ import annotations


import pytest

from bot.digest.compute import compute, nearest_rank
from bot.digest.runbooks import snapshot
from bot.digest.week import parse_week, zone
from tests.digest_support import WEEK, knowledge_base, seed


@pytest.fixture(scope="module")
def runbooks(tmp_path_factory):
    kb = knowledge_base(tmp_path_factory.mktemp("digest-kb"))
    docs = snapshot(kb)
    kb.close()
    return docs


@pytest.fixture
def digest(migrated, runbooks):
    _, factory = migrated
    seed(factory)
    return compute(factory, parse_week(WEEK, zone("UTC")), runbooks)


def _counts(rows):
    return [(c.key, c.count, c.last_week) for c in rows]


def _score(s):
    return (s.key, s.diagnoses, s.right, s.wrong, s.unknown, s.confirmed_by_action)


def test_incidents_by_service_category_and_severity_with_last_week(digest):
    assert (digest.incidents, digest.incidents_last_week) == (8, 3)
    assert _counts(digest.by_service) == [("cart", 3, 1), ("checkout", 2, 1), ("(no service)", 2, 0),
                                          ("payments", 1, 0), ("logging", 0, 1)]
    assert _counts(digest.by_category) == [("node_pressure", 2, 0), ("unknown", 2, 0), ("bad_deploy", 1, 1),
                                           ("oom_killed", 1, 1), ("config_error", 1, 0), ("slow_query", 1, 0),
                                           ("disk_full", 0, 1)]
    assert _counts(digest.by_severity) == [("critical", 4, 1), ("warning", 3, 2), ("none", 1, 0)]
    assert [(d.day, d.by_severity) for d in digest.per_day] == [
        ("2026-11-30", {"warning": 1}), ("2026-12-01", {"warning": 1}), ("2026-12-02", {"critical": 1, "warning": 1}),
        ("2026-12-03", {"critical": 1}), ("2026-12-04", {"critical": 1}), ("2026-12-05", {"none": 1}),
        ("2026-12-06", {"critical": 1})]


def test_timing_median_and_p90(digest):
    assert [(t.measure, t.n, t.median_s, t.p90_s) for t in digest.timing] == [
        ("first_diagnosis", 8, 240, 660), ("first_human_action", 4, 900, 1200), ("resolve", 7, 2400, 5400)]
    trend = [(w.week, w.n, w.median_s, w.p90_s) for w in digest.resolve_trend]
    assert trend == [(f"2026-W{n}", 0, None, None) for n in range(42, 47)] + [
        ("2026-W47", 1, 7200, 7200), ("2026-W48", 3, 3600, 255600), ("2026-W49", 7, 2400, 5400)]


def test_recurring_alerts_and_their_suggestions(digest):
    got = [(r.alert_name, r.namespace, r.service, r.incidents, r.resolved_quickly, r.acted_on, r.unknown, r.runbook,
            r.suggestions, r.reasons) for r in digest.recurring]
    assert got == [
        # a b c: all resolved within 10 min (8, 5, 6 min); c got feedback; a b unknown. crashloop.md names the alert.
        ("KubePodCrashLooping", "shop", "cart", 3, 3, 1, 2, "Crash loops", ["noisy"], ["all 3 resolved within 10 min"]),
        # d e: acted on; bad-deploy.md is filed under bad_deploy, d's category.
        ("HighErrorRate", "shop", "checkout", 2, 0, 2, 0, "Bad deploy", [], []),
        # f h: node_pressure; no runbook names NodeNotReady or is filed under node_pressure.
        ("NodeNotReady", "infra", None, 2, 0, 1, 0, None, ["runbook_missing"], []),
    ]


def test_remediations_with_approvers_and_outcomes(digest):
    r = digest.remediations
    # prop-1..5 created in W49: 4 offered + 1 blocked; 1 and 2 executed, 3 rejected, 4 expired.
    assert (r.proposed, r.not_offered, r.approved, r.rejected, r.expired, r.succeeded, r.failed, r.awaiting) == \
        (4, 1, 2, 1, 1, 1, 1, 0)
    assert [(a.who, a.approved, a.rejected) for a in r.approvers] == [("slack:U0BOB", 1, 1), ("slack:U0ALICE", 1, 0)]
    assert [(e.proposal_id, e.state, e.approvers, e.alert_resolved) for e in r.executed] == [
        ("prop-1", "succeeded", ["slack:U0ALICE"], True), ("prop-2", "failed", ["slack:U0BOB"], False)]


def test_scorecard_per_category_and_alert(digest):
    sc = digest.scorecard
    assert _score(sc.total) == ("all", 8, 2, 2, 4, 1)  # right c d; wrong e f; unknown a b g h; confirmed d
    assert [_score(s) for s in sc.by_category] == [
        ("bad_deploy", 2, 1, 1, 0, 1), ("node_pressure", 2, 0, 1, 1, 0), ("unknown", 2, 0, 0, 2, 0),
        ("oom_killed", 1, 1, 0, 0, 0), ("slow_query", 1, 0, 0, 1, 0)]
    assert [_score(s) for s in sc.by_alert] == [
        ("KubePodCrashLooping", 3, 1, 0, 2, 0), ("HighErrorRate", 2, 1, 1, 0, 1), ("NodeNotReady", 2, 0, 1, 1, 0),
        ("/diagnose", 1, 0, 0, 1, 0)]
    assert [(i.incident_id, i.diagnosed, i.corrected, i.notes, i.by) for i in digest.learning_queue] == [
        ("inc-e", "bad_deploy", "config_error", ["not the image", "a bad ConfigMap"],
         ["slack:U0BOB", "teams:carol-oid"]),
        ("inc-f", "node_pressure", None, [], ["slack:U0BOB"])]


def test_knowledge_learned_and_gaps(digest):
    k = digest.knowledge
    # Resolved in W49 with a diagnosis: l3 (opened in W48), a b c d e f h; d's action also succeeded.
    assert [(m.incident_id, m.category, m.why) for m in k.memories] == [
        ("inc-l3", "disk_full", "resolved"), ("inc-a", "unknown", "resolved"), ("inc-b", "unknown", "resolved"),
        ("inc-c", "oom_killed", "resolved"), ("inc-d", "bad_deploy", "resolved"), ("inc-e", "config_error", "resolved"),
        ("inc-f", "node_pressure", "resolved"), ("inc-h", "node_pressure", "resolved")]
    assert [(c.incident_id, c.diagnosed, c.corrected, c.by) for c in k.corrections] == [
        ("inc-e", "bad_deploy", "config_error", "teams:carol-oid")]
    assert [(r.doc_id, r.title) for r in k.runbooks] == [("runbooks/crashloop.md", "Crash loops"),
                                                         ("runbooks/disk.md", "Disk full")]
    assert [(g.category, g.diagnoses, g.weak, g.alerts) for g in digest.gaps] == [
        ("unknown", 2, 2, ["KubePodCrashLooping"]), ("oom_killed", 1, 1, ["KubePodCrashLooping"]),
        ("slow_query", 1, 1, ["/diagnose"])]


def test_without_a_knowledge_base_runbook_rules_are_not_applied(migrated):
    _, factory = migrated
    seed(factory)
    d = compute(factory, parse_week(WEEK, zone("UTC")), None, "knowledge base not configured")
    assert d.knowledge.runbooks is None and d.knowledge.runbooks_note == "knowledge base not configured"
    assert [(r.alert_name, r.suggestions, r.runbooks_known) for r in d.recurring] == [
        ("KubePodCrashLooping", ["noisy"], False), ("HighErrorRate", [], False), ("NodeNotReady", [], False)]


def test_nearest_rank_percentiles():
    assert nearest_rank([], 50) is None
    assert nearest_rank([5], 90) == 5
    assert nearest_rank([10, 20], 50) == 10  # the 1st of 2: a value that occurred
    assert nearest_rank(range(1, 71), 90) == 63  # ceil(0.9 · 70) = 63 exactly (float arithmetic would give 64)
    assert nearest_rank([4, 1, 3, 2], 90) == 4
