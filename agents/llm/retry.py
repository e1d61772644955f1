"""Our retry policy for a model API (the SDKs' own retries are switched off).

An adapter classifies each SDK exception as an ApiFailure. 408, 429, 5xx (529 "overloaded"
included) and connection failures are retried with exponential backoff and jitter, honouring the
server's retry-after (capped); when retries or the session's time run out, or the API rejects the
request itself (400, 401, 403, ...), EngineUnavailable says why.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from agents.llm.errors import EngineUnavailable

T = TypeVar("T")


@dataclass
class ApiFailure:
    """One failed call, as the adapter understood its SDK's exception."""

    problem: str  # e.g. "529 Overloaded" or "APIConnectionError: Connection error."
    status: int | None = None  # None: no HTTP answer (connection, timeout)
    kind: str = ""  # the API's error type, e.g. "authentication_error"
    hint: float | None = None  # seconds the server asked us to wait
    fatal: bool = False  # not an HTTP failure at all (e.g. an answer the SDK cannot parse)

    @property
    def retryable(self) -> bool:
        return not self.fatal and (self.status is None or retryable_status(self.status))


def classify_sdk(exc: Exception, sdk: Any, base: type, kind: Callable[[Any], str]) -> ApiFailure | None:
    """An exception of the `anthropic` or `openai` SDK (same hierarchy: APIStatusError,
    APIConnectionError, a base error) as an ApiFailure; None for anything else. `kind`: the API's
    error type from a status error."""
    if isinstance(exc, sdk.APIStatusError):
        k, message = kind(exc), getattr(exc, "api_message", None) or exc.message
        return ApiFailure(f"{exc.status_code} {k}: {message}", exc.status_code, k, retry_after(exc.response.headers))
    if isinstance(exc, sdk.APIConnectionError):  # includes timeouts
        return ApiFailure(f"{type(exc).__name__}: {exc.message}")
    if isinstance(exc, base):  # e.g. an answer the SDK cannot parse
        return ApiFailure(f"{type(exc).__name__}: {exc}", fatal=True)
    return None


def retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


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

    async def call(self, make: Callable[[], Awaitable[T]], *, classify: Callable[[Exception], ApiFailure | None],
                   api: str, remaining: Callable[[], float], note: Callable[[str], None],
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
        """`classify` returns None for exceptions that are not the API's (bugs): they propagate."""
        attempt = 0
        while True:
            try:
                return await make()
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if not failure.retryable:
                    what = "rejected the request" if failure.status else "error"
                    raise EngineUnavailable(f"{api} API {what} ({failure.problem})", failure.status) from exc
            if attempt >= self.max_retries:
                raise EngineUnavailable(f"{api} API unavailable after {attempt + 1} attempts: {failure.problem}",
                                        failure.status)
            delay = self.backoff(attempt, failure.hint)
            if delay >= remaining():
                raise EngineUnavailable(f"{api} API unavailable ({failure.problem}); waiting {delay:.1f}s "
                                        f"would exceed the session's time budget", failure.status)
            attempt += 1
            note(f"{api.lower()}: {failure.problem}; retry {attempt}/{self.max_retries} in {delay:.2f}s")
            await sleep(delay)
