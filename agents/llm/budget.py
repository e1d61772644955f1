"""Bounds of one model session: steps, wall time, tokens and dollars.

Exploration (turns that may call tools) stops early enough to leave room for one final answer
turn: a share of the wall time, and a token and dollar reserve the size of one more request.

The token budget counts what the model processed afresh: uncached input (cache writes included)
plus output. Cache reads are the conversation read back at a tenth of the price; counting them at
full weight made the budget grow with the square of the turns and ended exploration early. They
still count in dollars, at their price. The estimate of the next request comes from the last
response's real usage plus ~3 chars per token of what was added since, so the bound holds before
a request is sent, not after.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from agents.trace import Usage

EXPLORE_TIME_SHARE = 0.8  # the last 20% of max_seconds is kept for the final answer
FINAL_MIN_TIME_SHARE = 0.05
CHARS_PER_TOKEN = 3


@dataclass
class Budget:
    max_steps: int
    max_seconds: float
    max_total_tokens: int
    max_output_tokens: int
    max_cost_usd: float = 0.0  # 0: no dollar bound (an unpriced model is bounded by tokens only)
    usd_per_output_token: float = 0.0  # the model's output price, to reserve a full answer's cost
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    steps: int = 0
    used_tokens: int = 0
    used_usd: float = 0.0
    _context_tokens: int = 0  # size of the conversation as of the last response (input + output)
    _last_output: int = 0
    _last_fresh: int = 0  # uncached input of the last request
    _cached: bool = False  # the last request used the provider's prompt cache
    _last_usd: float = 0.0
    _added_chars: int = 0  # what was added since then

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        return self.max_seconds - self.elapsed()

    def added(self, chars: int) -> None:
        self._added_chars += chars

    def record(self, usage: Usage) -> None:
        self.used_tokens += usage.input_tokens + usage.cache_write_tokens + usage.output_tokens
        self.used_usd += usage.cost_usd
        self._last_usd = usage.cost_usd
        self._context_tokens = (usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
                                + usage.output_tokens)
        self._last_output = usage.output_tokens
        self._last_fresh = usage.input_tokens + usage.cache_write_tokens
        self._cached = bool(usage.cache_read_tokens or usage.cache_write_tokens)
        self._added_chars = 0

    def next_request_tokens(self) -> int:
        """Worst case the next request adds to the budget: a full output, plus what was added since the
        last response and the conversation so far, unless the cache serves the conversation: then the
        last answer (new to the cache), and at least as much uncached input as the last request had."""
        added = self._added_chars // CHARS_PER_TOKEN
        if self._cached:
            return max(self._last_fresh, added + self._last_output) + self.max_output_tokens
        return self._context_tokens + added + self.max_output_tokens

    def exploration_stop(self) -> str | None:
        if self.steps >= self.max_steps:
            return f"step limit {self.max_steps}"
        if self.elapsed() >= self.max_seconds * EXPLORE_TIME_SHARE:
            return f"time limit {self.max_seconds:g}s"
        # Room for this turn and one final answer after it.
        if self.used_tokens + 2 * self.next_request_tokens() > self.max_total_tokens:
            return f"token limit {self.max_total_tokens}"
        if self.max_cost_usd and self.used_usd + 2 * self.next_request_usd() > self.max_cost_usd:
            return f"cost limit ${self.max_cost_usd:g}"
        return None

    def next_request_usd(self) -> float:
        """As much as the last request cost, and a full answer."""
        return self._last_usd + self.max_output_tokens * self.usd_per_output_token

    def final_allowed(self) -> bool:
        return (self.remaining() > self.max_seconds * FINAL_MIN_TIME_SHARE
                and self.used_tokens + self.next_request_tokens() <= self.max_total_tokens
                and (not self.max_cost_usd or self.used_usd + self.next_request_usd() <= self.max_cost_usd))
