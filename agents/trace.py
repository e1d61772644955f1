"""How a session reports what it does, without knowing about storage or chat.

The bot layer implements Tracer to persist tool calls and to edit the chat progress message;
tests and the evaluation use ListTracer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolCallRecord:
    step: int
    tool: str
    arguments: dict[str, Any]
    query: str
    status: str
    duration_ms: float
    bytes: int
    reduced: bool = False
    truncated: bool = False
    cached: bool = False
    error: str | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: "Usage") -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd


class Tracer(Protocol):
    def step(self, n: int, total: int | None, label: str) -> None: ...
    def tool_call(self, record: ToolCallRecord) -> None: ...
    def usage(self, usage: Usage) -> None: ...
    def note(self, text: str) -> None: ...


@dataclass
class ListTracer:
    steps: list[tuple[int, int | None, str]] = field(default_factory=list)
    calls: list[ToolCallRecord] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def step(self, n: int, total: int | None, label: str) -> None:
        self.steps.append((n, total, label))

    def tool_call(self, record: ToolCallRecord) -> None:
        self.calls.append(record)

    def usage(self, usage: Usage) -> None:
        self.usages.append(usage)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def context_bytes(self) -> int:
        return sum(c.bytes for c in self.calls)


class MultiTracer:
    def __init__(self, *tracers: Tracer):
        self.tracers = [t for t in tracers if t is not None]

    def step(self, n: int, total: int | None, label: str) -> None:
        for t in self.tracers:
            t.step(n, total, label)

    def tool_call(self, record: ToolCallRecord) -> None:
        for t in self.tracers:
            t.tool_call(record)

    def usage(self, usage: Usage) -> None:
        for t in self.tracers:
            t.usage(usage)

    def note(self, text: str) -> None:
        for t in self.tracers:
            t.note(text)
