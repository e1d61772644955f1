"""Search: technical tokens, filters, limits, snippets, incident hits, hybrid and fallback."""
from __future__ import annotations

import logging
import sys
import types
from datetime import datetime, timedelta, timezone

import pytest

from knowledge import IncidentRecord, KnowledgeBase
from tests.knowledge_support import RUNBOOKS, write_runbooks


@pytest.fixture
def folder(tmp_path):
    return write_runbooks(tmp_path / "rb")


@pytest.fixture
def kb(tmp_path, folder):
    kb = KnowledgeBase(tmp_path / "data")
    kb.ingest(folder)
    yield kb
    kb.close()


def incident(**over):
    t = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
    base = dict(id="inc42", title="checkout 5xx after deploy", service="checkout", namespace="shop",
                severity="critical", category="bad_deploy", component="deployment/checkout",
                alert="HighErrorRate checkout 5xx ratio above 5%",
                log_templates=["NullPointerException at PriceFormatter.format(<*>)"],
                metric_anomalies=["http_requests_total{code=~'5..'} ratio 0.31 vs 0.002 baseline"],
                diagnosis="release v2.14 introduced a NullPointerException in price formatting",
                action="rollback deployment/checkout in shop", outcome="succeeded", effective=True,
                opened_at=t, resolved_at=t + timedelta(minutes=20))
    base.update(over)
    return IncidentRecord(**base)


def ids(hits):
    return [h.id for h in hits]


@pytest.mark.parametrize("query,expected", [
    ("OOMKilled", "rb/oom.md"),
    ("pods killed, exit code 137", "rb/oom.md"),
    ("OutOfMemoryError heap space", "rb/oom.md"),
    ("x509 certificate has expired", "rb/cert.txt"),
    ("HikariPool connection is not available", "rb/pool-checkout.md"),
    ("no such host lookup", "rb/sub/dns.md"),
    ("DiskPressure", "rb/disk.md"),
])
def test_finds_the_right_runbook_first(kb, query, expected):
    assert ids(kb.search(query))[0] == expected


def test_service_filter_keeps_matching_and_any_service_documents(kb):
    got = ids(kb.search("connection pool exhausted", service="checkout", limit=10))
    assert "rb/pool-checkout.md" in got and "rb/pool-payments.md" not in got
    assert ids(kb.search("connection pool exhausted", service="payments"))[0] == "rb/pool-payments.md"
    # services [any] matches every service; documents without services are unrestricted too
    assert "rb/oom.md" in ids(kb.search("OOMKilled", service="payments"))
    assert "rb/cert.txt" in ids(kb.search("x509", service="payments"))


def test_category_and_severity_filters(kb):
    got = kb.search("pool connections restart pods", category="connection_pool_exhausted", limit=10)
    assert set(ids(got)) == {"rb/pool-checkout.md", "rb/pool-payments.md"}
    assert all("connection_pool_exhausted" in h.categories for h in got)
    assert kb.search("OOMKilled", category="disk_full") == []
    assert ids(kb.search("old container images", severity="warning"))[0] == "rb/disk.md"
    assert "rb/disk.md" not in ids(kb.search("old container images", severity="critical", limit=10))
    assert "rb/oom.md" in ids(kb.search("memory limit", severity="critical"))


def test_limit_defaults_to_five_and_snippets_are_short(kb, tmp_path):
    # many documents share the word "restart"
    extra = tmp_path / "more"
    extra.mkdir()
    for i in range(8):
        (extra / f"r{i}.md").write_text(f"# Restart guide {i}\n\n## Steps\nRestart service {i}. " + "Long text. " * 80)
    kb.ingest(extra)
    hits = kb.search("restart")
    assert len(hits) == 5
    assert all(len(h.snippet) <= 400 for h in hits)
    assert len(kb.search("restart", limit=2)) == 2
    hit = kb.search("working set bytes memory limit")[0]
    assert hit.section == "Diagnosis" and "working_set_bytes" in hit.snippet


def test_incident_hits_carry_the_action_that_worked(kb):
    kb.remember_incident(incident())
    hit = kb.search("NullPointerException PriceFormatter after release")[0]
    assert hit.id == "incident:inc42" and hit.doc_type == "incident"
    assert hit.action == "rollback deployment/checkout in shop"
    assert hit.outcome == "succeeded" and hit.effective is True
    assert hit.categories == ["bad_deploy"] and hit.services == ["checkout"]
    # filters apply to incidents: another service's search does not see it
    assert "incident:inc42" not in ids(kb.search("NullPointerException PriceFormatter", service="payments"))
    assert ids(kb.search("NullPointerException PriceFormatter", category="bad_deploy")) == ["incident:inc42"]


def test_remember_incident_upserts_one_document(kb):
    kb.remember_incident(incident(outcome="failed", effective=False, action="restart deployment/checkout"))
    kb.remember_incident(incident(diagnosis="bad feature flag checkout.newPricing", action="rollback deployment/checkout"))
    chunks = [c for c in kb.store.read()[0] if c.doc_id == "incident:inc42"]
    assert len(chunks) == 1 and "newPricing" in chunks[0].text
    hit = kb.search("newPricing feature flag")[0]
    assert hit.action == "rollback deployment/checkout" and hit.effective is True
    assert kb.status()["incidents"] == 1


def test_a_second_instance_sees_writes_of_the_first(kb, tmp_path):
    other = KnowledgeBase(tmp_path / "data")
    assert other.search("PriceFormatter") == []
    kb.remember_incident(incident())
    assert ids(other.search("PriceFormatter"))[0] == "incident:inc42"


def test_hybrid_with_hash_embedder(tmp_path, folder):
    kb = KnowledgeBase(tmp_path / "h", embed_backend="hash")
    kb.ingest(folder)
    st = kb.status()
    assert st["mode"] == "hybrid(bm25+hash-256)" and not st["warnings"]
    _, vectors = kb.store.read(include_embeddings=True)
    assert vectors.shape == (kb.store.count(), 256)
    assert ids(kb.search("OOMKilled exit code 137"))[0] == "rb/oom.md"
    # filters constrain the dense ranking as well as BM25
    assert ids(kb.search("connection pool exhausted", service="payments", limit=10)).count("rb/pool-checkout.md") == 0
    assert kb.search("connection pool exhausted", service="payments")[0].id == "rb/pool-payments.md"


def test_switching_embedder_reembeds_on_next_ingest(tmp_path, folder):
    KnowledgeBase(tmp_path / "d").ingest(folder)
    kb = KnowledgeBase(tmp_path / "d", embed_backend="hash")
    st = kb.status()
    assert st["mode"] == "bm25" and any("re-embed" in w for w in st["warnings"])
    assert ids(kb.search("OOMKilled"))[0] == "rb/oom.md"
    report = kb.ingest(folder)
    assert report.chunks_written == 0  # files unchanged; vectors were replaced in place
    assert kb.status()["mode"] == "hybrid(bm25+hash-256)"


def test_embedder_failing_to_load_falls_back_to_bm25(tmp_path, folder, monkeypatch, caplog):
    fake = types.ModuleType("fastembed")

    class TextEmbedding:  # what fastembed does offline: the model download fails
        def __init__(self, model_name, **kwargs):
            assert kwargs.get("local_files_only") is True  # never a download attempt
            raise ConnectionError(f"Could not download model {model_name} from huggingface.co")

    fake.TextEmbedding = TextEmbedding
    monkeypatch.setitem(sys.modules, "fastembed", fake)
    with caplog.at_level(logging.WARNING):
        kb = KnowledgeBase(tmp_path / "d", embed_backend="fastembed")
    assert kb.embedder is None
    assert any("fastembed" in r.message and "BM25" in r.message for r in caplog.records)
    kb.ingest(folder)
    st = kb.status()
    assert st["mode"] == "bm25" and any("Could not download" in w for w in st["warnings"])
    assert ids(kb.search("OOMKilled"))[0] == "rb/oom.md"


@pytest.mark.parametrize("backend", ["sentence-transformers-missing", "fastembed"])
def test_missing_or_unknown_backend_warns(tmp_path, monkeypatch, backend):
    monkeypatch.setitem(sys.modules, "fastembed", None)  # import fails as if not installed
    kb = KnowledgeBase(tmp_path / "d", embed_backend=backend)
    assert kb.embedder is None and kb.warnings and "BM25 only" in kb.warnings[0]
    assert kb.status()["mode"] == "bm25"


def test_queries_without_usable_terms_return_nothing(kb):
    assert kb.search("") == [] and kb.search("the of and") == [] and kb.search("zzqx") == []
    assert len(RUNBOOKS) == kb.status()["documents"]
