"""The search_knowledge agent tool."""
from __future__ import annotations

import json

import pytest

from knowledge import IncidentRecord, KnowledgeBase
from knowledge.tool import knowledge_tools
from tests.knowledge_support import write_runbooks
from tools.base import ToolContext, ToolRegistry


@pytest.fixture
def kb(tmp_path):
    kb = KnowledgeBase(tmp_path / "data")
    kb.ingest(write_runbooks(tmp_path / "rb"))
    kb.remember_incident(IncidentRecord(
        id="i1", title="checkout pool exhausted during sale", service="checkout",
        category="connection_pool_exhausted", alert="HikariPool-1 Connection is not available",
        diagnosis="pool of 10 too small for Black Friday traffic", action="scale deployment/checkout to 12",
        outcome="succeeded", effective=True))
    kb.remember_incident(IncidentRecord(
        id="i2", title="checkout pool exhausted, restart tried", service="checkout",
        category="connection_pool_exhausted", alert="HikariPool-1 Connection is not available",
        diagnosis="leaked connections", action="restart deployment/checkout", outcome="failed", effective=False))
    yield kb
    kb.close()


def registry(kb, **kw):
    return ToolRegistry().register(*knowledge_tools(kb, ToolContext(), **kw))


async def test_search_returns_snippets_sources_scores_and_actions(kb):
    res = await registry(kb).run("search_knowledge", {"query": "HikariPool Connection is not available",
                                                       "service": "checkout", "limit": 5})
    assert res.status == "ok" and res.source == "knowledge"
    by_source = {d["source"]: d for d in res.data}
    assert {"rb/pool-checkout.md", "incident:i1", "incident:i2"} <= set(by_source)
    assert "rb/pool-payments.md" not in by_source
    for d in res.data:
        assert d["score"] > 0 and d["snippet"] and len(d["snippet"]) <= 400
    assert by_source["incident:i1"]["action_that_worked"] == "scale deployment/checkout to 12"
    assert "action_that_worked" not in by_source["incident:i2"]
    assert by_source["incident:i2"]["action_tried"] == "restart deployment/checkout"
    assert "1 past incident(s) with an action that worked" in res.summary
    assert "HikariPool" in res.query


async def test_category_filter_and_no_data(kb):
    res = await registry(kb).run("search_knowledge", {"query": "pool", "category": "disk_full"})
    assert res.status == "no_data"
    res = await registry(kb).run("search_knowledge", {"query": "x509", "limit": 1})
    assert res.status == "ok" and len(res.data) == 1 and res.data[0]["source"] == "rb/cert.txt"


async def test_unavailable_knowledge_base_is_an_error_result():
    res = await registry(None, unavailable_reason="Chroma at http://127.0.0.1:9 refused").run(
        "search_knowledge", {"query": "OOMKilled"})
    assert res.status == "error"
    assert res.error == "knowledge base unavailable: Chroma at http://127.0.0.1:9 refused"


async def test_bad_arguments_and_broken_store_never_raise(kb, tmp_path):
    reg = registry(kb)
    assert (await reg.run("search_knowledge", {"query": "  "})).status == "error"
    assert (await reg.run("search_knowledge", {"query": "x", "limit": "many"})).status == "error"
    assert (await reg.run("search_knowledge", {"nope": 1})).status == "error"
    kb.close()
    (tmp_path / "data" / "chroma" / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    broken = KnowledgeBase(tmp_path / "data")
    res = await registry(broken).run("search_knowledge", {"query": "OOMKilled"})
    assert res.status == "error" and "chatops knowledge rebuild" in res.error
    json.loads(res.to_text())
