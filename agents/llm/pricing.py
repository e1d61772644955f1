"""USD prices per million tokens, for the cost line of a session and the dollar budget.

Anthropic bills 5-minute cache writes at 1.25x the input price and cache reads at 0.1x; OpenAI
bills no writes and discounts cached input by a per-family factor. Model ids are matched by prefix
so dated snapshots ("claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06") find their family, and a
router's vendor prefix ("openai/gpt-4o" on OpenRouter) is ignored. A self-hosted or unknown model
has no price: the session is then bounded and reported by tokens only.
"""
from __future__ import annotations

from dataclasses import dataclass

from agents.trace import Usage


@dataclass(frozen=True)
class Price:
    input: float  # USD per million uncached input tokens
    output: float  # USD per million output tokens
    cache_read: float = 0.1  # share of the input price a cached input token costs
    cache_write: float = 1.25  # share of the input price a token written to the cache costs


def _openai(inp: float, out: float, cached: float) -> Price:
    return Price(inp, out, cache_read=cached, cache_write=1.0)


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
    "gpt-4o": _openai(2.5, 10.0, 0.5),
    "gpt-4o-mini": _openai(0.15, 0.6, 0.5),
    "gpt-4.1": _openai(2.0, 8.0, 0.25),
    "gpt-4.1-mini": _openai(0.4, 1.6, 0.25),
    "gpt-4.1-nano": _openai(0.1, 0.4, 0.25),
    "gpt-5": _openai(1.25, 10.0, 0.1),
    "gpt-5-mini": _openai(0.25, 2.0, 0.1),
    "gpt-5-nano": _openai(0.05, 0.4, 0.1),
}


def price_for(model: str) -> Price | None:
    model = model.rsplit("/", 1)[-1]
    # Longest prefix first, so "claude-opus-4-1..." is not priced as "claude-opus-4".
    for key in sorted(PRICES, key=len, reverse=True):
        if model == key or model.startswith(key + "-") or model.startswith(key + "@"):
            return PRICES[key]
    return None


def cost_usd(model: str, input_tokens: int, output_tokens: int,
             cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> float | None:
    """Cost of one response (input_tokens: the uncached ones); None when the model is not in the table."""
    p = price_for(model)
    if p is None:
        return None
    usd = (input_tokens * p.input + output_tokens * p.output
           + cache_write_tokens * p.input * p.cache_write
           + cache_read_tokens * p.input * p.cache_read) / 1_000_000
    return round(usd, 6)


def priced(model: str, usage: Usage) -> tuple[Usage, bool]:
    """The usage with its cost filled in, and whether the model has a price."""
    cost = cost_usd(model, usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                    usage.cache_write_tokens)
    usage.cost_usd = cost or 0.0
    return usage, cost is not None
