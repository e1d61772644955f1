"""Runs tools for an engine: tracing, per-session memo of identical calls, parallel batches."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from agents.trace import ToolCallRecord, Tracer
from tools.base import ToolRegistry, ToolResult

REPEAT_NOTE = "identical call already made in this session; returning the earlier result"


class ToolRunner:
    def __init__(self, registry: ToolRegistry, tracer: Tracer):
        self.registry = registry
        self.tracer = tracer
        self.step = 0
        self.calls = 0
        self._memo: dict[str, ToolResult] = {}
        self.args: dict[str, dict[str, Any]] = {}
        self._inflight: dict[str, asyncio.Future] = {}

    @staticmethod
    def key(name: str, args: dict[str, Any]) -> str:
        return name + json.dumps(args, sort_keys=True, default=str)

    async def run(self, name: str, args: dict[str, Any] | None = None) -> ToolResult:
        args = dict(args or {})
        key = self.key(name, args)
        if key in self._memo:
            earlier = self._memo[key]
            repeat = ToolResult(**{**earlier.__dict__, "summary": f"{earlier.summary} [{REPEAT_NOTE}]"})
            self._record(name, args, repeat, cached=True)
            return repeat
        if key in self._inflight:  # the same call issued twice in one parallel batch
            return await asyncio.shield(self._inflight[key])
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await self.registry.run(name, args)
        except Exception as exc:  # registry.run should not raise; never let a bug kill a session
            result = ToolResult.fail(f"{name}({args})", f"{type(exc).__name__}: {exc}")
        self._memo[key] = result
        self.args[key] = args
        fut.set_result(result)
        del self._inflight[key]
        self._record(name, args, result, cached=False)
        return result

    async def run_many(self, calls: list[tuple[str, dict[str, Any]]]) -> list[ToolResult]:
        return list(await asyncio.gather(*(self.run(n, a) for n, a in calls)))

    def _record(self, name: str, args: dict[str, Any], result: ToolResult, cached: bool) -> None:
        self.calls += 1
        self.tracer.tool_call(ToolCallRecord(
            step=self.step, tool=name, arguments=args, query=result.query, status=result.status,
            duration_ms=0.0 if cached else round(result.elapsed * 1000, 2), bytes=result.size_bytes(),
            reduced=result.reduced, truncated=result.truncated, cached=cached, error=result.error))
