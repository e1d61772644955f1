"""KnowledgeBase: the facade over ingestion, the Chroma store, retrieval and incident memory."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from knowledge.chunks import Chunk
from knowledge.embed import Embedder, configure_llama_index, load_embedder
from knowledge.errors import KnowledgeBaseError
from knowledge.ingest import IngestReport, chunk_document, read_source, scan
from knowledge.memory import IncidentRecord, incident_chunk
from knowledge.retrieve import Hit, MemoryIndex
from knowledge.store import NO_EMBEDDER, ChromaStore

log = logging.getLogger(__name__)

# The runbooks shipped with the bot, ingested when KNOWLEDGE_DIR is unset.
BUNDLED_RUNBOOKS = Path(__file__).resolve().parent / "runbooks"


class KnowledgeBase:
    def __init__(self, data_dir: Path, chroma_url: str | None = None, embed_backend: str = "none",
                 embed_model: str | None = None, collection: str = "knowledge"):
        self.embedder: Embedder | None
        self.embedder, warning = load_embedder(embed_backend, embed_model)
        self.warnings: list[str] = [warning] if warning else []
        configure_llama_index(self.embedder)
        self.store = ChromaStore(Path(data_dir), chroma_url, collection)
        self._index: MemoryIndex | None = None
        # Caches behind the in-memory index, keyed by content-addressed chunk id.
        self._chunks: dict[str, Chunk] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._tokens: dict[str, list[str]] = {}
        self._cache_key: tuple[str, bool] | None = None
        self._lock = threading.Lock()

    @property
    def embed_name(self) -> str:
        return self.embedder.name if self.embedder else NO_EMBEDDER

    def close(self) -> None:
        self.store.close()
        self._index = None

    # --- writes --------------------------------------------------------------
    def _embed(self, chunks: list[Chunk]) -> np.ndarray | None:
        if self.embedder is None or not chunks:
            return None
        return self.embedder.embed_documents([c.embedding_text() for c in chunks])

    def _align_embeddings(self) -> None:
        """Vectors in the store must come from the current embedder; re-embed if not."""
        stored = self.store.state().get("embed", NO_EMBEDDER)
        if stored == self.embed_name:
            return
        chunks, _ = self.store.read()
        if chunks:  # the store follows the configuration of whoever writes to it; say so loudly
            log.warning("re-embedding %d chunks: index built with %s, this process uses %s", len(chunks), stored,
                        self.embed_name)
        self.store.replace_all(chunks, self._embed(chunks), self.embed_name)

    def ingest(self, path: Path | str) -> IngestReport:
        path = Path(path)
        if not path.exists():
            raise KnowledgeBaseError(f"nothing to ingest: {path} does not exist")
        report = IngestReport()
        self._align_embeddings()
        corpus, files = scan(path)
        known = self.store.manifest(corpus)
        to_write: list[Chunk] = []
        to_replace: list[str] = []
        present = set()
        for file, doc_id in files:
            present.add(doc_id)
            try:
                doc, warning = read_source(file, doc_id, corpus)
            except OSError as exc:
                report.warnings.append(f"{doc_id}: unreadable ({exc.strerror or exc})")
                continue
            if warning:
                report.warnings.append(f"{doc_id}: {warning}")
            if known.get(doc_id) == doc.content_hash:
                report.unchanged.append(doc_id)
                continue
            chunks = chunk_document(doc)
            if doc_id in known:
                report.updated.append(doc_id)
                to_replace.append(doc_id)
            else:
                report.added.append(doc_id)
            to_write.extend(chunks)
        # A single file ingests alone: only a folder scan can tell that a file was deleted.
        gone = sorted(set(known) - present) if path.is_dir() else []
        report.deleted = gone
        if to_replace or gone:
            report.chunks_deleted = self.store.delete_docs([*to_replace, *gone])
        if to_write:
            report.chunks_written = self.store.add(to_write, self._embed(to_write))
        if to_write or to_replace or gone:
            self.store.bump(self.embed_name)
        elif not self.store.was_built():
            self.store.mark_built()
        return report

    def remember_incident(self, rec: IncidentRecord) -> None:
        """Upsert the incident's document (id incident:<id>)."""
        self._align_embeddings()
        chunk = incident_chunk(rec)
        self.store.delete_docs([rec.doc_id])
        self.store.add([chunk], self._embed([chunk]))
        self.store.bump(self.embed_name)

    def rebuild(self, sources_dir: Path | str | None, records: Iterable[IncidentRecord] = ()) -> IngestReport:
        """Wipe the index (even a corrupted one) and restore it from sources and incident records."""
        if sources_dir is not None and not Path(sources_dir).exists():
            raise KnowledgeBaseError(f"cannot rebuild from {sources_dir}: it does not exist (index left as is)")
        self.store.wipe()
        self._index = None
        report = self.ingest(sources_dir) if sources_dir is not None else IngestReport()
        for rec in records:
            self.remember_incident(rec)
            report.incidents += 1
        self.store.mark_built()
        return report

    # --- reads ---------------------------------------------------------------
    def _current_index(self) -> MemoryIndex:
        """The in-memory index, synced from Chroma when the collection's version moved.

        Syncing lists ids (cheap) and fetches only chunks not seen before; reading every
        document back from Chroma costs ~1 s at 10,000 chunks, an id listing ~15 ms.
        """
        state = self.store.state()
        version = str(state.get("version", ""))
        idx = self._index
        if idx is not None and idx.version == version:
            return idx
        with self._lock:
            if self._index is not None and self._index.version == version:
                return self._index
            dense = self.embedder is not None and state.get("embed") == self.embed_name
            cache_key = (str(state.get("embed")), dense)
            if cache_key != self._cache_key:  # re-embedded in place: same ids, other vectors
                self._chunks, self._vectors, self._cache_key = {}, {}, cache_key
            ids = self.store.ids()
            chunks, vectors = self.store.fetch([i for i in ids if i not in self._chunks], dense)
            for n, c in enumerate(chunks):
                self._chunks[c.id] = c
                if dense:
                    self._vectors[c.id] = vectors[n]
            live = set(ids)
            for cache in (self._chunks, self._vectors, self._tokens):
                for gone in [k for k in cache if k not in live]:
                    del cache[gone]
            ordered = [self._chunks[i] for i in ids if i in self._chunks]
            matrix = np.stack([self._vectors[c.id] for c in ordered]) if dense and ordered else None
            self._index = MemoryIndex(ordered, matrix, version, self._tokens)
            return self._index

    def search(self, query: str, service: str | None = None, category: str | None = None,
               severity: str | None = None, limit: int = 5, doc_type: str | None = None) -> list[Hit]:
        index = self._current_index()
        dense = self.embedder if index.vectors is not None else None
        return index.search(query, dense, limit=limit, service=service, category=category,
                            severity=severity, doc_type=doc_type)

    def status(self) -> dict[str, Any]:
        """Never raises: an unusable store is reported under "error"."""
        out: dict[str, Any] = {"mode": "bm25", "documents": 0, "chunks": 0, "incidents": 0,
                               "store": self.store.location, "collection": self.store.name,
                               "warnings": list(self.warnings)}
        try:
            index = self._current_index()
            stored = self.store.state().get("embed", NO_EMBEDDER)
        except KnowledgeBaseError as exc:
            out["error"] = str(exc)
            return out
        if self.embedder is not None:
            if index.vectors is not None or not len(index):
                out["mode"] = f"hybrid(bm25+{self.embedder.name})"
            else:
                out["warnings"].append(f"stored vectors come from {stored}, not {self.embedder.name}; "
                                       "run `chatops knowledge ingest` to re-embed (BM25 only until then)")
        kinds = {}
        for c in index.chunks:
            kinds.setdefault(c.doc_id, c.doc_type)
        out["chunks"] = len(index)
        out["incidents"] = sum(1 for t in kinds.values() if t == "incident")
        out["documents"] = len(kinds) - out["incidents"]
        if not len(index):
            out["warnings"].append("knowledge base is empty; run `chatops knowledge ingest PATH`")
        return out
