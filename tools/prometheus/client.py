"""Async wrapper over prometheus-api-client's PrometheusConnect with readable errors.

PrometheusConnect is synchronous (requests), so calls run in a worker thread. Its
per-request timeout bounds connect and each read; asyncio.wait_for bounds the whole call
in case a server drips bytes. Its default Retry (3 tries, 1s backoff, retrying read
timeouts) would multiply the timeout a tool promised, so we pass a tight one.
"""
from __future__ import annotations

import ast
import asyncio
import json
import re
import threading
import weakref
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

_MAX_IDLE = 8
_STATUS_RE = re.compile(r"^HTTP Status Code (\d+) \((b'.*'|b\".*\")\)$", re.S)


class PromError(Exception):
    """A failed Prometheus call; str() is the message shown to the model."""


def _retry() -> Retry:
    return Retry(total=2, connect=1, read=False, status=1, backoff_factor=0.2,
                 status_forcelist=(502, 503, 504), allowed_methods=frozenset({"GET", "POST"}),
                 raise_on_status=False)


def explain_http_error(exc: PrometheusApiClientException) -> str:
    """Turn 'HTTP Status Code 400 (b'{json}')' into 'HTTP 400 bad_data: parse error ...'."""
    m = _STATUS_RE.match(str(exc))
    if not m:
        return str(exc)
    code = m.group(1)
    try:
        body = ast.literal_eval(m.group(2)).decode("utf-8", "replace")
    except (ValueError, SyntaxError):
        return f"HTTP {code}"
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and payload.get("error"):
            return f"HTTP {code} {payload.get('errorType', 'error')}: {payload['error']}"
    except ValueError:
        pass
    body = " ".join(body.split())
    return f"HTTP {code}: {body[:300] or '(empty body)'}"


class PromClient:
    def __init__(self, url: str, timeout: float = 10.0, headers: dict | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = headers
        # Idle connections, one per call in flight at most: a diagnosis sends dozens of queries in
        # parallel batches, and a new PrometheusConnect per query paid a session, a pool and a TCP
        # connect each time. A connection serves one thread at a time (requests is not thread-safe).
        self._idle: list[PrometheusConnect] = []
        self._lock = threading.Lock()
        # The tools hold this client in closures and have no close hook: release the sockets with it.
        weakref.finalize(self, _close_all, self._idle)

    def _take(self) -> PrometheusConnect:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return PrometheusConnect(url=self.url, headers=self.headers, retry=_retry(), timeout=self.timeout)

    def _give_back(self, pc: PrometheusConnect) -> None:
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(pc)
                return
        pc.close()

    def close(self) -> None:
        with self._lock:
            idle = self._idle[:]
            self._idle.clear()   # in place: the finalizer holds this list
        _close_all(idle)

    async def _call(self, what: str, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            pc = self._take()
            try:
                out = getattr(pc, fn_name)(*args, **kwargs)
            except BaseException:
                pc.close()   # a failed connection is not handed to the next query
                raise
            self._give_back(pc)
            return out

        where = f"{self.url} ({what})"
        try:
            # Margin over the per-request timeout: one connect retry may precede the read.
            return await asyncio.wait_for(asyncio.to_thread(run), self.timeout * 2 + 1)
        except asyncio.TimeoutError:
            raise PromError(f"Prometheus at {where} did not answer within {self.timeout:g}s") from None
        except PrometheusApiClientException as exc:
            raise PromError(f"Prometheus at {where} refused: {explain_http_error(exc)}") from None
        except requests.Timeout:
            raise PromError(f"Prometheus at {where} timed out after {self.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise PromError(f"cannot reach Prometheus at {where}: {_root_cause(exc)}") from None
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise PromError(f"Prometheus at {where} returned non-JSON: {exc}") from None
        except (KeyError, TypeError) as exc:
            raise PromError(f"Prometheus at {where} returned an unexpected payload (missing {exc})") from None
        except requests.RequestException as exc:
            raise PromError(f"request to Prometheus at {where} failed: {exc}") from None

    async def query(self, promql: str, at: datetime) -> list[dict]:
        return _check(await self._call("query", "custom_query", promql, params={"time": at.timestamp()}), list)

    async def query_range(self, promql: str, start: datetime, end: datetime, step_s: float) -> list[dict]:
        return _check(await self._call("query_range", "custom_query_range", promql, start_time=start,
                                       end_time=end, step=f"{step_s:g}s"), list)

    async def series(self, match: str, start: datetime, end: datetime) -> list[dict]:
        return _check(await self._call("series", "get_series", start, end, params={"match[]": match}), list)

    async def label_names(self, start: datetime, end: datetime, match: str | None = None) -> list[str]:
        return _check(await self._call("labels", "get_label_names", params=_label_params(start, end, match)), list)

    async def label_values(self, label: str, start: datetime, end: datetime, match: str | None = None) -> list[str]:
        return _check(await self._call("label values", "get_label_values", label,
                                       params=_label_params(start, end, match)), list)


def _close_all(conns: list[PrometheusConnect]) -> None:
    for pc in conns:
        pc.close()


def _label_params(start: datetime, end: datetime, match: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"start": start.timestamp(), "end": end.timestamp()}
    if match:
        params["match[]"] = match  # only label names/values of the series it selects
    return params


def _check(data: Any, kind: type) -> Any:
    if not isinstance(data, kind):
        raise PromError(f"Prometheus returned {type(data).__name__} where a {kind.__name__} was expected")
    return data


def _root_cause(exc: BaseException) -> str:
    # requests nests urllib3 errors three deep; the innermost says "Connection refused".
    text = str(exc)
    m = re.search(r"\[Errno [^\]]+\] [^')\"]+", text)
    return m.group(0) if m else text[:300]
