"""Bounds of one model session: steps, wall time and tokens.

Exploration (turns that may call tools) stops early enough to leave room for one final
answer turn: a share of the wall time and a token reserve the size of one more request.
Token estimates for the next request come from the last response's real usage plus ~3 chars
per token of what was added since, so the bound holds before a request is sent, not after.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

EXPLORE_TIME_SHARE = 0.8  # the last 20% of max_seconds is kept for the final answer
FINAL_MIN_TIME_SHARE = 0.05
CHARS_PER_TOKEN = 3


@dataclass
class Budget:
    max_steps: int
    max_seconds: float
    max_total_tokens: int
    max_output_tokens: int
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    steps: int = 0
    used_tokens: int = 0
    _context_tokens: int = 0  # size of the conversation as of the last response
    _added_chars: int = 0  # what was added since then

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        return self.max_seconds - self.elapsed()

    def added(self, chars: int) -> None:
        self._added_chars += chars

    def record(self, input_tokens: int, output_tokens: int) -> None:
        """input_tokens includes cache reads and writes: all of it is context the model processed."""
        self.used_tokens += input_tokens + output_tokens
        self._context_tokens = input_tokens + output_tokens
        self._added_chars = 0

    def next_request_tokens(self) -> int:
        """Worst case for the next request: its whole input plus a full output."""
        return self._context_tokens + self._added_chars // CHARS_PER_TOKEN + self.max_output_tokens

    def exploration_stop(self) -> str | None:
        if self.steps >= self.max_steps:
            return f"step limit {self.max_steps}"
        if self.elapsed() >= self.max_seconds * EXPLORE_TIME_SHARE:
            return f"time limit {self.max_seconds:g}s"
        # Room for this turn and one final answer after it.
        if self.used_tokens + 2 * self.next_request_tokens() > self.max_total_tokens:
            return f"token limit {self.max_total_tokens}"
        return None

    def final_allowed(self) -> bool:
        return (self.remaining() > self.max_seconds * FINAL_MIN_TIME_SHARE
                and self.used_tokens + self.next_request_tokens() <= self.max_total_tokens)
