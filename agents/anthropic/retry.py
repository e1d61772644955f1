"""Our retry policy for the Messages API (the SDK's own retries are switched off).

429, 529 (overloaded), 5xx and connection failures are retried with exponential backoff and
jitter, honouring the server's retry-after (capped); when retries or the session's time run out,
or the API rejects the request itself (400, 401, 403, ...), EngineUnavailable says why.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Awaitable, Callable, Mapping, TypeVar

import anthropic

from agents.anthropic.errors import EngineUnavailable

T = TypeVar("T")


def retryable_status(status: int) -> bool:
    return status == 429 or status >= 500  # 529 "overloaded" included


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, retry-after seconds or HTTP date."""
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _message(exc: anthropic.APIStatusError) -> str:
    return getattr(exc, "api_message", None) or exc.message


@dataclass
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    def backoff(self, attempt: int, server_hint: float | None) -> float:
        if server_hint is not None:
            return min(server_hint, self.max_delay)
        # Equal jitter: half fixed, half random, so concurrent sessions spread out.
        step = min(self.max_delay, self.base_delay * 2 ** attempt)
        return step / 2 + random.uniform(0, step / 2)

    async def call(self, make: Callable[[], Awaitable[T]], *, remaining: Callable[[], float],
                   note: Callable[[str], None], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
        attempt = 0
        while True:
            try:
                return await make()
            except anthropic.APIStatusError as exc:
                status = exc.status_code
                if not retryable_status(status):
                    raise EngineUnavailable(f"Anthropic API rejected the request ({status} "
                                            f"{getattr(exc, 'type', None) or 'error'}): {_message(exc)}",
                                            status) from exc
                problem, hint = f"{status} {_message(exc)}", retry_after(exc.response.headers)
            except anthropic.APIConnectionError as exc:  # includes timeouts
                status, problem, hint = None, f"{type(exc).__name__}: {exc.message}", None
            except anthropic.AnthropicError as exc:  # e.g. a response the SDK cannot parse
                raise EngineUnavailable(f"Anthropic API error: {type(exc).__name__}: {exc}") from exc
            if attempt >= self.max_retries:
                raise EngineUnavailable(f"Anthropic API unavailable after {attempt + 1} attempts: {problem}", status)
            delay = self.backoff(attempt, hint)
            if delay >= remaining():
                raise EngineUnavailable(f"Anthropic API unavailable ({problem}); waiting {delay:.1f}s "
                                        f"would exceed the session's time budget", status)
            attempt += 1
            note(f"anthropic: {problem}; retry {attempt}/{self.max_retries} in {delay:.2f}s")
            await sleep(delay)
