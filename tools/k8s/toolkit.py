"""Wrapping a Kubernetes read into a Tool: configuration check, namespace allowlist, API errors
turned into results, and a reducer that keeps unhealthy objects in full when a list is too big."""
from __future__ import annotations

import inspect
import json
import re
from datetime import datetime
from typing import Any, Awaitable, Callable

from kubernetes.client import ApiClient

from tools.base import Reducer, Tool, ToolContext, ToolResult
from tools.k8s.client import SOURCE, ApiFailure, Kube

Impl = Callable[..., Awaitable[ToolResult]]
_OBJECT_NOT_FOUND = re.compile(r'"[^"]+" not found')


def k8s_tool(*, name: str, description: str, properties: dict[str, Any], required: list[str], impl: Impl,
             api: ApiClient | None, ctx: ToolContext, budget: int, reducer: Reducer | None = None) -> Tool:
    """`impl(kube, now, **args)` does the reads; everything around it is shared here."""
    signature = inspect.signature(impl)
    namespaced = "namespace" in properties

    async def handler(**args: Any) -> ToolResult:
        call = f"{name}({json.dumps(args, sort_keys=True, default=str)})"
        try:
            signature.bind(None, None, **args)
        except TypeError as exc:
            return ToolResult.fail(call, f"invalid arguments: {exc}", SOURCE)
        if api is None:
            return ToolResult.fail(call, "Kubernetes source not configured", SOURCE)
        if namespaced:
            ns = args.get("namespace")
            if not isinstance(ns, str) or not ns:
                return ToolResult.fail(call, "namespace must be a non-empty string", SOURCE)
            if not ctx.namespace_allowed(ns):
                allowed = ", ".join(ctx.namespace_allowlist)
                return ToolResult.fail(call, f"namespace {ns!r} is outside the namespace allowlist ({allowed}); "
                                       "the Kubernetes API was not contacted", SOURCE)
        kube = Kube(api, ctx.timeout, ctx.scrub)
        now: datetime = ctx.now()
        try:
            result = await impl(kube, now, **args)
        except ApiFailure as failure:
            if failure.code == 404 and _OBJECT_NOT_FOUND.search(failure.message):
                return ToolResult(status="no_data", query=kube.query_text() or call, source=SOURCE,
                                  summary=f"not found: {failure.message}")
            return ToolResult.fail(kube.query_text() or failure.query, failure.message, SOURCE)
        result.source = SOURCE
        result.query = result.query or kube.query_text()
        return result

    return Tool(name=name, description=description,
                input_schema={"type": "object", "properties": properties, "required": required,
                              "additionalProperties": False},
                handler=handler, read_only=True, source=SOURCE, budget_bytes=budget, reducer=reducer,
                timeout=None)


def problems_reducer(key: str, slim_fields: tuple[str, ...] = (), healthy_fields: tuple[str, ...] = ()) -> Reducer:
    """Keep items with problems in full, healthy ones with `healthy_fields` (where a pod runs, what
    owns it), else by name only, then by count only."""

    def reduce(result: ToolResult, budget: int) -> ToolResult:
        data = dict(result.data)
        items = list(data.get(key) or [])
        bad = [dict(i) for i in items if i.get("problems")]
        good = [i.get("name") for i in items if not i.get("problems")]
        data[key] = bad
        if good and healthy_fields:
            data[f"healthy_{key}"] = [{f: i[f] for f in ("name", *healthy_fields) if i.get(f)}
                                      for i in items if not i.get("problems")]
        elif good:
            data[f"healthy_{key}"] = good
        result.data = data
        if result.size_bytes() > budget and good and healthy_fields:
            data[f"healthy_{key}"] = good
        if result.size_bytes() > budget and good:
            data[f"healthy_{key}"] = f"{len(good)} healthy, names omitted"
        if result.size_bytes() > budget:
            for item in bad:
                for f in slim_fields:
                    item.pop(f, None)
        result.summary += f" (reduced: {len(bad)} with problems in full, {len(good)} healthy listed by name)"
        return result

    return reduce
