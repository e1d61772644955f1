"""How the Anthropic SDK's exceptions map onto the shared retry policy (agents/llm/retry.py)."""
from __future__ import annotations

import anthropic

from agents.llm.retry import ApiFailure, RetryPolicy, classify_sdk, retry_after

__all__ = ["RetryPolicy", "classify", "retry_after"]


def classify(exc: Exception) -> ApiFailure | None:
    return classify_sdk(exc, anthropic, anthropic.AnthropicError, lambda e: getattr(e, "type", None) or "error")
