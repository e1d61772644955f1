"""Learning from feedback (SQLite and PostgreSQL, embedded Chroma): a "Wrong cause" rewrites the
incident's memory document with the corrected cause (the engine's answer kept as "engine said X"),
so a later similar incident's search finds it under the corrected category, ranked above the
engine's unchecked answers; "Right cause" marks the memory confirmed. Through the real Workflow."""
from __future__ import annotations

import asyncio

import pytest

from agents.session import EngineSettings
from bot.feedback import fresh_view
from bot.incident_memory import records_from_db
from bot.workflow.service import Workflow
from bot.workflow.surface import MessageRef
from knowledge import KnowledgeBase
from knowledge.tool import knowledge_tools
from tests.feedback_support import alert_diagnosis
from tests.remediation_support import OPS, OPS2, SIGNER, policy
from tests.workflow_support import RecordingSurface
from tools.base import ToolContext

LATER_ALERT = "cart p99 latency tripled, 3/3 replicas busy"


@pytest.fixture
def wf(migrated, tmp_path):
    _, factory = migrated
    kb = KnowledgeBase(tmp_path / "kb")

    async def no_sources():  # feedback never runs a diagnosis
        raise AssertionError("no session expected")

    workflow = Workflow(factory, {"test": RecordingSurface()}, no_sources, EngineSettings(engine="offline"), None,
                        policy=policy(), signer=SIGNER, knowledge=kb, effective_minutes=30)
    yield workflow
    kb.close()


def feedback(wf, diag, who, verdict, category=None, note=None):
    return asyncio.run(wf.on_feedback(platform="test", channel="C0OPS", message=MessageRef("C0OPS", "1.2", "1.0"),
                                      diagnosis_id=diag, token=fresh_view(diag, "", SIGNER).token, identity=who,
                                      verdict=verdict, category=category, note=note))


def incident_hits(kb, **kw):
    return [h for h in kb.search(LATER_ALERT, limit=10, **kw) if h.doc_type == "incident"]


def test_a_corrected_cause_is_remembered_and_outranks_the_engines_answer(wf):
    kb = wf.knowledge
    first_inc, first = alert_diagnosis(wf.factory)
    second_inc, second = alert_diagnosis(wf.factory)  # the same symptoms, the same engine answer
    assert feedback(wf, first, OPS, "right").ok  # both become memories with the engine's cause confirmed...
    assert feedback(wf, second, OPS, "right").ok
    hits = incident_hits(kb)
    assert [h.id for h in hits] == [f"incident:{first_inc}", f"incident:{second_inc}"]  # a tie keeps their order
    assert [h.categories for h in hits] == [["traffic_spike"], ["traffic_spike"]]
    assert {h.feedback for h in hits} == {"confirmed"}

    # ...until someone says the second one was really DNS: its document is rewritten with that cause
    result = feedback(wf, second, OPS2, "wrong", "dns_failure", "coredns ConfigMap edited by hand")
    assert result.ok and result.status == "recorded"
    hits = incident_hits(kb)
    corrected = next(h for h in hits if h.id == f"incident:{second_inc}")
    assert corrected.categories == ["dns_failure"] and corrected.feedback == "corrected"
    assert corrected.engine_category == "traffic_spike"
    assert "the engine said traffic_spike, people corrected it to dns_failure" in corrected.snippet
    assert "coredns ConfigMap edited by hand" in corrected.snippet
    # the category filters follow the people's answer, not the engine's
    assert [h.id for h in incident_hits(kb, category="dns_failure")] == [f"incident:{second_inc}"]
    assert f"incident:{second_inc}" not in [h.id for h in incident_hits(kb, category="traffic_spike")]


def test_verified_causes_rank_above_the_engines_unchecked_answers(wf):
    kb = wf.knowledge
    from bot.incident_memory import remember

    unchecked_inc, _ = alert_diagnosis(wf.factory)
    corrected_inc, corrected = alert_diagnosis(wf.factory)
    with wf.factory() as s:  # remembered as it resolved: nobody said anything about its cause
        assert remember(s, kb, unchecked_inc, 30)
        assert remember(s, kb, corrected_inc, 30)
    assert [h.id for h in incident_hits(kb)] == [f"incident:{unchecked_inc}", f"incident:{corrected_inc}"]
    feedback(wf, corrected, OPS, "wrong", "dns_failure", "coredns ConfigMap edited by hand and so on and on")
    hits = incident_hits(kb)
    # the corrected document is longer (BM25 scores it lower), yet people's answer comes first
    assert [h.id for h in hits] == [f"incident:{corrected_inc}", f"incident:{unchecked_inc}"]
    assert hits[0].categories == ["dns_failure"] and hits[1].categories == ["traffic_spike"]

    # what the agents' search_knowledge tool hands a later diagnosis of a similar alert
    [tool] = knowledge_tools(kb, ToolContext())
    found = asyncio.run(tool.handler(query=LATER_ALERT))
    assert found.status == "ok"
    best = found.data[0]
    assert best["source"] == f"incident:{corrected_inc}" and best["categories"] == ["dns_failure"]
    assert best["cause"] == "corrected by people (the engine had said traffic_spike)"
    assert "cause" not in found.data[1]


def test_a_rebuild_keeps_the_correction(wf):
    inc, diag = alert_diagnosis(wf.factory)
    feedback(wf, diag, OPS, "wrong", "bad_deploy", "v2.3 shipped a retry storm")
    with wf.factory() as s:
        [rec] = [r for r in records_from_db(s, 30) if r.id == inc]  # an open incident, remembered for its verdict
    assert (rec.category, rec.engine_category, rec.feedback) == ("bad_deploy", "traffic_spike", "corrected")
    assert rec.feedback_note == "v2.3 shipped a retry storm" and rec.corrected == 1


def test_feedback_before_the_knowledge_base_is_open_waits_for_it(migrated, tmp_path):
    """`chatops serve` opens the knowledge base after it listens (bot/deferred.py): feedback (or a
    resolve) in that window opens it and is remembered, instead of being dropped."""
    _, factory = migrated
    opened = []

    def open_kb():  # what ConsoleRuntime.finish_opening does, once
        if not opened:
            opened.append(KnowledgeBase(tmp_path / "kb-late"))
        return opened[0]

    async def no_sources():
        raise AssertionError("no session expected")

    wf = Workflow(factory, {"test": RecordingSurface()}, no_sources, EngineSettings(engine="offline"), None,
                  policy=policy(), signer=SIGNER, knowledge=None, open_knowledge=open_kb, effective_minutes=30)
    inc, diag = alert_diagnosis(factory)
    try:
        assert feedback(wf, diag, OPS, "wrong", "dns_failure", "coredns edited").ok
        assert opened, "the knowledge base was never opened"
        assert [h.categories for h in incident_hits(opened[0]) if h.id == f"incident:{inc}"] == [["dns_failure"]]
    finally:
        for kb in opened:
            kb.close()
