"""USD prices per million tokens, for the cost line of a session.

Cache writes (5-minute ephemeral) cost 1.25x the input price and cache reads 0.1x, as billed
by Anthropic. Model ids are matched by prefix so dated snapshots ("claude-sonnet-4-5-20250929")
find their family; an unknown model costs 0 and the caller says so instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens


PRICES: dict[str, Price] = {
    "claude-sonnet-5-5": Price(2.0, 10.0),
    "claude-sonnet-5": Price(2.0, 10.0),
    "claude-sonnet-4-6": Price(3.0, 15.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "claude-3-haiku": Price(0.25, 1.25),
}


def price_for(model: str) -> Price | None:
    # Longest prefix first, so "claude-opus-4-1..." is not priced as "claude-opus-4".
    for key in sorted(PRICES, key=len, reverse=True):
        if model == key or model.startswith(key + "-") or model.startswith(key + "@"):
            return PRICES[key]
    return None


def cost_usd(model: str, input_tokens: int, output_tokens: int,
             cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    """Cost of one response; None when the model is not in the table."""
    p = price_for(model)
    if p is None:
        return None
    usd = (input_tokens * p.input + output_tokens * p.output
           + cache_write_tokens * p.input * CACHE_WRITE_FACTOR
           + cache_read_tokens * p.input * CACHE_READ_FACTOR) / 1_000_000
    return round(usd, 6)
