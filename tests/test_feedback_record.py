"""Feedback on a diagnosis, platform-neutral (SQLite and PostgreSQL): who may give it (the approval
policy's approvers, by user or group, on their own platform, plus whoever asked for the diagnosis),
tokens bound to the diagnosis and to the purpose, one verdict per person (a second click replaces
it), bounded and redacted notes, and an audit row for every click, refusals included."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import audit
from bot.feedback import fresh_view, open_form, record_feedback, settle, verdicts
from bot.feedback.record import MAX_NOTE
from bot.models import Feedback
from bot.remediation import Identity, click, propose
from tests.actions_support import NS
from tests.feedback_support import alert_diagnosis, command_diagnosis
from tests.remediation_support import ALICE, LEAD, OPS, OPS2, SIGNER, STRANGER, audit_events, policy

POLICY = policy()


def say(factory, diag, who, verdict, category=None, note=None, token=None):
    token = token if token is not None else fresh_view(diag, "", SIGNER).token
    return record_feedback(factory, diag, token, who, verdict, category, note, policy=POLICY, signer=SIGNER)


def rows(factory):
    with factory() as s:
        return [(r.actor, r.platform, r.verdict, r.category, r.note)
                for r in s.execute(select(Feedback).order_by(Feedback.id)).scalars()]


def test_right_then_wrong_replaces_the_verdict_and_every_click_is_audited(migrated):
    _, factory = migrated
    inc, diag = alert_diagnosis(factory)
    first = say(factory, diag, OPS, "right")
    assert first.ok and first.status == "recorded" and first.incident_id == inc
    assert [v.actor for v in first.view.verdicts] == ["slack:UOPS1"] and first.view.engine_category == "traffic_spike"
    again = say(factory, diag, OPS, "right")
    assert again.ok and again.status == "unchanged"
    changed = say(factory, diag, OPS, "wrong", "dns_failure", "coredns ConfigMap edited")
    assert changed.status == "replaced"
    assert rows(factory) == [("slack:UOPS1", "slack", "wrong", "dns_failure", "coredns ConfigMap edited")]
    events = [(e["event"], e["actor"], e["payload"].get("verdict"), e["payload"].get("category"))
              for e in audit_events(factory) if e["event"].startswith("feedback.")]
    assert events == [("feedback.recorded", "slack:UOPS1", "right", None),
                      ("feedback.unchanged", "slack:UOPS1", "right", None),
                      ("feedback.recorded", "slack:UOPS1", "wrong", "dns_failure")]
    replaced = [e for e in audit_events(factory, "feedback.recorded")][-1]
    assert replaced["subject"] == f"diagnosis/{diag}" and replaced["payload"]["replaced"]["verdict"] == "right"
    assert replaced["payload"]["engine_category"] == "traffic_spike" and replaced["payload"]["incident"] == inc
    with factory() as s:
        assert audit.verify(s).ok


def test_who_may_give_feedback_follows_the_approver_lists_per_platform(migrated):
    _, factory = migrated
    _, diag = alert_diagnosis(factory)
    # listed users (MEDIUM console:alice, HIGH teams lead), a group member (slack-group:SOPS), a listed user
    assert all(say(factory, diag, who, "right").ok for who in (ALICE, LEAD, OPS2, OPS))
    denied = say(factory, diag, STRANGER, "right")
    assert not denied.ok and denied.status == "denied" and "may not give feedback" in denied.message
    # the same id on another platform is another person: slack:UOPS1 is an approver, teams:UOPS1 is not
    other_platform = say(factory, diag, Identity("teams", "UOPS1", frozenset({"SOPS"})), "right")
    assert other_platform.status == "denied"
    assert {r[0] for r in rows(factory)} == {"console:alice", "teams:aad-lead-oid", "slack:UOPS2", "slack:UOPS1"}
    refusals = audit_events(factory, "feedback.denied")
    assert [r["actor"] for r in refusals] == ["slack:UNOBODY", "teams:UOPS1"]
    assert refusals[0]["subject"] == f"diagnosis/{diag}" and "may not give feedback" in refusals[0]["payload"]["reason"]


def test_the_person_who_asked_may_answer_an_alert_sender_may_not(migrated):
    _, factory = migrated
    _, asked = command_diagnosis(factory, "slack:U0REQ")
    requester = Identity("slack", "U0REQ", display="req")
    assert say(factory, asked, requester, "wrong", "bad_deploy").ok
    assert say(factory, asked, Identity("teams", "U0REQ"), "right").status == "denied"  # same name, other platform
    _, alerted = alert_diagnosis(factory)
    # an alert incident's opener is its sender, never a person who may answer
    assert say(factory, alerted, Identity("slack", "alertmanager"), "right").status == "denied"


def test_forged_copied_and_cross_purpose_tokens_are_refused_and_audited(migrated):
    _, factory = migrated
    inc, diag = alert_diagnosis(factory)
    _, other = alert_diagnosis(factory)
    forged = say(factory, diag, OPS, "right", token="feedback.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    copied = say(factory, diag, OPS, "right", token=fresh_view(other, "", SIGNER).token)  # another diagnosis's
    unknown = say(factory, "f" * 32, OPS, "right")
    assert [r.status for r in (forged, copied, unknown)] == ["invalid_token", "invalid_token", "not_found"]
    assert rows(factory) == []
    rejected = audit_events(factory, "token.rejected")
    assert [(r["payload"]["kind"], r["payload"]["purpose"]) for r in rejected] == [
        ("forged", "feedback"), ("forged", "feedback"), ("unknown_diagnosis", "feedback")]

    # an approval token can never record feedback, and a feedback token can never approve
    [view] = await_propose(factory, inc, diag)
    assert say(factory, diag, OPS, "right", token=view.token).status == "invalid_token"
    import asyncio

    from tests.actions_support import executor, objects
    from tools.k8s import FakeKubeAPI

    with FakeKubeAPI(objects()) as kube:
        approved = asyncio.run(click(factory, executor(kube), view.proposal_id, fresh_view(diag, "", SIGNER).token,
                                     OPS, "approve", policy=POLICY, signer=SIGNER))
    assert approved.status == "invalid_token" and not approved.executed


def await_propose(factory, inc, diag):
    import asyncio

    from agents.diagnosis import ProposedAction
    from tests.actions_support import executor, objects
    from tools.k8s import FakeKubeAPI

    with FakeKubeAPI(objects()) as kube:
        return asyncio.run(propose(factory, executor(kube), inc, diag,
                                   [ProposedAction(action_type="scale_deployment", target="cart", namespace=NS,
                                                   parameters={"replicas": 5})],
                                   "bot", (NS,), policy=POLICY, signer=SIGNER))


@pytest.mark.parametrize("category, why", [(None, "needs the real cause"), ("not_a_category", "is not a category"),
                                           ("traffic_spike", "is what the diagnosis said")])
def test_a_wrong_cause_needs_a_real_other_category(migrated, category, why):
    _, factory = migrated
    _, diag = alert_diagnosis(factory)
    bad = say(factory, diag, OPS, "wrong", category)
    assert not bad.ok and bad.status == "invalid" and why in bad.message
    assert rows(factory) == [] and [e["event"] for e in audit_events(factory) if "feedback" in e["event"]] == [
        "feedback.invalid"]


def test_the_note_is_one_redacted_bounded_line(migrated):
    _, factory = migrated
    _, diag = alert_diagnosis(factory)
    secret = "ghp_" + "Zq8hT3vKp9LmR2xWc4Yb7Nd1Fg6Hj0Ks5Ue3"
    note = f"edited by hand\n\ttoken {secret} in the configmap \x1b[31m" + " more" * 200
    assert say(factory, diag, OPS, "wrong", "config_error", note).ok
    [(_, _, _, _, stored)] = rows(factory)
    assert secret not in stored and secret[:12] not in stored and "\n" not in stored and "\x1b" not in stored
    assert stored.startswith("edited by hand token ") and len(stored) == MAX_NOTE and stored.endswith("…")
    assert secret not in str(audit_events(factory, "feedback.recorded"))


def test_the_form_is_offered_only_to_who_may_answer_and_leaves_out_the_diagnosed_cause(migrated):
    _, factory = migrated
    _, diag = alert_diagnosis(factory)
    token = fresh_view(diag, "", SIGNER).token
    form = open_form(factory, diag, token, OPS, policy=POLICY, signer=SIGNER)
    assert form.ok and form.form.engine_category == "traffic_spike"
    assert "traffic_spike" not in dict(form.form.choices) and dict(form.form.choices)["dns_failure"] == "DNS failure"
    refused = open_form(factory, diag, token, STRANGER, policy=POLICY, signer=SIGNER)
    assert refused.status == "denied" and refused.form is None
    assert open_form(factory, diag, "feedback.x", OPS, policy=POLICY, signer=SIGNER).status == "invalid_token"
    assert [e["event"] for e in audit_events(factory) if e["event"] != "incident.opened"] == [
        "feedback.denied", "token.rejected"]


def test_the_majority_settles_the_cause_a_tie_goes_to_the_latest(migrated):
    _, factory = migrated
    _, diag = alert_diagnosis(factory)
    with factory() as s:
        assert settle("traffic_spike", verdicts(s, diag)).state == ""
    say(factory, diag, OPS, "right")
    say(factory, diag, OPS2, "wrong", "slow_query", "a batch job locked the orders table")  # 1-1: the latest
    with factory() as s:
        cause = settle("traffic_spike", verdicts(s, diag))
    assert (cause.category, cause.engine_category, cause.state) == ("slow_query", "traffic_spike", "corrected")
    assert cause.note == "a batch job locked the orders table" and (cause.confirmed, cause.corrected) == (1, 1)
    say(factory, diag, ALICE, "right")  # two against one: the majority confirms it
    with factory() as s:
        assert settle("traffic_spike", verdicts(s, diag)).state == "confirmed"
    say(factory, diag, OPS, "wrong", "bad_deploy")  # OPS changes their mind: 2-1 the other way, latest cause
    with factory() as s:
        cause = settle("traffic_spike", verdicts(s, diag))
    assert (cause.state, cause.category, cause.confirmed, cause.corrected) == ("corrected", "bad_deploy", 1, 2)


def test_concurrent_clicks_of_one_person_leave_one_verdict(migrated):
    from concurrent.futures import ThreadPoolExecutor

    _, factory = migrated
    _, diag = alert_diagnosis(factory)
    verdicts_ = [("right", None), ("wrong", "dns_failure"), ("wrong", "slow_query")] * 4
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda v: say(factory, diag, OPS, v[0], v[1]), verdicts_))
    assert all(r.ok for r in results)
    [(actor, *_)] = rows(factory)  # unique per diagnosis and person, whatever the interleaving
    assert actor == "slack:UOPS1"
    assert len([e for e in audit_events(factory) if e["event"].startswith("feedback.")]) == len(verdicts_)
    with factory() as s:
        assert audit.verify(s).ok
