"""What the digest needs from the knowledge base: its runbooks (and postmortems), read once.

Rule for "a runbook covers this alert": a runbook or postmortem for the group's service (or for
any service, or none named) that either names the alert (its name as a whole word anywhere in the
document, case-insensitive) or is filed under a category the group's incidents were diagnosed with
(the generic `unknown` triage runbook does not count: it covers everything and answers nothing).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from knowledge.chunks import WILDCARD_SERVICE

DOC_TYPES = ("runbook", "postmortem")


@dataclass(frozen=True)
class RunbookDoc:
    doc_id: str
    title: str
    services: tuple[str, ...]
    categories: tuple[str, ...]
    updated: str  # ISO timestamp of the source file (its mtime when ingested)
    text: str     # every section, lower-cased

    def for_service(self, service: str | None) -> bool:
        return not self.services or WILDCARD_SERVICE in self.services or (service or "").lower() in self.services

    def names(self, alert_name: str) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(alert_name.lower())}(?![\w-])", self.text) is not None

    def updated_within(self, start: datetime, end: datetime) -> bool:
        try:
            when = datetime.fromisoformat(self.updated.replace("Z", "+00:00"))
        except ValueError:
            return False
        return when.tzinfo is not None and start <= when < end


def snapshot(kb: Any) -> list[RunbookDoc]:
    """Every runbook and postmortem in the knowledge base, one entry per document."""
    chunks, _ = kb.store.read()
    docs: dict[str, list[Any]] = {}
    for c in chunks:
        if c.doc_type in DOC_TYPES:
            docs.setdefault(c.doc_id, []).append(c)
    out = []
    for doc_id, parts in sorted(docs.items()):
        parts.sort(key=lambda c: c.chunk_index)
        first = parts[0]
        out.append(RunbookDoc(doc_id, first.title, tuple(first.services), tuple(first.categories), first.updated,
                              "\n".join(c.text for c in parts).lower()))
    return out


def covering(docs: Iterable[RunbookDoc], alert_name: str, service: str | None,
             categories: Iterable[str]) -> RunbookDoc | None:
    """The first runbook (by document id) that covers the alert, per the rule above; None if none."""
    cats = {c for c in categories if c and c != "unknown"}
    for doc in docs:
        if doc.for_service(service) and (doc.names(alert_name) or cats & set(doc.categories)):
            return doc
    return None
