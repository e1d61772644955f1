"""The retrieval benchmark's evaluation on the real labelled set (BM25 only)."""
from __future__ import annotations

from pathlib import Path

from bench import retrieval
from knowledge import BUNDLED_RUNBOOKS
from tests.support import dataset


def test_labelled_set_is_consistent_with_the_corpus():
    queries = retrieval.load_queries()
    incidents = {f"incident:{r.id}" for r in retrieval.load_incidents()}
    assert len(queries) >= 60
    for q in queries:
        exp = q["expected"]
        if exp.startswith("incident:"):
            assert exp in incidents, exp
        else:
            assert (BUNDLED_RUNBOOKS.parent / exp).is_file(), exp


def test_bm25_recall_at_5_on_the_labelled_set(tmp_path):
    kb = retrieval.build(tmp_path, "none", None, retrieval.load_incidents())
    result = retrieval.evaluate(kb, retrieval.load_queries())
    assert kb.status()["mode"] == "bm25"
    assert result["queries"] >= 60
    assert result["recall@5"] >= 0.9, result["misses"]
    assert result["mrr"] >= result["recall@1"] > 0.5
    kb.close()


def test_distractors_pad_the_index_to_the_requested_size(tmp_path):
    dataset("loghub")
    kb = retrieval.build(tmp_path, "none", None, [], distractor_chunks=300)
    st = kb.status()
    runbook_chunks = st["chunks"] - 300
    assert 0 < runbook_chunks < 300 and st["chunks"] >= 300
    texts = " ".join(c.text for c in kb.store.read()[0] if c.corpus == "distractors")
    assert "<*>" in texts  # Loghub templates made it in
    assert Path(tmp_path / "distractors").is_dir()
    kb.close()
