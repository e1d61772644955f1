"""Shared pieces of the Anthropic engine tests: small tools, a registry, a valid diagnosis."""
from __future__ import annotations

import asyncio
from typing import Any

from agents.anthropic import AnthropicEngine
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer
from tools.base import Tool, ToolRegistry, ToolResult
from tools.redact import Redactor

VALID = {
    "category": "oom_killed", "component": "cart", "confidence": 0.85,
    "summary": "cart containers are OOMKilled at their 512Mi limit; raise the memory limit.",
    "evidence": [{"tool": "k8s_pods", "query": "k8s_pods(namespace=shop)",
                  "finding": "cart-7d9 restarted 6 times, last state OOMKilled exit 137"}],
    "proposals": [{"action_type": "set_resources", "target": "cart", "namespace": "shop",
                   "parameters": {"container": "cart", "memory_limit": "1Gi"}, "risk": "MEDIUM"}],
}


def make_tool(name: str, data: Any = None, *, status: str = "ok", sleep: float = 0.0, read_only: bool = True,
              source: str = "test", calls: list | None = None, error: str | None = None) -> Tool:
    """A tool answering `data` after `sleep` seconds; a callable `data` gets the arguments and may
    return a whole ToolResult."""

    async def handler(**args: Any) -> ToolResult:
        if calls is not None:
            calls.append(args)
        if sleep:
            await asyncio.sleep(sleep)
        if status == "error":
            return ToolResult.fail(f"{name}({args})", error or "backend down", source)
        value = data(**args) if callable(data) else data
        if isinstance(value, ToolResult):  # the callable decides the whole answer
            return value
        return ToolResult(status=status, data=value, summary=f"{name} answered", query=f"{name}({args})")

    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "additionalProperties": True}
    return Tool(name=name, description=f"test tool {name}", input_schema=schema, handler=handler,
                read_only=read_only, source=source)


def runner_with(*tools: Tool, redactor: Redactor | None = Redactor()) -> ToolRunner:
    return ToolRunner(ToolRegistry(redactor=redactor).register(*tools), ListTracer())


def engine_for(fake: Any, **kw: Any) -> AnthropicEngine:
    kw.setdefault("retry_base_delay", 0.001)
    return AnthropicEngine(api_key="sk-ant-api03-test", base_url=fake.base_url, **kw)
