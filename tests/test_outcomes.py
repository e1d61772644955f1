"""Outcome check (SQLite and PostgreSQL): after an action executed, did its incident's alert resolve
within INCIDENT_EFFECTIVE_MINUTES? Decided from the incident as the Alertmanager resolve left it,
through the real Workflow: the alert fires (on_alert_group), an approver's click executes a scale
on the fake cluster, then either the resolve arrives (on_alert_group with the resolved alert: effective)
or the periodic `outcomes` task finds the window passed without one (not effective). Each decision
is recorded on the proposal once, audited, and what the incident memory says."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from agents.diagnosis import ProposedAction
from agents.session import EngineSettings
from bot import audit
from bot.incident_memory import record_from_db
from bot.models import Diagnosis, Incident, RemediationProposal
from bot.remediation import propose
from bot.remediation.outcome import decide
from bot.workflow.service import Workflow
from bot.workflow.surface import MessageRef
from knowledge import KnowledgeBase
from knowledge.memory import incident_text
from tests.actions_support import NS, executor, objects
from tests.remediation_support import OPS, SIGNER, Controller, audit_events, policy
from tests.teams_support import no_sources
from tests.workflow_support import RecordingSurface
from tools.intake import parse_alertmanager
from tools.k8s import FakeKubeAPI

MINUTES = 30
LABELS = {"alertname": "KubeDeploymentSaturated", "namespace": NS, "deployment": "cart", "severity": "warning"}


def group(status: str):
    alert = {"status": status, "labels": dict(LABELS), "annotations": {"summary": "cart replicas saturated"},
             "startsAt": "2025-11-20T09:50:00Z", "endsAt": "2025-11-20T10:20:00Z" if status == "resolved" else
             "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph"}
    return parse_alertmanager({"version": "4", "status": status, "receiver": "chatops", "alerts": [alert]})


@pytest.fixture
async def stack(migrated, tmp_path):
    _, factory = migrated
    kb = KnowledgeBase(tmp_path / "kb")
    with FakeKubeAPI(objects()) as kube, Controller(kube):
        surface = RecordingSurface()
        wf = Workflow(factory, {"test": surface}, no_sources(), EngineSettings(engine="offline"), executor(kube),
                      concurrency=1, policy=policy(), signer=SIGNER, namespace_allowlist=(NS,), knowledge=kb,
                      effective_minutes=MINUTES)
        yield wf, surface
        await wf.stop(0)
    kb.close()


async def fire_and_execute(wf, surface) -> tuple[str, str]:
    """The alert fires and is diagnosed; an approver scales cart up: (incident id, proposal id)."""
    [status] = await wf.on_alert_group(group("firing"), platform="test", channel="C0ALERTS", thread=None,
                                       source="alertmanager")
    incident_id = status.split(":")[1]
    await wf.drain(60)
    with wf.factory() as s:
        diagnosis_id = s.execute(select(Diagnosis.id).where(Diagnosis.incident_id == incident_id)).scalar_one()
    [view] = await propose(wf.factory, wf.executor, incident_id, diagnosis_id,
                           [ProposedAction(action_type="scale_deployment", target="cart", namespace=NS,
                                           parameters={"replicas": 6})],
                           "bot", (NS,), policy=wf.policy, signer=wf.signer)
    assert view.offerable, view.reason
    done = await wf.on_click(platform="test", channel="C0ALERTS", message=MessageRef("C0ALERTS", "1.1", "1.0"),
                             proposal_id=view.proposal_id, token=view.token, identity=OPS, decision="approve")
    assert done.executed and done.status == "executed", done.message
    return incident_id, view.proposal_id


def proposal(wf, pid) -> RemediationProposal:
    with wf.factory() as s:
        return s.get(RemediationProposal, pid)


async def test_the_resolve_decides_an_action_worked(stack):
    wf, surface = stack
    incident_id, pid = await fire_and_execute(wf, surface)
    assert proposal(wf, pid).effective is None  # executed, not decided yet

    [res] = await wf.on_alert_group(group("resolved"), platform="test", channel="C0ALERTS", thread=None,
                                    source="alertmanager")
    assert res == f"resolved:{incident_id}"
    row = proposal(wf, pid)
    assert row.effective is True and row.effective_checked_at is not None
    [decision] = audit_events(wf.factory, "proposal.effective")
    assert decision["subject"] == f"proposal/{pid}" and decision["actor"] == "system:outcome"
    assert decision["payload"]["effective"] is True and decision["payload"]["minutes"] == MINUTES
    assert decision["payload"]["resolved_at"] and "resolved" in decision["payload"]["reason"]
    # the memory written on the resolve says the action worked
    [hit] = [h for h in wf.knowledge.search("KubeDeploymentSaturated cart") if h.id == f"incident:{incident_id}"]
    assert hit.action == "scale_deployment cart in shop" and hit.effective is True
    with wf.factory() as s:
        assert "the alert resolved shortly after, so it worked" in incident_text(record_from_db(s, incident_id, 1))
    # a later sweep decides nothing twice
    await wf.job_handlers()["outcomes"]({"period": 1})
    assert len(audit_events(wf.factory, "proposal.effective")) == 1
    with wf.factory() as s:
        assert audit.verify(s).ok


async def test_the_periodic_check_decides_a_window_that_passed_without_a_resolve(stack, monkeypatch):
    wf, surface = stack
    incident_id, pid = await fire_and_execute(wf, surface)
    await wf.job_handlers()["outcomes"]({"period": 1})  # within the window: nothing to decide yet
    assert proposal(wf, pid).effective_checked_at is None
    ran = audit_events(wf.factory, "periodic.ran")
    assert ran[-1]["payload"] == {"task": "outcomes", "period": 1, "decided": 0, "effective": 0, "not_effective": 0}

    executed = proposal(wf, pid).executed_at.replace(tzinfo=timezone.utc)
    later = executed + timedelta(minutes=MINUTES, seconds=1)
    monkeypatch.setattr("bot.remediation.outcome.utcnow", lambda: later)  # the clock, not the data
    await wf.job_handlers()["outcomes"]({"period": 2})
    row = proposal(wf, pid)
    assert row.effective is False and row.effective_checked_at is not None
    assert audit_events(wf.factory, "periodic.ran")[-1]["payload"]["not_effective"] == 1
    [decision] = audit_events(wf.factory, "proposal.effective")
    assert decision["payload"]["effective"] is False and decision["payload"]["resolved_at"] is None
    assert f"did not resolve within {MINUTES} min" in decision["payload"]["reason"]
    with wf.factory() as s:  # the incident memory takes the recorded answer (it said "unknown" before)
        rec = record_from_db(s, incident_id, MINUTES)
    assert rec.effective is False and "the alert did not resolve in time afterwards" in incident_text(rec)
    [hit] = [h for h in wf.knowledge.search("KubeDeploymentSaturated cart") if h.id == f"incident:{incident_id}"]
    assert hit.effective is False  # rewritten by the sweep's decision

    # the resolve that comes late changes nothing: the decision was made once
    await wf.on_alert_group(group("resolved"), platform="test", channel="C0ALERTS", thread=None, source="alertmanager")
    assert proposal(wf, pid).effective is False and len(audit_events(wf.factory, "proposal.effective")) == 1


def test_decide_reads_the_incident_not_a_guess():
    t0 = datetime(2025, 11, 20, 10, 0, tzinfo=timezone.utc)
    alert = Incident(alert_fingerprint="fp", status="resolved")
    cases = [(t0 + timedelta(minutes=12), t0 + timedelta(minutes=13), True),
             (t0 + timedelta(minutes=31), t0 + timedelta(minutes=40), False),   # resolved past the window
             (t0 - timedelta(minutes=2), t0 + timedelta(minutes=1), False)]     # resolved before the action
    for resolved, now, expected in cases:
        alert.resolved_at = resolved
        assert decide(t0, alert, MINUTES, now)[0] is expected, resolved
    firing = Incident(alert_fingerprint="fp", status="open")
    assert decide(t0, firing, MINUTES, t0 + timedelta(minutes=29)) is None  # still inside the window
    assert decide(t0, firing, MINUTES, t0 + timedelta(minutes=30))[0] is False
    asked = Incident(alert_fingerprint=None, status="open")  # a /diagnose: no alert can ever resolve it
    effective, why = decide(t0, asked, MINUTES, t0 + timedelta(minutes=31))
    assert effective is None and "no alert" in why
    # naive timestamps (SQLite) are UTC
    alert.resolved_at = (t0 + timedelta(minutes=5)).replace(tzinfo=None)
    assert decide(t0.replace(tzinfo=None), alert, MINUTES, t0)[0] is True
    assert json.dumps(decide(t0, alert, MINUTES, t0)[1])  # a reason fit for an audit row
