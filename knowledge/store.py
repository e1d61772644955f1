"""Chroma persistence through llama-index's ChromaVectorStore.

Embedded `PersistentClient(DATA_DIR/chroma)` by default, `HttpClient` when a URL is
given; telemetry is off in both (no network). Chroma's default embedding function
downloads a model on first use, so no collection is ever given one: every write
carries its own vectors. In BM25-only mode those are 2-d placeholders derived from
the chunk id (distinct, so Chroma's HNSW graph never sees thousands of identical
points); the embedder in use is recorded in the collection metadata so vectors from
different embedders are never mixed.

A marker file in DATA_DIR records that an index was built, which is how a deleted
Chroma directory is told apart from a first run.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import numpy as np

from knowledge.chunks import Chunk
from knowledge.errors import REBUILD_HINT, KnowledgeBaseError

log = logging.getLogger(__name__)

COLLECTION = "knowledge"
MARKER = "knowledge-index.json"
NO_EMBEDDER = "none"
_PAGE = 5000


def placeholder_vector(chunk_id: str) -> list[float]:
    angle = (zlib.crc32(chunk_id.encode()) % 3600) / 3600 * 2 * math.pi
    return [math.cos(angle), math.sin(angle)]


def _chroma_settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def _is_not_found(exc: BaseException) -> bool:
    return type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


class ChromaStore:
    def __init__(self, data_dir: Path, chroma_url: str | None = None, collection: str = COLLECTION):
        self.data_dir = Path(data_dir)
        self.chroma_url = chroma_url.rstrip("/") if chroma_url else None
        self.name = collection
        self.path = self.data_dir / "chroma"
        self._client: Any = None
        self._collection: Any = None

    # --- location and marker -------------------------------------------------
    @property
    def location(self) -> str:
        return self.chroma_url or str(self.path)

    def _marker_path(self) -> Path:
        return self.data_dir / MARKER

    def _marker(self) -> dict[str, Any]:
        try:
            return json.loads(self._marker_path().read_text())
        except (OSError, ValueError):
            return {}

    def was_built(self) -> bool:
        return f"{self.location}#{self.name}" in self._marker()

    def mark_built(self) -> None:
        marker = self._marker()
        marker[f"{self.location}#{self.name}"] = {"built_at": datetime.now(timezone.utc).isoformat()}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._marker_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(marker, indent=1))
        tmp.replace(self._marker_path())

    def _broken(self, what: str) -> KnowledgeBaseError:
        return KnowledgeBaseError(f"knowledge index {self.location} (collection {self.name}) {what}; {REBUILD_HINT}")

    # --- opening -------------------------------------------------------------
    def _make_client(self) -> Any:
        import chromadb

        if self.chroma_url:
            u = urlparse(self.chroma_url if "://" in self.chroma_url else f"http://{self.chroma_url}")
            try:
                return chromadb.HttpClient(host=u.hostname or "127.0.0.1",
                                           port=u.port or (443 if u.scheme == "https" else 8000),
                                           ssl=u.scheme == "https", settings=_chroma_settings())
            except Exception as exc:
                raise KnowledgeBaseError(f"cannot reach Chroma at {self.chroma_url}: {_first_line(exc)}") from None
        if self.was_built() and not (self.path / "chroma.sqlite3").is_file():
            raise self._broken("is missing although it was built before")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=_chroma_settings())
        except Exception as exc:
            self._forget_system()
            raise self._broken(f"cannot be opened ({_first_line(exc)})") from None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            self.open()
        return self._collection

    def open(self) -> None:
        client = self._make_client()
        try:
            try:
                col = client.get_collection(self.name, embedding_function=None)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
                if self.was_built():
                    raise self._broken("is missing although it was built before") from None
                col = client.create_collection(self.name, embedding_function=None,
                                               metadata={"embed": NO_EMBEDDER, "version": "0"})
            col.count()  # touches the segment files: a damaged store fails here, not mid-search
        except KnowledgeBaseError:
            raise
        except Exception as exc:
            if self.chroma_url:
                raise KnowledgeBaseError(f"Chroma at {self.chroma_url} failed: {_first_line(exc)}") from None
            raise self._broken(f"is unreadable ({_first_line(exc)})") from None
        self._client, self._collection = client, col

    def close(self) -> None:
        client, self._client, self._collection = self._client, None, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken store must not mask the original error
                pass

    def _forget_system(self) -> None:
        """Drop chroma's per-process cached System for our path so a wiped or repaired
        directory is opened afresh instead of through stale handles."""
        try:
            from chromadb.api.shared_system_client import SharedSystemClient

            system = SharedSystemClient._identifier_to_system.pop(str(self.path), None)
            SharedSystemClient._identifier_to_refcount.pop(str(self.path), None)
            if system is not None:
                system.stop()
        except Exception as exc:
            log.debug("could not release chroma system: %s", exc)

    def _guard(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KnowledgeBaseError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                raise self._broken(f"disappeared ({_first_line(exc)})") from None
            if self.chroma_url:
                raise KnowledgeBaseError(f"Chroma at {self.chroma_url} failed to {what}: {_first_line(exc)}") from None
            raise self._broken(f"failed to {what} ({_first_line(exc)})") from None

    # --- state ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Collection metadata, re-read so writes by other processes are noticed."""
        self.collection  # noqa: B018 - opens on first use
        col = self._guard("read its state", self._client.get_collection, self.name, embedding_function=None)
        if col.id != self._collection.id:  # another process rebuilt it (HTTP): follow the new one
            self._collection = col
        return dict(col.metadata or {})

    def bump(self, embed: str) -> None:
        self._guard("record a change", self.collection.modify,
                    metadata={"embed": embed, "version": uuid.uuid4().hex})
        self.mark_built()

    def count(self) -> int:
        return int(self._guard("count chunks", self.collection.count))

    # --- reads ---------------------------------------------------------------
    def read(self, include_embeddings: bool = False, where: dict[str, Any] | None = None
             ) -> tuple[list[Chunk], np.ndarray | None]:
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        chunks: list[Chunk] = []
        vectors: list[np.ndarray] = []
        offset = 0
        while True:
            page = self._guard("read chunks", self.collection.get, where=where, include=include,
                               limit=_PAGE, offset=offset)
            ids = page["ids"]
            for i, cid in enumerate(ids):
                chunks.append(Chunk.from_store(cid, page["documents"][i], page["metadatas"][i]))
            if include_embeddings and len(ids):
                vectors.append(np.asarray(page["embeddings"], dtype=np.float32))
            if len(ids) < _PAGE:
                break
            offset += _PAGE
        if not include_embeddings:
            return chunks, None
        return chunks, (np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32))

    def ids(self) -> list[str]:
        return list(self._guard("list chunk ids", self.collection.get, include=[])["ids"])

    def fetch(self, ids: list[str], include_embeddings: bool = False) -> tuple[list[Chunk], list[np.ndarray]]:
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        chunks: list[Chunk] = []
        vectors: list[np.ndarray] = []
        for i in range(0, len(ids), 1000):
            page = self._guard("read chunks", self.collection.get, ids=ids[i:i + 1000], include=include)
            for j, cid in enumerate(page["ids"]):
                chunks.append(Chunk.from_store(cid, page["documents"][j], page["metadatas"][j]))
                if include_embeddings:
                    vectors.append(np.asarray(page["embeddings"][j], dtype=np.float32))
        return chunks, vectors

    def manifest(self, corpus: str) -> dict[str, str]:
        """source -> content hash of every file previously ingested from `corpus`."""
        page = self._guard("read the manifest", self.collection.get, where={"corpus": corpus},
                           include=["metadatas"])
        return {str(md.get("source")): str(md.get("content_hash")) for md in page["metadatas"] if md}

    # --- writes --------------------------------------------------------------
    def add(self, chunks: list[Chunk], vectors: np.ndarray | None) -> int:
        """Write chunks through llama-index's ChromaVectorStore (nodes keep their doc link)."""
        if not chunks:
            return 0
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        nodes = []
        for i, c in enumerate(chunks):
            emb = vectors[i].tolist() if vectors is not None else placeholder_vector(c.id)
            node = TextNode(id_=c.id, text=c.text, metadata=c.metadata(), embedding=emb,
                            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=c.doc_id)})
            nodes.append(node)
        store = ChromaVectorStore(chroma_collection=self.collection)
        batch = max(1, min(1000, int(self._guard("size a batch", self._client.get_max_batch_size))))
        for i in range(0, len(nodes), batch):
            self._guard("write chunks", store.add, nodes[i:i + batch])
        return len(nodes)

    def delete_docs(self, doc_ids: Iterable[str]) -> int:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        store = ChromaVectorStore(chroma_collection=self.collection)
        removed = 0
        for doc_id in doc_ids:
            removed += len(self._guard("read chunks", self.collection.get, where={"document_id": doc_id},
                                       include=[])["ids"])
            self._guard("delete chunks", store.delete, doc_id)
        return removed

    def replace_all(self, chunks: list[Chunk], vectors: np.ndarray | None, embed: str) -> None:
        """Recreate the collection (e.g. with another vector size) holding `chunks`."""
        self.collection  # noqa: B018
        try:
            self._client.delete_collection(self.name)
        except Exception as exc:
            if not _is_not_found(exc):
                raise self._broken(f"could not be reset ({_first_line(exc)})") from None
        self._collection = self._guard("create the collection", self._client.create_collection, self.name,
                                       embedding_function=None, metadata={"embed": embed, "version": "0"})
        self.add(chunks, vectors)
        self.bump(embed)

    def wipe(self) -> None:
        """Delete everything, including a corrupted directory that cannot be opened."""
        if self.chroma_url:
            client = self._client or self._make_client()
            try:
                client.delete_collection(self.name)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise KnowledgeBaseError(f"Chroma at {self.chroma_url} refused to drop "
                                             f"{self.name}: {_first_line(exc)}") from None
            self._collection = None
            self._client = client
        else:
            self.close()
            self._forget_system()
            shutil.rmtree(self.path, ignore_errors=True)
        marker = self._marker()
        if marker.pop(f"{self.location}#{self.name}", None) is not None:
            self._marker_path().write_text(json.dumps(marker, indent=1))
