"""Hybrid retrieval over the Chroma-held chunks, kept in memory.

BM25 (bm25s, operations-aware tokenizer) always runs; when an embedder is loaded and
the stored vectors came from it, cosine similarity over the same chunks runs too and
the two document rankings are fused by weighted reciprocal rank: the dense vote shrinks
as the query turns from prose into quoted identifiers. Chunks are scored, then
grouped per document: a hit is a document, shown through its best-matching section.
Both signals run in process over numpy arrays, so the filters mean exactly the same
thing for both and a search costs no round trip to a Chroma server.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import bm25s
import numpy as np

from knowledge.chunks import WILDCARD_SERVICE, Chunk
from knowledge.embed import Embedder
from knowledge.tokenize import tokenize

# Reciprocal-rank constant. With two signals and a top-5 answer a small k keeps rank 1 worth
# clearly more than rank 3; the usual 60 flattens ranks so much that a document one signal
# puts 20th can tie one both signals put 5th. Chosen on bench/retrieval.py (see README).
RRF_K = 10
SNIPPET_CHARS = 400
# How many ranked documents each signal contributes to the fusion.
FUSION_DEPTH = 50
SECOND_SECTION_WEIGHT = 0.25
# Dense weight = 1 - DENSE_DISCOUNT x (share of the query's words that are identifiers): prose
# symptoms keep the full dense vote, a pasted log line or alert (identifier share ~0.3) about
# half, a query of identifiers alone none.
DENSE_DISCOUNT = 2.0
# Past incidents whose cause people confirmed or corrected (bot/feedback) score this much more than
# the engine's unchecked answers: among similar matches a verified cause comes first, while a
# clearly better match still wins (a multiplier keeps the signals' own scales).
VERIFIED_BOOST = 1.25
VERIFIED = ("confirmed", "corrected")

_EDGE_PUNCT = "\"'`()[]{}<>,;!?"
_IDENTIFIER = re.compile(r"\d|.[A-Z]|\w[._/:=\-]\w")

# bm25s logs every index build at DEBUG; the index is rebuilt whenever the collection changes.
logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass
class Hit:
    id: str
    source: str
    title: str
    snippet: str
    score: float
    doc_type: str
    categories: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    section: str = ""
    # Incidents: the action taken, its outcome (succeeded|failed|none) and whether the
    # alert resolved soon enough afterwards for it to count as the fix.
    action: str | None = None
    outcome: str | None = None
    effective: bool | None = None
    namespace: str | None = None  # incidents: where it happened (for the namespace allowlist)
    # Incidents: "confirmed" or "corrected" by people; when corrected, categories hold their answer
    # and engine_category what the engine had said.
    feedback: str | None = None
    engine_category: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: v for k, v in d.items() if v not in (None, "", [])}


def fuse(rankings: list[list[tuple[int, int, float]]], weights: tuple[float, ...],
         k: int | None = None) -> list[tuple[int, int, float]]:
    """Weighted reciprocal-rank fusion of per-signal document rankings, best first.

    The first ranking (lexical) picks the section shown for a document both rankings hold.
    """
    k = RRF_K if k is None else k
    best_chunk: dict[int, int] = {}
    total: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (d, ci, _) in enumerate(ranking):
            total[d] = total.get(d, 0.0) + weight / (k + rank + 1)
            best_chunk.setdefault(d, ci)
    return sorted(((d, best_chunk[d], s) for d, s in total.items()), key=lambda x: -x[2])


def exact_token_share(query: str) -> float:
    """Share of the query's words that are identifiers rather than prose.

    An identifier carries a digit (`137`, `x509`, `5xx`), a capital past its first letter
    (`OOMKilled`, `HPA`) or an inner separator (`REDIS_PASSWORD`, `10.96.0.10:53`,
    `web-api`): text a log line or alert quotes verbatim, which BM25 matches exactly and a
    sentence embedding only blurs.
    """
    words = [w.strip(_EDGE_PUNCT) for w in query.split()]
    words = [w for w in words if any(c.isalnum() for c in w)]
    if not words:
        return 0.0
    return sum(1 for w in words if _IDENTIFIER.search(w)) / len(words)


def signal_weights(query: str) -> tuple[float, float]:
    """(BM25 weight, dense weight) for the fusion: dense counts less the more the query quotes."""
    return 1.0, max(0.0, 1.0 - DENSE_DISCOUNT * exact_token_share(query))


def _parse_bool(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get((value or "").lower())


class MemoryIndex:
    """An immutable snapshot of the collection: BM25 matrix, optional vectors, metadata."""

    def __init__(self, chunks: list[Chunk], vectors: np.ndarray | None, version: str,
                 token_cache: dict[str, list[str]]):
        self.version = version
        self.chunks = chunks
        self.vectors = vectors if vectors is not None and len(vectors) == len(chunks) else None
        doc_ids: dict[str, int] = {}
        self.doc_of = np.array([doc_ids.setdefault(c.doc_id, len(doc_ids)) for c in chunks], dtype=np.int64)
        self.docs = list(doc_ids)
        corpus = []
        for c in chunks:
            toks = token_cache.get(c.id)
            if toks is None:
                toks = token_cache[c.id] = tokenize(c.search_text())
            corpus.append(toks or [""])
        self.bm25: bm25s.BM25 | None = None
        if chunks:
            self.bm25 = bm25s.BM25()
            self.bm25.index(corpus, show_progress=False)
        self._masks: dict[tuple[Any, ...], np.ndarray] = {}
        self.boost = {int(self.doc_of[i]): VERIFIED_BOOST for i, c in enumerate(chunks)
                      if c.extra.get("feedback") in VERIFIED}

    def __len__(self) -> int:
        return len(self.chunks)

    # --- filters -------------------------------------------------------------
    def mask(self, service: str | None, category: str | None, severity: str | None,
             doc_type: str | None) -> np.ndarray | None:
        key = (service, category, severity, doc_type)
        if key == (None, None, None, None):
            return None
        if key not in self._masks:
            if len(self._masks) > 256:
                self._masks.clear()
            s, c, v, d = (x.lower() if x else None for x in key)
            self._masks[key] = np.fromiter(
                ((s is None or not ch.services or s in ch.services or WILDCARD_SERVICE in ch.services)
                 and (c is None or c in ch.categories)
                 and (v is None or not ch.severity or v in ch.severity)
                 and (d is None or ch.doc_type == d) for ch in self.chunks),
                dtype=bool, count=len(self.chunks))
        return self._masks[key]

    # --- ranking -------------------------------------------------------------
    def _doc_ranking(self, scores: np.ndarray, valid: np.ndarray, depth: int) -> list[tuple[int, int, float]]:
        """[(doc index, best chunk index, score)] best first, one entry per document.

        A document scores its best section plus a fraction of its second best: a runbook
        whose symptoms *and* diagnosis match beats one that shares a single section's words.
        """
        idx = np.flatnonzero(valid)
        if not len(idx):
            return []
        docs, sc = self.doc_of[idx], scores[idx]
        order = np.lexsort((-sc, docs))  # grouped by document, best chunk first
        docs, sc, idx = docs[order], sc[order], idx[order]
        starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        ends = np.r_[starts[1:], len(docs)]
        second = np.where(ends - starts > 1, sc[np.minimum(starts + 1, len(sc) - 1)], 0.0)
        total = sc[starts] + SECOND_SECTION_WEIGHT * np.maximum(second, 0.0)
        top = np.argsort(-total, kind="stable")[:depth]
        return [(int(docs[starts[t]]), int(idx[starts[t]]), float(total[t])) for t in top]

    def search(self, query: str, embedder: Embedder | None, limit: int = 5, service: str | None = None,
               category: str | None = None, severity: str | None = None,
               doc_type: str | None = None) -> list[Hit]:
        if not self.chunks or limit <= 0:
            return []
        mask = self.mask(service, category, severity, doc_type)
        q_tokens = tokenize(query)
        depth = max(FUSION_DEPTH, limit)
        rankings: list[list[tuple[int, int, float]]] = []
        if self.bm25 is not None and q_tokens:
            ids = self.bm25.get_tokens_ids(q_tokens)
            if ids:
                scores = self.bm25.get_scores_from_ids(ids)
                valid = scores > 0
                if mask is not None:
                    valid &= mask
                rankings.append(self._doc_ranking(scores, valid, depth))
        if embedder is not None and self.vectors is not None and query.strip():
            qv = embedder.embed_query(query)
            if qv.shape[0] == self.vectors.shape[1]:
                # Not `vectors @ qv`: OpenBLAS would split this matvec over its threads, which
                # then spin-wait for ~100 ms and starve the next query's encoder on a small
                # machine (10k-chunk p95 70 ms vs 39 ms). einsum runs one thread, 0.75 ms at 10k.
                sims = np.einsum("ij,j->i", self.vectors, qv)
                valid = np.ones(len(sims), dtype=bool) if mask is None else mask.copy()
                rankings.append(self._doc_ranking(sims, valid, depth))
        if len(rankings) == 2 and rankings[0] and rankings[1]:
            fused = fuse(rankings, signal_weights(query))
        else:
            fused = next((r for r in rankings if r), [])
        if self.boost:
            fused = sorted(((d, ci, s * self.boost.get(d, 1.0)) for d, ci, s in fused), key=lambda x: -x[2])
        return [self._hit(ci, score, q_tokens) for _, ci, score in fused[:limit]]

    def _hit(self, ci: int, score: float, q_tokens: list[str]) -> Hit:
        c = self.chunks[ci]
        x = c.extra
        return Hit(id=c.doc_id, source=c.source or c.doc_id, title=c.title, snippet=snippet(c.text, q_tokens),
                   score=round(score, 4), doc_type=c.doc_type, categories=list(c.categories),
                   services=list(c.services), section=c.section, action=x.get("action") or None,
                   outcome=x.get("outcome") or None, effective=_parse_bool(x.get("effective")),
                   namespace=x.get("namespace") or None, feedback=x.get("feedback") or None,
                   engine_category=x.get("engine_category") or None)


_WS = re.compile(r"[ \t]+")


def snippet(text: str, q_tokens: list[str], limit: int = SNIPPET_CHARS) -> str:
    """The ≤ limit-character window of `text` (on line boundaries) holding most query terms."""
    lines = [ln for ln in (_WS.sub(" ", ln).strip() for ln in text.split("\n")) if ln]
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    wanted = set(q_tokens)
    gains = [len(wanted.intersection(tokenize(line))) for line in lines]
    best_start, best_gain = 0, -1
    for start in range(len(lines)):
        size, gain = 0, 0
        for j in range(start, len(lines)):
            size += len(lines[j]) + 1
            if size > limit and j > start:
                break
            gain += gains[j]
        if gain > best_gain:
            best_start, best_gain = start, gain
    out, size = [], 0
    for line in lines[best_start:]:
        if size + len(line) + 1 > limit:
            if not out:
                out.append(line[: limit - 1] + "…")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)
