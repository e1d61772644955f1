"""The `search_knowledge` agent tool: runbook sections and past incidents for a query."""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from tools.base import Tool, ToolContext, ToolResult

if TYPE_CHECKING:
    from knowledge.kb import KnowledgeBase

SOURCE = "knowledge"
MAX_LIMIT = 10


def _describe(hit: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"source": hit.source, "title": hit.title, "type": hit.doc_type,
                         "score": hit.score, "snippet": hit.snippet}
    if hit.section:
        d["section"] = hit.section
    if hit.categories:
        d["categories"] = hit.categories
    if hit.doc_type == "incident":
        if hit.action and hit.outcome == "succeeded" and hit.effective is not False:
            d["action_that_worked"] = hit.action
        elif hit.action:
            d["action_tried"] = hit.action
        d["outcome"] = hit.outcome
        d["effective"] = hit.effective
        if hit.feedback == "corrected":  # categories hold the people's answer, which outranks the engine's
            d["cause"] = f"corrected by people (the engine had said {hit.engine_category})"
        elif hit.feedback == "confirmed":
            d["cause"] = "confirmed by people"
    return d


def knowledge_tools(kb: "KnowledgeBase | None", ctx: ToolContext,
                    unavailable_reason: str = "not configured") -> list[Tool]:
    async def search_knowledge(query: str, service: str | None = None, category: str | None = None,
                               limit: int = 5) -> ToolResult:
        args = {"query": query, "service": service, "category": category, "limit": limit}
        q = f"search_knowledge({json.dumps(args, sort_keys=True, default=str)})"
        if kb is None:
            return ToolResult.fail(q, f"knowledge base unavailable: {unavailable_reason}", SOURCE)
        if not isinstance(query, str) or not query.strip():
            return ToolResult.fail(q, "query must be a non-empty string", SOURCE)
        try:
            n = max(1, min(MAX_LIMIT, int(limit)))
        except (TypeError, ValueError):
            return ToolResult.fail(q, f"limit must be an integer, got {limit!r}", SOURCE)
        try:
            # Chroma reads (embedded sqlite or HTTP) block; keep them off the event loop.
            # Under a namespace allowlist, incidents of other namespaces (a shared Chroma server may
            # hold another deployment's) are dropped, so ask for more to still fill `limit`.
            wanted = MAX_LIMIT * 2 if ctx.namespace_allowlist else n
            hits = await asyncio.wait_for(
                asyncio.to_thread(kb.search, query, service=service or None, category=category or None,
                                  limit=wanted), ctx.timeout)
            hits = [h for h in hits if h.namespace is None or ctx.namespace_allowed(h.namespace)][:n]
        except asyncio.TimeoutError:
            return ToolResult.fail(q, f"timed out after {ctx.timeout:g}s", SOURCE)
        except Exception as exc:  # KnowledgeBaseError included: the message names the fix
            return ToolResult.fail(q, f"knowledge base unavailable: {exc}", SOURCE)
        if not hits:
            return ToolResult(status="no_data", query=q, source=SOURCE,
                              summary="no runbook or past incident matches this query")
        worked = sum(1 for h in hits if h.doc_type == "incident" and h.outcome == "succeeded" and h.effective)
        summary = f"{len(hits)} matches; best: {hits[0].title} ({hits[0].source})"
        if worked:
            summary += f"; {worked} past incident(s) with an action that worked"
        return ToolResult(status="ok", data=[_describe(h) for h in hits], query=q, source=SOURCE, summary=summary)

    return [Tool(
        name="search_knowledge",
        description=("Search the runbooks, postmortems and past incidents for a symptom, alert text or log line. "
                     "Returns the best-matching sections with their source and score; past incidents also say "
                     "which remediation action was taken and whether it worked. Filter by service and by "
                     "category (oom_killed, config_error, image_pull_error, bad_deploy, cpu_throttling, "
                     "connection_pool_exhausted, dependency_unavailable, slow_query, disk_full, node_pressure, "
                     "unschedulable, certificate_expired, dns_failure, probe_failure, traffic_spike)."),
        input_schema={"type": "object", "properties": {
            "query": {"type": "string", "description": "symptom, alert text or log line"},
            "service": {"type": "string", "description": "only documents for this service (or for any service)"},
            "category": {"type": "string", "description": "only documents about this failure category"},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 5},
        }, "required": ["query"], "additionalProperties": False},
        handler=search_knowledge, read_only=True, source=SOURCE, budget_bytes=6000,
    )]
