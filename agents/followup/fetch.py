"""Tool calls of a follow-up, through the session's ToolRunner (tracing, memo, the registry's
allowlist and redaction), each result kept as a Fetched for the thread's later questions."""
from __future__ import annotations

from typing import Any

from agents.followup.context import Fetched
from agents.toolrunner import ToolRunner
from tools.base import ToolResult, utcnow


class Fetcher:
    def __init__(self, runner: ToolRunner, question: int):
        self.runner = runner
        self.question = question
        self.fetched: list[Fetched] = []

    def available(self, tool: str) -> bool:
        return self.runner.registry.get(tool) is not None

    async def run_many(self, calls: list[tuple[str, dict[str, Any]]]) -> list[ToolResult]:
        results = await self.runner.run_many(calls)
        at = utcnow().isoformat(timespec="seconds")
        self.fetched += [Fetched.of(name, args, r, self.question, at) for (name, args), r in zip(calls, results)]
        return results

    async def run(self, tool: str, args: dict[str, Any]) -> tuple[ToolResult, Fetched]:
        [result] = await self.run_many([(tool, args)])
        return result, self.fetched[-1]
