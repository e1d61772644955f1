"""The limits of one model session, and what follows from its model's context window.

Tool output gets a share of the window, not a fixed byte count: every tool's budget_bytes (sized
for a 200k-token window) scales with the window, so a 32k-token self-hosted model gets results a
sixth as long and a 1M-token model five times longer. Each request is measured before it is sent
and the history compacted until it fits, with room for a full answer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents.llm.budget import CHARS_PER_TOKEN
from tools.base import MIN_BUDGET_BYTES

REFERENCE_WINDOW = 200_000  # the window Tool.budget_bytes was sized for
DEFAULT_TOOL_BYTES = 6000  # Tool.budget_bytes of a tool that sets none: 1% of the reference window
WINDOW_FILL = 0.9  # requests stay below this share of the window: token counts differ between tokenizers


@dataclass
class Limits:
    max_tokens: int = 4096
    max_steps: int = 12
    max_seconds: float = 120
    max_total_tokens: int = 200_000
    max_cost_usd: float = 0.0  # 0: no dollar bound
    context_window: int = 200_000
    max_tool_calls_per_turn: int = 8
    max_retries: int = 3
    retry_base_delay: float = 1.0
    max_retry_delay: float = 30.0

    def output_scale(self) -> float:
        return self.context_window / REFERENCE_WINDOW

    def page_chars(self) -> int:
        """Size of a read_result page: the budget of a default tool result."""
        return max(MIN_BUDGET_BYTES, int(DEFAULT_TOOL_BYTES * self.output_scale()))

    def room(self) -> int:
        """Input tokens a request may have, leaving room for a full answer."""
        return int(self.context_window * WINDOW_FILL) - self.max_tokens


def request_tokens(body: dict[str, Any]) -> int:
    """A conservative count of a request's input tokens (~3 chars a token of its JSON)."""
    return len(json.dumps(body, ensure_ascii=False, default=str)) // CHARS_PER_TOKEN
