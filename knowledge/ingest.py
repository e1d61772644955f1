"""Runbooks and postmortems from a folder of Markdown or text into chunks.

Files are split by heading with llama-index's MarkdownNodeParser (one chunk per
section; an over-long section is split again by sentences). Ingestion is idempotent:
each chunk carries its file's content hash, so an unchanged file writes nothing, a
changed file has its chunks replaced and a file that disappeared from the folder
loses its chunks.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from knowledge.chunks import DOC_TYPES, Chunk

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".markdown", ".txt")
# A folder's README describes the folder; it is not a runbook.
SKIP_NAMES = ("readme.md", "readme.txt", "readme")
MAX_SECTION_WORDS = 350


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    incidents: int = 0  # incident documents restored by a rebuild
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.deleted)} deleted, "
                f"{len(self.unchanged)} unchanged; {self.chunks_written} chunks written, "
                f"{self.chunks_deleted} removed")


@dataclass
class SourceDoc:
    doc_id: str
    body: str
    title: str
    services: tuple[str, ...]
    categories: tuple[str, ...]
    severity: tuple[str, ...]
    doc_type: str
    corpus: str
    content_hash: str
    updated: str


_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_H1 = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _as_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, (list, tuple)):
        value = [value]
    return tuple(str(v).strip().lower() for v in value if str(v).strip())


def split_front_matter(text: str) -> tuple[dict[str, Any], str, str | None]:
    """(front matter, body, warning). Malformed YAML leaves the file ingestible as plain text."""
    m = _FRONT.match(text)
    if not m:
        return {}, text, None
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        return {}, text[m.end():], f"front matter is not valid YAML ({str(exc).splitlines()[0]})"
    if not isinstance(meta, dict):
        return {}, text[m.end():], "front matter is not a mapping"
    return meta, text[m.end():], None


def read_source(path: Path, doc_id: str, corpus: str) -> tuple[SourceDoc, str | None]:
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    meta, body, warning = split_front_matter(text)
    heading = _H1.search(body)
    title = str(meta.get("title") or (heading.group(1) if heading else "") or
                path.stem.replace("-", " ").replace("_", " ")).strip()
    doc_type = str(meta.get("type") or meta.get("doc_type") or "runbook").lower()
    doc = SourceDoc(
        doc_id=doc_id, body=body, title=title, services=_as_list(meta.get("services", meta.get("service"))),
        categories=_as_list(meta.get("categories", meta.get("category"))),
        severity=_as_list(meta.get("severity")),
        doc_type=doc_type if doc_type in DOC_TYPES and doc_type != "incident" else "runbook",
        corpus=corpus, content_hash=hashlib.sha256(raw).hexdigest(),
        updated=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
    )
    return doc, warning


def _section_of(text: str, header_path: str) -> str:
    first = text.lstrip().split("\n", 1)[0]
    m = _H1.match(first)
    if m:
        return m.group(1).strip()
    parts = [p for p in (header_path or "").split("/") if p]
    return parts[-1] if parts else ""


def chunk_document(doc: SourceDoc) -> list[Chunk]:
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter

    li_doc = Document(text=doc.body, id_=doc.doc_id)
    nodes = MarkdownNodeParser(include_metadata=True, include_prev_next_rel=False).get_nodes_from_documents([li_doc])
    # Sentence splitting counts whitespace words, not tiktoken tokens: tiktoken would
    # try to download its vocabulary, and sections here are prose, not model input.
    splitter = SentenceSplitter(chunk_size=MAX_SECTION_WORDS, chunk_overlap=30, tokenizer=str.split)
    pieces: list[tuple[str, str]] = []
    for node in nodes:
        text = node.get_content().strip()
        if not text:
            continue
        section = _section_of(text, node.metadata.get("header_path", ""))
        if len(text.split()) > MAX_SECTION_WORDS:
            pieces.extend((section, t) for t in splitter.split_text(text))
        else:
            pieces.append((section, text))
    # A heading with nothing under it is folded into the next chunk instead of standing alone.
    merged: list[tuple[str, str]] = []
    carry = ""
    for section, text in pieces:
        if _H1.fullmatch(text.strip()):
            carry += text.strip() + "\n"
            continue
        merged.append((section, carry + text))
        carry = ""
    if carry:
        merged.append(("", carry.strip()))
    return [
        Chunk(id=f"{doc.doc_id}#{i}@{doc.content_hash[:12]}", doc_id=doc.doc_id, text=text, title=doc.title, section=section,
              doc_type=doc.doc_type, services=doc.services, categories=doc.categories, severity=doc.severity,
              source=doc.doc_id, corpus=doc.corpus, content_hash=doc.content_hash, updated=doc.updated,
              chunk_index=i)
        for i, (section, text) in enumerate(merged)
    ]


def scan(path: Path) -> tuple[str, list[tuple[Path, str]]]:
    """(corpus, [(file, doc id)]) — doc ids are "<folder name>/<relative path>"."""
    path = path.resolve()
    if path.is_file():
        return path.parent.name, [(path, f"{path.parent.name}/{path.name}")]
    files = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if (f.is_file() and f.suffix.lower() in SUFFIXES and f.name.lower() not in SKIP_NAMES
                and not any(p.startswith(".") for p in rel.parts)):
            files.append((f, f"{path.name}/{rel.as_posix()}"))
    return path.name, files
