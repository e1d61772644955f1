"""Tool contract shared by every data source and action.

A tool never raises: backend failures, timeouts and bugs become a ToolResult with
status "error", the exact query used and the backend's message, so a model (or the
offline engine) can read what went wrong and correct itself.
"""
from __future__ import annotations

import asyncio
import copy
import json
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Literal

Status = Literal["ok", "no_data", "error"]

# Tool.budget_bytes is sized for a 200k-token context window; a model session scales every tool's
# budget with its model's window (agents/llm/context.py sets this around its tool calls).
OUTPUT_SCALE: ContextVar[float] = ContextVar("tool_output_scale", default=1.0)
MIN_BUDGET_BYTES = 800  # below this a result says too little to be worth its call


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ToolContext:
    """What a tool needs from its surroundings, injected so tools never read settings."""

    now: Callable[[], datetime] = utcnow
    timeout: float = 10.0
    # Empty means every namespace is allowed.
    namespace_allowlist: tuple[str, ...] = ()
    # Tools mask secrets in raw backend text (log lines, events, object fields) as soon as they
    # fetch it, before templating, reducing or truncating could split a secret past recognition.
    # None means the process-wide tools.redact default.
    redactor: "Redacts | None" = None

    def namespace_allowed(self, namespace: str | None) -> bool:
        return not self.namespace_allowlist or (namespace or "") in self.namespace_allowlist

    @property
    def scrub(self) -> "Redacts":
        if self.redactor is not None:
            return self.redactor
        from tools.redact import default_redactor

        return default_redactor()


@dataclass
class ToolResult:
    status: Status
    data: Any = None
    summary: str = ""
    reduced: bool = False
    query: str = ""
    source: str = ""
    error: str | None = None
    # Filled by Tool.run: set when the generic trimmer had to cut after the tool's own reducer.
    truncated: bool = False
    elapsed: float = 0.0
    # The data before reducing and trimming (masked like `data`), for a model that pages through it.
    full: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def fail(cls, query: str, message: str, source: str = "") -> "ToolResult":
        return cls(status="error", query=query, source=source, error=message,
                   summary=f"error from {source or 'backend'}: {message}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status, "summary": self.summary, "query": self.query}
        if self.error:
            d["error"] = self.error
        if self.data is not None:
            d["data"] = self.data
        if self.reduced:
            d["reduced"] = True
        if self.truncated:
            d["truncated"] = True
        return d

    def to_text(self) -> str:
        return json.dumps(self.to_dict(), default=str, separators=(",", ":"), ensure_ascii=False)

    def size_bytes(self) -> int:
        return len(self.to_text().encode())


Reducer = Callable[[ToolResult, int], ToolResult]


def trim_to_budget(result: ToolResult, budget: int) -> ToolResult:
    """Last-resort trimming: shorten the longest lists, saying how much was left out."""
    if result.size_bytes() <= budget:
        return result
    data = result.data
    for _ in range(40):
        if result.size_bytes() <= budget:
            break
        lst = _longest_list(data)
        if lst is None or len(lst) <= 1:
            text = json.dumps(data, default=str)
            data = text[: max(0, budget // 2)] + f"... [{len(text)} chars, cut]"
            result.data = data
            break
        keep = max(1, len(lst) // 2)
        dropped = len(lst) - keep
        del lst[keep:]
        lst.append({"_omitted": dropped})
        result.data = data
    result.truncated = True
    return result


def _longest_list(obj: Any) -> list | None:
    best: list | None = None

    def walk(o: Any) -> None:
        nonlocal best
        if isinstance(o, list):
            if best is None or len(o) > len(best):
                best = o
            for x in o:
                walk(x)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)

    walk(obj)
    return best


@dataclass
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Callable[..., Awaitable[ToolResult]]
    read_only: bool = True
    source: str = ""
    budget_bytes: int = 6000
    reducer: Reducer | None = None
    timeout: float | None = None

    def anthropic_definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    async def run(self, **args: Any) -> ToolResult:
        started = time.monotonic()
        query = f"{self.name}({json.dumps(args, default=str, sort_keys=True)})"
        try:
            coro = self.handler(**args)
            result = await (asyncio.wait_for(coro, self.timeout) if self.timeout else coro)
        except asyncio.TimeoutError:
            result = ToolResult.fail(query, f"timed out after {self.timeout:g}s", self.source)
        except TypeError as exc:  # bad arguments from a model
            result = ToolResult.fail(query, f"invalid arguments: {exc}", self.source)
        except Exception as exc:  # a tool must never raise into the agent loop
            result = ToolResult.fail(query, f"{type(exc).__name__}: {exc}", self.source)
        if not result.source:
            result.source = self.source
        # Sizing (a JSON dump of the whole result), reducing and trimming are CPU work on results that
        # may hold thousands of items: a worker thread keeps them off the event loop.
        result = await asyncio.to_thread(self.fit, result)
        result.elapsed = time.monotonic() - started
        return result

    def fit(self, result: ToolResult) -> ToolResult:
        """The result within budget: the tool's own reducer first, then the generic trimmer."""
        budget = max(MIN_BUDGET_BYTES, int(self.budget_bytes * OUTPUT_SCALE.get()))
        if result.size_bytes() > budget:
            full = copy.deepcopy(result.data)  # the reducer and the trimmer cut `data` in place
            if self.reducer is not None:
                # Flagged first: the flag is part of the serialised result the reducer fits to the budget.
                result.reduced = True
                try:
                    result = self.reducer(result, budget)
                except Exception as exc:
                    result.reduced = False
                    result.summary += f" (reducer failed: {exc})"
            result = trim_to_budget(result, budget)
            result.full = full
        return result


class Redacts:
    """What tools and the registry need from tools.redact.Redactor (kept structural to avoid an import cycle)."""

    def redact(self, text: str) -> str: ...
    def redact_lines(self, text: str) -> str: ...
    def redact_obj(self, obj: Any) -> Any: ...


@dataclass
class ToolRegistry:
    tools: dict[str, Tool] = field(default_factory=dict)
    # A second pass over every result before anyone sees it (traces, the offline engine, a model):
    # tools already masked their raw backend text, this catches what they build around it
    # (summaries, queries, error messages).
    redactor: Redacts | None = None

    def register(self, *tools: Tool) -> "ToolRegistry":
        for t in tools:
            if t.name in self.tools:
                raise ValueError(f"duplicate tool name {t.name}")
            self.tools[t.name] = t
        return self

    def get(self, name: str) -> Tool | None:
        return self.tools.get(name)

    def names(self) -> list[str]:
        return sorted(self.tools)

    def definitions(self, read_only_only: bool = True) -> list[dict[str, Any]]:
        return [t.anthropic_definition() for t in self.tools.values() if t.read_only or not read_only_only]

    async def run(self, name: str, args: dict[str, Any] | None = None) -> ToolResult:
        tool = self.tools.get(name)
        if tool is None:
            return ToolResult.fail(f"{name}(...)", f"unknown tool {name!r}; known: {', '.join(self.names())}")
        if not isinstance(args, dict):
            return ToolResult.fail(f"{name}(...)", "arguments must be a JSON object", tool.source)
        result = await tool.run(**args)
        return self.mask(result)

    def mask(self, result: ToolResult) -> ToolResult:
        if self.redactor is None:
            return result
        r = self.redactor
        result.data = r.redact_obj(result.data)
        if result.full is not None:
            result.full = r.redact_obj(result.full)
        result.summary = r.redact(result.summary or "")
        result.query = r.redact(result.query or "")
        if result.error:
            result.error = r.redact(result.error)
        return result
