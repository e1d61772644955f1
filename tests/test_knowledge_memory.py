"""Incident memory: effectiveness, DB rows -> IncidentRecord (SQLite and PostgreSQL), remember."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.db import transaction
from bot.incident_memory import record_from_db, records_from_db, remember
from bot.models import AgentSession, Diagnosis, Incident, RemediationProposal
from knowledge import IncidentRecord, KnowledgeBase, effectiveness

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


def test_effectiveness_window():
    assert effectiveness(T0, T0 + timedelta(minutes=12), 30) is True
    assert effectiveness(T0, T0 + timedelta(minutes=31), 30) is False
    assert effectiveness(T0, T0 - timedelta(minutes=1), 30) is False  # resolved before the action
    assert effectiveness(T0, None, 30) is None and effectiveness(None, T0, 30) is None
    naive = datetime(2026, 5, 4, 9, 0)
    assert effectiveness(naive, T0 + timedelta(minutes=5), 30) is True


def test_record_from_mapping_parses_yaml_shapes():
    r = IncidentRecord.from_mapping({"id": 7, "title": "t", "category": "dns_failure", "log_templates": "one",
                                     "resolved_at": "2026-05-04T09:30:00Z", "outcome": "bogus", "extra": 1})
    assert r.id == "7" and r.log_templates == ["one"] and r.outcome == "none"
    assert r.resolved_at == T0 + timedelta(minutes=30)


def add_incident(factory, *, resolved_after: int | None = 12, state: str | None = "succeeded",
                 diagnose: bool = True, service="checkout") -> str:
    with transaction(factory) as s:
        inc = Incident(source="alertmanager", alert_name="KubePodCrashLooping", title="checkout pods crashlooping",
                       service=service, namespace="shop", severity="critical",
                       status="resolved" if resolved_after is not None else "open",
                       labels={"summary": "Pod shop/checkout-7d9 is restarting 5 times / 10 minutes"},
                       opened_at=T0 - timedelta(minutes=20),
                       resolved_at=T0 + timedelta(minutes=resolved_after) if resolved_after is not None else None)
        s.add(inc)
        s.flush()
        if diagnose:
            sess = AgentSession(incident_id=inc.id, trigger="alert", engine="offline", status="succeeded")
            s.add(sess)
            s.flush()
            d = Diagnosis(session_id=sess.id, incident_id=inc.id, category="config_error",
                          component="deployment/checkout", confidence=0.9,
                          summary="missing env var PAYMENTS_URL after configmap change",
                          evidence=[{"kind": "logs", "template": "KeyError: 'PAYMENTS_URL'"},
                                    {"source": "prometheus", "summary": "kube_pod_container_status_restarts_total +5 in 10m"},
                                    {"kind": "k8s", "summary": "Back-off restarting failed container"}],
                          document={"log_templates": ["Traceback (most recent call last): <*>"]})
            s.add(d)
            s.flush()
            if state:
                s.add(RemediationProposal(diagnosis_id=d.id, incident_id=inc.id, action_type="rollback",
                                          target="deployment/checkout", namespace="shop", risk="MEDIUM",
                                          state=state, created_at=T0 - timedelta(minutes=5),
                                          executed_at=T0))
        return inc.id


def test_record_from_db_builds_the_full_record(migrated):
    _, factory = migrated
    iid = add_incident(factory)
    with factory() as s:
        r = record_from_db(s, iid, 30)
        late = record_from_db(s, iid, 10)
    assert r.id == iid and r.service == "checkout" and r.namespace == "shop" and r.severity == "critical"
    assert r.category == "config_error" and r.component == "deployment/checkout"
    assert "KubePodCrashLooping" in r.alert and "restarting 5 times" in r.alert
    assert r.log_templates == ["Traceback (most recent call last): <*>", "KeyError: 'PAYMENTS_URL'"]
    assert r.metric_anomalies == ["kube_pod_container_status_restarts_total +5 in 10m"]
    assert r.action == "rollback deployment/checkout in shop" and r.outcome == "succeeded"
    assert r.effective is True and late.effective is False  # resolved 12 minutes after the action
    assert r.diagnosis.startswith("missing env var")


def test_failed_or_absent_actions_and_undiagnosed_incidents(migrated):
    _, factory = migrated
    failed = add_incident(factory, state="failed")
    none = add_incident(factory, state=None)
    bare = add_incident(factory, diagnose=False)
    with factory() as s:
        f = record_from_db(s, failed, 30)
        n = record_from_db(s, none, 30)
        assert record_from_db(s, bare, 30) is None
        assert record_from_db(s, "does-not-exist", 30) is None
    assert f.outcome == "failed" and f.effective is False
    assert n.action is None and n.outcome == "none" and n.effective is None


def test_records_from_db_selects_resolved_or_remediated(migrated):
    _, factory = migrated
    resolved = add_incident(factory, state=None)
    remediated_open = add_incident(factory, resolved_after=None)
    open_failed = add_incident(factory, resolved_after=None, state="failed")
    with factory() as s:
        got = {r.id for r in records_from_db(s, 30)}
    assert got == {resolved, remediated_open}
    assert open_failed not in got


def test_remember_makes_the_incident_searchable_with_its_action(migrated, tmp_path):
    _, factory = migrated
    iid = add_incident(factory)
    kb = KnowledgeBase(tmp_path / "kb")
    with factory() as s:
        assert remember(s, kb, iid, effective_minutes=30) is True
        assert remember(s, kb, "nope", effective_minutes=30) is False
    hit = kb.search("KeyError PAYMENTS_URL crashlooping")[0]
    assert hit.id == f"incident:{iid}" and hit.doc_type == "incident"
    assert hit.action == "rollback deployment/checkout in shop" and hit.effective is True
    assert kb.search("PAYMENTS_URL", service="checkout")[0].id == f"incident:{iid}"
    assert kb.search("PAYMENTS_URL", service="ledger") == []
    kb.close()
