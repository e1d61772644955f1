"""Dense embedders behind one small interface, loaded defensively.

`load_embedder` never raises: a backend that is unknown, not installed or unable to
load its model (fastembed downloads models on first use and fails offline) yields
(None, warning) and the knowledge base runs BM25-only. `hash` is a deterministic,
dependency-free hashing embedder meant for tests, not for quality.
"""
from __future__ import annotations

import logging
import math
import zlib
from collections import Counter
from typing import Any, Protocol

import numpy as np

from knowledge.tokenize import tokenize

log = logging.getLogger(__name__)

BACKENDS = ("none", "fastembed", "sentence-transformers", "hash")
DEFAULT_MODELS = {"fastembed": "BAAI/bge-small-en-v1.5", "sentence-transformers": "all-MiniLM-L6-v2"}


class Embedder(Protocol):
    name: str  # stored with the index: vectors from different embedders are not comparable

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalize(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.ndim == 1:
        n = float(np.linalg.norm(m))
        return m / n if n > 0 else m
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


class HashEmbedder:
    """Signed feature hashing of tokens and token bigrams (testing only)."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hash-{dim}"

    def _one(self, text: str) -> np.ndarray:
        toks = tokenize(text)
        feats = Counter(toks)
        feats.update(f"{a} {b}" for a, b in zip(toks, toks[1:]))
        v = np.zeros(self.dim, dtype=np.float32)
        for f, tf in feats.items():
            h = zlib.crc32(f.encode())
            v[h % self.dim] += (1.0 if (h >> 20) & 1 else -1.0) * (1.0 + math.log(tf))
        return v

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalize(np.stack([self._one(t) for t in texts]))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalize(self._one(text))


class FastEmbedEmbedder:
    def __init__(self, model: str):
        from fastembed import TextEmbedding  # optional dependency

        self._model = TextEmbedding(model_name=model)
        self.name = f"fastembed:{model}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return _normalize(np.array(list(self._model.embed(texts)))) if texts else np.zeros((0, 1), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalize(np.array(next(iter(self._model.query_embed(text)))))


class SentenceTransformerEmbedder:
    def __init__(self, model: str):
        from sentence_transformers import SentenceTransformer  # optional dependency

        self._model = SentenceTransformer(model)
        self.name = f"sentence-transformers:{model}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        return _normalize(self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalize(self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0])


def load_embedder(backend: str | None, model: str | None = None) -> tuple[Embedder | None, str | None]:
    """(embedder, None) on success; (None, warning) when running BM25-only."""
    backend = (backend or "none").strip().lower()
    if backend in ("", "none"):
        return None, None
    if backend not in BACKENDS:
        msg = f"unknown EMBED_BACKEND {backend!r} (choose from {', '.join(BACKENDS)}); using BM25 only"
        log.warning(msg)
        return None, msg
    try:
        if backend == "hash":
            emb: Embedder = HashEmbedder(int(model) if model and model.isdigit() else 256)
        elif backend == "fastembed":
            emb = FastEmbedEmbedder(model or DEFAULT_MODELS["fastembed"])
        else:
            emb = SentenceTransformerEmbedder(model or DEFAULT_MODELS["sentence-transformers"])
        # Some backends load lazily; embed once so a broken model fails here, not mid-search.
        probe = emb.embed_query("probe")
        if probe.ndim != 1 or not np.all(np.isfinite(probe)):
            raise ValueError("model returned an invalid vector")
        return emb, None
    except Exception as exc:  # ImportError, download failure offline, bad model path...
        msg = (f"embedding backend {backend!r} (model {model or DEFAULT_MODELS.get(backend, '-')}) "
               f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
               "using BM25 only")
        log.warning(msg)
        return None, msg


def configure_llama_index(embedder: Embedder | None) -> None:
    """Point llama-index's global Settings at our embedder and disable its LLM.

    llama-index would otherwise resolve a default OpenAI model (network) the first
    time anything asks for Settings.embed_model or Settings.llm.
    """
    import contextlib
    import io

    from llama_index.core import Settings
    from llama_index.core.embeddings import MockEmbedding

    with contextlib.redirect_stdout(io.StringIO()):  # resolve_llm(None) prints a notice
        Settings.llm = None
    Settings.embed_model = LlamaEmbedding.wrap(embedder) if embedder else MockEmbedding(embed_dim=1)


def _llama_embedding_class() -> Any:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class _LlamaEmbedding(BaseEmbedding):
        _inner: Any = PrivateAttr()

        @classmethod
        def wrap(cls, inner: Embedder) -> "_LlamaEmbedding":
            obj = cls(model_name=inner.name)
            obj._inner = inner
            return obj

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._inner.embed_query(query).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._inner.embed_documents([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._inner.embed_documents(texts).tolist()

    return _LlamaEmbedding


class _LazyLlamaEmbedding:
    """Defers importing llama-index until an embedder is actually wrapped."""

    _cls: Any = None

    @classmethod
    def wrap(cls, inner: Embedder) -> Any:
        if cls._cls is None:
            cls._cls = _llama_embedding_class()
        return cls._cls.wrap(inner)


LlamaEmbedding = _LazyLlamaEmbedding
