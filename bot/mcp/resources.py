"""MCP resources: runbooks (runbook://<name>) and incident memories (incident://<id>).

Runbooks are the files the knowledge base ingests (KNOWLEDGE_DIR, then the bundled
knowledge/runbooks; the first of a name wins), found by name in that listing, never by joining
a client's text onto a path. Incident memories are the documents bot.incident_memory wrote into the
knowledge base; under a namespace allowlist, those of other namespaces are neither listed nor read.
Text is masked by the redactor on the way out, as every tool result is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNBOOK, INCIDENT = "runbook://", "incident://"
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Doc:
    uri: str
    name: str
    title: str
    description: str


class Resources:
    def __init__(self, dirs: list[Path], kb: Any, allowlist: tuple[str, ...], scrub: Any):
        self.dirs, self.kb, self.allowlist, self.scrub = dirs, kb, allowlist, scrub

    def runbooks(self) -> dict[str, Path]:
        from knowledge.ingest import scan

        found: dict[str, Path] = {}
        for d in self.dirs:
            if not d.exists():
                continue
            root = d.resolve()
            for path, _ in scan(root)[1]:
                found.setdefault(path.relative_to(root).with_suffix("").as_posix(), path)
        return found

    def memories(self) -> dict[str, Any]:
        if self.kb is None:
            return {}
        chunks, _ = self.kb.store.read(where={"doc_type": "incident"})
        out = {}
        for c in chunks:
            ns = c.extra.get("namespace") or None
            if ns and self.allowlist and ns not in self.allowlist:
                continue
            out[c.doc_id.removeprefix("incident:")] = c
        return out

    def listing(self) -> list[Doc]:
        docs = [Doc(RUNBOOK + name, name, _title(path) or name, "runbook")
                for name, path in sorted(self.runbooks().items())]
        docs += [Doc(INCIDENT + iid, f"incident {iid}", c.title or iid,
                     f"incident memory: {c.extra.get('action') or 'no action'}, outcome {c.extra.get('outcome')}")
                 for iid, c in sorted(self.memories().items())]
        return docs

    def read(self, uri: str) -> str:
        """The resource's text; KeyError when there is no such resource (or the allowlist hides it)."""
        if uri.startswith(RUNBOOK):
            path = self.runbooks()[uri[len(RUNBOOK):]]
            with open(path, "rb") as f:
                text = f.read(MAX_BYTES).decode("utf-8", "replace")
        elif uri.startswith(INCIDENT):
            text = self.memories()[uri[len(INCIDENT):]].text
        else:
            raise KeyError(uri)
        return self.scrub.redact(text)


def _title(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4000)
    except OSError:
        return ""
    for line in head.splitlines():
        if line.startswith("title:"):
            return line[6:].strip().strip("'\"")
        if line.startswith("# "):
            return line[2:].strip()
    return ""
