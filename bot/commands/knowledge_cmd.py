"""`chatops knowledge ingest [PATH] | status | rebuild | search QUERY`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("knowledge", help="runbook and incident knowledge base (Chroma + BM25)")
    ksub = p.add_subparsers(dest="knowledge_command", metavar="ACTION")
    ksub.required = True
    ing = ksub.add_parser("ingest", help="ingest a folder (or file) of Markdown/text runbooks; idempotent")
    ing.add_argument("path", nargs="?", type=Path, help="default: KNOWLEDGE_DIR or the bundled runbooks")
    ing.set_defaults(func=cmd_ingest)
    st = ksub.add_parser("status", help="mode, documents, chunks, incidents, store")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    rb = ksub.add_parser("rebuild", help="wipe the index and restore it from the runbooks and the incident table")
    rb.add_argument("--sources", type=Path, help="default: KNOWLEDGE_DIR or the bundled runbooks")
    rb.set_defaults(func=cmd_rebuild)
    se = ksub.add_parser("search", help="hybrid search over runbooks and past incidents")
    se.add_argument("query")
    se.add_argument("--service")
    se.add_argument("--category")
    se.add_argument("--severity")
    se.add_argument("--limit", type=int, default=5)
    se.add_argument("--json", action="store_true")
    se.set_defaults(func=cmd_search)


def open_kb() -> Any:
    from bot.settings import get_settings
    from knowledge import KnowledgeBase

    s = get_settings()
    return KnowledgeBase(s.data_dir, chroma_url=s.chroma_url, embed_backend=s.embed_backend,
                         embed_model=s.embed_model)


def default_sources() -> Path:
    from bot.settings import get_settings
    from knowledge import BUNDLED_RUNBOOKS

    return get_settings().knowledge_dir or BUNDLED_RUNBOOKS


def _fail(exc: Exception) -> int:
    print(f"chatops: error: {exc}", file=sys.stderr)
    return 2


def _print_warnings(warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def cmd_ingest(args: argparse.Namespace) -> int:
    from knowledge import KnowledgeBaseError

    kb = open_kb()
    try:
        report = kb.ingest(args.path or default_sources())
    except KnowledgeBaseError as exc:
        return _fail(exc)
    _print_warnings(kb.warnings + report.warnings)
    print(report.summary())
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    st = open_kb().status()
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        for key in ("mode", "documents", "chunks", "incidents", "store", "collection"):
            print(f"{key:<10} {st[key]}")
        for w in st["warnings"]:
            print(f"warning    {w}")
        if st.get("error"):
            print(f"error      {st['error']}")
    return 1 if st.get("error") else 0


def _incident_records() -> tuple[list[Any], str | None]:
    """Every remembered incident from the database, read before anything is wiped."""
    from bot.context import get_sessionmaker
    from bot.incident_memory import records_from_db
    from bot.settings import get_settings

    try:
        with get_sessionmaker()() as session:
            return list(records_from_db(session, get_settings().incident_effective_minutes)), None
    except Exception as exc:  # no schema, database down: the runbooks can still be restored
        return [], f"incidents not restored ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"


def cmd_rebuild(args: argparse.Namespace) -> int:
    from knowledge import KnowledgeBaseError

    records, warning = _incident_records()
    kb = open_kb()
    try:
        report = kb.rebuild(args.sources or default_sources(), records)
    except KnowledgeBaseError as exc:
        return _fail(exc)
    _print_warnings(kb.warnings + report.warnings + ([warning] if warning else []))
    print(f"rebuilt {kb.store.location}: {report.summary()}; {report.incidents} incidents restored")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from knowledge import KnowledgeBaseError

    kb = open_kb()
    try:
        hits = kb.search(args.query, service=args.service, category=args.category, severity=args.severity,
                         limit=args.limit)
    except KnowledgeBaseError as exc:
        return _fail(exc)
    _print_warnings(kb.warnings)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, default=str))
        return 0
    if not hits:
        print("no matches")
    for i, h in enumerate(hits, 1):
        print(f"{i}. [{h.score:.3f}] {h.title} — {h.source}" + (f" § {h.section}" if h.section else ""))
        if h.action:
            print(f"   action: {h.action} ({h.outcome}; effective={h.effective})")
        for line in h.snippet.splitlines():
            print(f"   {line}")
    return 0
