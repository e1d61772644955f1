"""The chunk record shared by ingestion, the Chroma store and retrieval.

Chroma metadata values must be scalars (and llama-index's flat metadata check agrees),
so list fields travel as comma-joined strings and are decoded on the way back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WILDCARD_SERVICE = "any"
DOC_TYPES = ("runbook", "postmortem", "incident")

# Keys written by llama-index's ChromaVectorStore alongside ours; not part of a Chunk.
_LLAMA_KEYS = {"_node_content", "_node_type", "document_id", "doc_id", "ref_doc_id"}


def join_list(values: tuple[str, ...] | list[str]) -> str:
    return ",".join(v.strip() for v in values if v and v.strip())


def split_list(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v for v in str(value).split(",") if v)


@dataclass
class Chunk:
    # "<doc id>#<n>@<content hash prefix>": content-addressed, so an edited document gets
    # new ids and a reader can sync by diffing id lists instead of re-reading everything.
    id: str
    doc_id: str  # the document key: "<folder>/<file>" for files, "incident:<id>" for incidents
    text: str
    title: str
    section: str = ""
    doc_type: str = "runbook"
    services: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    source: str = ""
    corpus: str = ""  # top folder a file was ingested from; scopes deletions
    content_hash: str = ""
    updated: str = ""
    chunk_index: int = 0
    extra: dict[str, str] = field(default_factory=dict)  # incident fields: action, outcome, effective...

    def metadata(self) -> dict[str, Any]:
        md: dict[str, Any] = {
            "title": self.title, "section": self.section, "doc_type": self.doc_type,
            "services": join_list(self.services), "categories": join_list(self.categories),
            "severity": join_list(self.severity), "source": self.source, "corpus": self.corpus,
            "content_hash": self.content_hash, "updated": self.updated, "chunk_index": self.chunk_index,
        }
        for k, v in self.extra.items():
            md[f"x_{k}"] = "" if v is None else str(v)
        return md

    @classmethod
    def from_store(cls, id: str, document: str | None, md: dict[str, Any] | None) -> "Chunk":
        md = md or {}
        extra = {k[2:]: str(v) for k, v in md.items() if k.startswith("x_") and k not in _LLAMA_KEYS}
        return cls(
            id=id, doc_id=str(md.get("document_id") or md.get("ref_doc_id") or md.get("source") or id),
            text=document or "", title=str(md.get("title") or ""), section=str(md.get("section") or ""),
            doc_type=str(md.get("doc_type") or "runbook"), services=split_list(md.get("services")),
            categories=split_list(md.get("categories")), severity=split_list(md.get("severity")),
            source=str(md.get("source") or ""), corpus=str(md.get("corpus") or ""),
            content_hash=str(md.get("content_hash") or ""), updated=str(md.get("updated") or ""),
            chunk_index=int(md.get("chunk_index") or 0), extra=extra,
        )

    def embedding_text(self) -> str:
        return "\n".join(p for p in (self.title, self.section, self.text) if p)

    def search_text(self) -> str:
        """What BM25 indexes: the section plus its document's title and labels, so a
        section that never repeats the title still matches a query naming the problem."""
        labels = " ".join([*self.categories, *(s for s in self.services if s != WILDCARD_SERVICE)])
        return "\n".join(p for p in (self.title, self.section, labels, self.text) if p)
