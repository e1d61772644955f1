"""Log tools over OpenSearch: agents get log templates and aggregations, never raw dumps."""
from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from opensearchpy import OpenSearch, RequestsHttpConnection
from opensearchpy.exceptions import (ConnectionError as OSConnectionError, ConnectionTimeout,
                                     SerializationError, TransportError)

from tools.base import Tool, ToolContext, ToolResult
from tools.logs.levels import detect_level
from tools.logs.templates import LogTemplateMiner
from tools.opensearch import queries as q
from tools.opensearch.queries import LogFields
from tools.textclip import clip_middle

SOURCE = "opensearch"
MAX_LIMIT = 1000
FALLBACK_SAMPLE = 300
# Below this share of lines covered by the top whole-message buckets, a mined sample says more.
MIN_MESSAGE_COVERAGE = 0.3


def make_client(url: str, username: str | None = None, password: str | None = None,
                verify_certs: bool = True, timeout: float = 10) -> OpenSearch:
    """A sync client on requests (mockable with `responses`).

    Client-side retries are off: a retry would silently double the tool's time budget,
    and the agent is better placed to decide whether to retry a failed query.
    """
    return OpenSearch(
        hosts=[url],
        http_auth=(username, password or "") if username else None,
        use_ssl=url.startswith("https"),
        verify_certs=verify_certs,
        ssl_show_warn=False,
        connection_class=RequestsHttpConnection,
        timeout=timeout,
        max_retries=0,
        retry_on_timeout=False,
    )


class BackendError(Exception):
    pass


_STATUS_HINTS = {
    401: "authentication failed: check the OpenSearch credentials",
    403: "the OpenSearch user lacks permission on this index",
    404: "no index matches; check the index pattern",
    429: "OpenSearch is rejecting requests (overloaded or circuit breaker); retry later with a narrower window",
    503: "OpenSearch cluster unavailable",
}


def describe_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (ConnectionTimeout, asyncio.TimeoutError, TimeoutError)):
        detail = f" ({exc.info})" if isinstance(exc, ConnectionTimeout) else ""
        return f"timed out after {timeout:g}s{detail}"
    if isinstance(exc, OSConnectionError):
        return f"connection failed: {type(exc.info).__name__}: {exc.info}"
    if isinstance(exc, TransportError):
        status, info = exc.status_code, exc.info
        msg = f"HTTP {status}"
        err = info.get("error") if isinstance(info, dict) else None
        if isinstance(err, dict):
            root = (err.get("root_cause") or [err])[0]
            msg += f" {root.get('type') or err.get('type')}: {root.get('reason') or err.get('reason')}"
            if root.get("index"):
                msg += f" [index {root['index']}]"
        elif err:
            msg += f": {err}"
        elif info:
            msg += f": {str(info)[:500]}"
        else:
            msg += f": {exc.error}"
        hint = _STATUS_HINTS.get(status) if isinstance(status, int) else None
        return f"{msg} ({hint})" if hint else msg
    if isinstance(exc, SerializationError):
        return f"unparseable response from OpenSearch: {str(exc)[:300]}"
    return f"{type(exc).__name__}: {exc}"


def _base_url(client: OpenSearch) -> str:
    try:
        conn = client.transport.get_connection()
        return f"{conn.host}{conn.url_prefix}"
    except Exception:
        return "opensearch"


class _Backend:
    def __init__(self, client: OpenSearch | None, ctx: ToolContext, index: str, fields: LogFields):
        self.client, self.ctx, self.index, self.fields = client, ctx, index, fields

    def describe(self, body: dict[str, Any]) -> str:
        base = _base_url(self.client) if self.client is not None else "opensearch"
        return f"POST {base}/{self.index}/_search {json.dumps(body, separators=(',', ':'))}"

    async def search(self, body: dict[str, Any]) -> dict[str, Any]:
        """Run one search; every failure becomes BackendError with a readable message."""
        if self.client is None:
            raise BackendError("OpenSearch is not configured (no client)")
        client, timeout, scrub = self.client, self.ctx.timeout, self.ctx.scrub

        def fetch() -> Any:
            # Documents and message buckets are masked as they arrive, before mining templates from
            # them, in the worker thread: masking a thousand documents is CPU work, kept off the loop.
            return scrub.redact_obj(client.search(index=self.index, body=body, request_timeout=timeout))

        try:
            resp = await asyncio.wait_for(asyncio.to_thread(fetch), timeout + 2)
        except Exception as exc:
            raise BackendError(describe_error(exc, timeout)) from exc
        if not isinstance(resp, dict) or not isinstance(resp.get("hits"), dict):
            raise BackendError(f"unexpected response shape from OpenSearch: {str(resp)[:300]}")
        if resp.get("timed_out"):
            raise BackendError(f"OpenSearch reported timed_out=true after {resp.get('took')}ms; narrow the window")
        return resp


def _total(resp: dict[str, Any]) -> tuple[int, str]:
    total = resp["hits"].get("total", 0)
    if isinstance(total, dict):
        return int(total.get("value", 0)), str(total.get("relation", "eq"))
    return int(total or 0), "eq"


def _get(source: dict[str, Any], path: str) -> Any:
    """Dotted lookup that also accepts flattened keys ("kubernetes.pod_name": ...)."""
    if path in source:
        return source[path]
    head, _, rest = path.partition(".")
    if rest and isinstance(source.get(head), dict):
        return _get(source[head], rest)
    return None


def _line(source: dict[str, Any], fields: LogFields) -> str | None:
    for f in fields.messages:
        v = _get(source, f)
        if isinstance(v, str) and v.strip():
            return v.rstrip("\n")
    return None


def _scope(namespace: str | None, pod: str | None, container: str | None, app: str | None) -> str:
    parts = [f"{k}={v}" for k, v in (("namespace", namespace), ("app", app), ("pod", pod),
                                     ("container", container)) if v]
    return ", ".join(parts) or "all namespaces"


def _mine(hits: list[dict[str, Any]], fields: LogFields) -> list[dict[str, Any]]:
    """Group hit lines into templates; the document's level field beats guessing from the text."""
    miner = LogTemplateMiner()
    for h in hits:
        src = h.get("_source") or {}
        text = _line(src, fields)
        if text is None:
            continue
        ts = _get(src, fields.timestamp)
        try:
            when = q.parse_time(ts) if isinstance(ts, str) else None
        except ValueError:
            when = None
        level = _get(src, fields.level)
        miner.add(text, ts=when, level=level if isinstance(level, str) and level else None)
    return [t.to_model_dict() for t in miner.templates()]


def group_messages(counts: Counter[str]) -> list[dict[str, Any]]:
    """Fold whole-message buckets that differ only in parameters into weighted templates."""
    miner = LogTemplateMiner(max_examples=1)
    ids = [(msg, n, miner.add(msg)) for msg, n in counts.items()]
    groups: dict[str, dict[str, Any]] = {}
    for msg, n, cid in ids:  # group_of after all adds: templates generalise as lines arrive
        key = miner.group_of(cid)
        g = groups.setdefault(key, {"template": key, "count": 0, "distinct_messages": 0,
                                    "level": detect_level(msg), "example": clip_middle(msg, 600)})
        g["count"] += n
        g["distinct_messages"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], g["template"]))


def reduce_templates(result: ToolResult, budget: int) -> ToolResult:
    """Keep one short example per template, then drop the rarest templates until it fits."""
    data = result.data
    if not isinstance(data, dict):
        return result
    key = "templates" if "templates" in data else "top_messages"
    items = data.get(key)
    if not isinstance(items, list):
        return result
    for t in items:
        if isinstance(t, dict):
            if isinstance(t.get("example"), str):
                t["example"] = clip_middle(t["example"], 300)
            for k in ("template", "message"):
                if isinstance(t.get(k), str):
                    t[k] = clip_middle(t[k], 300)
    # The longest prefix that fits, by bisection: one sizing (a JSON dump of the whole result) per
    # halving. Dropping one template per sizing cost a second of CPU on a thousand distinct lines.
    full = list(items)
    data[f"{key}_omitted"] = len(full)  # sized in: the count written below is never longer
    kept, too_many = 1, len(full) + 1
    while kept + 1 < too_many:
        mid = (kept + too_many) // 2
        items[:] = full[:mid]
        if result.size_bytes() <= budget:
            kept = mid
        else:
            too_many = mid
    items[:] = full[:kept]
    if kept < len(full):
        data[f"{key}_omitted"] = len(full) - kept
    else:
        del data[f"{key}_omitted"]
    return result


class _LogTools:
    def __init__(self, backend: _Backend):
        self.b = backend
        self.f = backend.fields

    def _prepare(self, *, namespace, pod, container, app, query, level, start, end, minutes):
        """Validated (bool query, window) or an error message."""
        ctx = self.b.ctx
        if namespace and not ctx.namespace_allowed(namespace):
            return f"namespace {namespace!r} is not allowed; allowed: {', '.join(ctx.namespace_allowlist)}"
        try:
            start_dt, end_dt = q.resolve_window(ctx.now(), start, end, float(minutes))
            bool_q = q.filters(self.f, start=start_dt, end=end_dt, namespace=namespace,
                               namespaces=ctx.namespace_allowlist, pod=pod, container=container, app=app,
                               query=query, level=level)
        except (ValueError, TypeError) as exc:
            return f"invalid arguments: {exc}"
        return bool_q, (start_dt, end_dt)

    async def search_logs(self, namespace: str | None = None, pod: str | None = None,
                          container: str | None = None, app: str | None = None, query: str | None = None,
                          level: str | None = None, start: str | None = None, end: str | None = None,
                          minutes: float = 30, limit: int = 200) -> ToolResult:
        prepared = self._prepare(namespace=namespace, pod=pod, container=container, app=app, query=query,
                                 level=level, start=start, end=end, minutes=minutes)
        if isinstance(prepared, str):
            return ToolResult.fail(f"search_logs(index={self.b.index})", prepared, SOURCE)
        bool_q, (start_dt, end_dt) = prepared
        limit = max(1, min(int(limit), MAX_LIMIT))
        body = q.search_body(bool_q, self.f, limit)
        described = self.b.describe(body)
        try:
            resp = await self.b.search(body)
        except BackendError as exc:
            return ToolResult.fail(described, str(exc), SOURCE)
        total, relation = _total(resp)
        hits = resp["hits"].get("hits") or []
        window = {"start": q.iso(start_dt), "end": q.iso(end_dt)}
        scope = _scope(namespace, pod, container, app)
        if not hits:
            return ToolResult(status="no_data", query=described, source=SOURCE,
                              data={"index": self.b.index, "window": window, "total_hits": total},
                              summary=f"no log lines in {self.b.index} for {scope} between {window['start']} "
                                      f"and {window['end']}" + (f" matching {query!r}" if query else ""))
        templates = await asyncio.to_thread(_mine, hits, self.f)  # Drain mining is CPU work: off the loop
        pods = Counter(str(_get(h.get("_source") or {}, self.f.pod.removesuffix(".keyword")))
                       for h in hits)
        pods.pop("None", None)
        data: dict[str, Any] = {
            "index": self.b.index, "window": window, "total_hits": total,
            "sampled": len(hits), "templates": templates,
        }
        if relation != "eq":
            data["total_relation"] = relation
        if len(pods) > 1 or (pods and not pod):
            data["pods"] = dict(pods.most_common(10))
        if total > len(hits):
            data["note"] = f"templates mined from the newest {len(hits)} of {total} matching lines"
        top = templates[0] if templates else {}
        summary = (f"{total} log lines for {scope} between {window['start']} and {window['end']}; "
                   f"{len(templates)} templates from the newest {len(hits)}")
        if top:
            summary += f"; most frequent ({top.get('count')}x): {str(top.get('template'))[:160]}"
        return ToolResult(status="ok", data=data, summary=summary, query=described, source=SOURCE,
                          reduced=len(hits) > len(templates))

    async def log_aggregations(self, namespace: str | None = None, pod: str | None = None,
                               container: str | None = None, app: str | None = None,
                               query: str | None = None, level: str | None = None, start: str | None = None,
                               end: str | None = None, minutes: float = 30, top: int = 10) -> ToolResult:
        prepared = self._prepare(namespace=namespace, pod=pod, container=container, app=app, query=query,
                                 level=level, start=start, end=end, minutes=minutes)
        if isinstance(prepared, str):
            return ToolResult.fail(f"log_aggregations(index={self.b.index})", prepared, SOURCE)
        bool_q, (start_dt, end_dt) = prepared
        top = max(1, min(int(top), 50))
        body = q.aggregation_body(bool_q, self.f, start=start_dt, end=end_dt, top=top)
        described = self.b.describe(body)
        notes: list[str] = []
        try:
            resp = await self.b.search(body)
        except BackendError as exc:
            # Message fields mapped as text only: aggregate the rest, mine a sample for messages.
            if "fielddata" not in str(exc).lower() and "text fields are not optimised" not in str(exc).lower():
                return ToolResult.fail(described, str(exc), SOURCE)
            notes.append(f"terms aggregation on {', '.join(self.f.message_keywords)} refused (text field, "
                         f"fielddata disabled): {str(exc)[:200]}")
            body = q.aggregation_body(bool_q, self.f, start=start_dt, end=end_dt, top=top, with_messages=False)
            described = self.b.describe(body)
            try:
                resp = await self.b.search(body)
            except BackendError as exc2:
                return ToolResult.fail(described, str(exc2), SOURCE)
        total, _ = _total(resp)
        window = {"start": q.iso(start_dt), "end": q.iso(end_dt)}
        scope = _scope(namespace, pod, container, app)
        if total == 0:
            return ToolResult(status="no_data", query=described, source=SOURCE,
                              data={"index": self.b.index, "window": window, "total_hits": 0},
                              summary=f"no log lines in {self.b.index} for {scope} between {window['start']} "
                                      f"and {window['end']}")
        aggs = resp.get("aggregations")
        if not isinstance(aggs, dict):
            return ToolResult.fail(described, f"response has no aggregations: {str(resp)[:300]}", SOURCE)
        data = await asyncio.to_thread(self._shape_aggs, aggs, total, window, top)  # mines message buckets
        coverage = data.pop("_message_coverage")
        if coverage < MIN_MESSAGE_COVERAGE:
            # No keyword subfield, lines over ignore_above, or too varied: mine the newest lines instead.
            sample_body = q.search_body(bool_q, self.f, FALLBACK_SAMPLE)
            try:
                sample = await self.b.search(sample_body)
                data["top_messages"] = (await asyncio.to_thread(_mine, sample["hits"].get("hits") or [], self.f))[:top]
                data["top_messages_source"] = (f"templates mined from the newest {FALLBACK_SAMPLE} lines (message "
                                               f"terms covered {coverage:.0%} of lines)")
            except BackendError as exc:
                notes.append(f"sample for message templates failed: {exc}")
        else:
            data["top_messages_source"] = f"terms aggregation grouped into templates, covering {coverage:.0%}"
        if notes:
            data["notes"] = notes
        errs = data["errors"]
        summary = f"{total} log lines for {scope} between {window['start']} and {window['end']}; " \
                  f"{errs['total']} error-level"
        if errs.get("first_error_at"):
            summary += f", first errors in bucket {errs['first_error_at']}, peak {errs['peak']['count']} " \
                       f"at {errs['peak']['at']}"
        if data["by_pod"]:
            worst = max(data["by_pod"], key=lambda p: p.get("errors", 0))
            if worst.get("errors"):
                summary += f"; most errors from pod {worst['pod']} ({worst['errors']})"
        return ToolResult(status="ok", data=data, summary=summary, query=described, source=SOURCE, reduced=True)

    def _shape_aggs(self, aggs: dict[str, Any], total: int, window: dict[str, str], top: int) -> dict[str, Any]:
        def buckets(agg: Any) -> list[dict[str, Any]]:
            return [b for b in (agg or {}).get("buckets", []) if isinstance(b, dict)] if isinstance(agg, dict) else []

        messages: Counter[str] = Counter()
        for name, agg in aggs.items():
            if name.startswith("top_messages_"):
                for b in buckets(agg):
                    messages[str(b.get("key", "")).rstrip("\n")] += int(b.get("doc_count", 0))
        grouped = group_messages(messages)
        errors = aggs.get("errors") or {}
        err_by_pod = {str(b.get("key")): int(b.get("doc_count", 0)) for b in buckets(errors.get("by_pod"))}
        by_pod = [{"pod": str(b.get("key")), "count": int(b.get("doc_count", 0)),
                   "errors": err_by_pod.get(str(b.get("key")), 0)} for b in buckets(aggs.get("by_pod"))]
        by_level = {str(b.get("key")): int(b.get("doc_count", 0)) for b in buckets(aggs.get("by_level"))}
        if total > sum(by_level.values()):
            by_level["(no level field)"] = total - sum(by_level.values())
        hist = [{"at": b.get("key_as_string") or b.get("key"), "count": int(b.get("doc_count", 0))}
                for b in buckets(errors.get("over_time"))]
        err_total = int(errors.get("doc_count", 0)) if isinstance(errors, dict) else 0
        err_info: dict[str, Any] = {"total": err_total, "over_time": hist}
        nonzero = [h for h in hist if h["count"]]
        if nonzero:
            err_info["first_error_at"] = nonzero[0]["at"]
            err_info["peak"] = max(nonzero, key=lambda h: h["count"])
        return {
            "index": self.b.index, "window": window, "total_hits": total,
            "top_messages": grouped[:top],
            "_message_coverage": sum(messages.values()) / total if total else 0.0,
            "by_pod": by_pod, "by_level": by_level, "errors": err_info,
        }


_SCOPE_PROPS: dict[str, Any] = {
    "namespace": {"type": "string", "description": "Kubernetes namespace"},
    "pod": {"type": "string", "description": "exact pod name"},
    "container": {"type": "string", "description": "container name"},
    "app": {"type": "string", "description": "value of the pod's app label"},
    "query": {"type": "string", "description": "text search on the log line (simple_query_string: words are "
                                               "ANDed, \"exact phrase\", -exclude, a|b)"},
    "level": {"type": "string", "enum": list(q.SEVERITY) + ["warning", "critical"],
              "description": "minimum severity (error includes fatal); uses the level field, else words in "
                             "the line"},
    "start": {"type": "string", "description": "ISO 8601 start (default: end - minutes)"},
    "end": {"type": "string", "description": "ISO 8601 end (default: now)"},
    "minutes": {"type": "number", "description": "window length when start is not given", "default": 30},
}


def opensearch_tools(client: OpenSearch | None, ctx: ToolContext, index_pattern: str = "logs-*",
                     fields: LogFields | None = None) -> list[Tool]:
    impl = _LogTools(_Backend(client, ctx, index_pattern, fields or LogFields()))
    return [
        Tool(
            name="search_logs",
            description="Search Kubernetes container logs in OpenSearch and return them grouped into templates "
                        "with counts, first/last seen and examples (newest lines first). Filter by namespace, "
                        "pod, container, app label, minimum level, text and time window.",
            input_schema={"type": "object", "properties": {
                **_SCOPE_PROPS,
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 200,
                          "description": "newest lines to fetch and group"}}},
            handler=impl.search_logs, source=SOURCE, reducer=reduce_templates, timeout=ctx.timeout + 5,
        ),
        Tool(
            name="log_aggregations",
            description="Aggregate Kubernetes logs in OpenSearch: most frequent messages, line and error counts "
                        "per pod, counts per level, and an error-count histogram showing when errors started.",
            input_schema={"type": "object", "properties": {
                **_SCOPE_PROPS,
                "top": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10,
                        "description": "how many messages/pods to list"}}},
            handler=impl.log_aggregations, source=SOURCE, reducer=reduce_templates, timeout=ctx.timeout * 3 + 5,
        ),
    ]
