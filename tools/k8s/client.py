"""Building a `kubernetes` ApiClient and calling it from async tools.

The official client is synchronous, so every call runs in a worker thread with the tool's
timeout as `_request_timeout`, and an asyncio deadline on top in case the injected client
retries. Responses are read raw (`_preload_content=False`) and parsed as JSON here: tools work
on plain dicts, and a garbage body becomes a readable error instead of a half-built model.
"""
from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Callable
from urllib.parse import urlencode

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

SOURCE = "kubernetes"


class KubeConfigError(RuntimeError):
    pass


def make_api_client(host: str | None = None, kubeconfig: str | None = None, context: str | None = None,
                    verify_ssl: bool = True, token: str | None = None) -> k8s.ApiClient:
    """Explicit host (fake server, proxy) > kubeconfig file/context > in-cluster service account."""
    cfg = k8s.Configuration()
    if host:
        cfg.host = host.rstrip("/")
        if token:
            cfg.api_key = {"authorization": f"Bearer {token}"}
    else:
        errors = []
        try:
            k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        except (ConfigException, OSError, TypeError) as exc:
            errors.append(f"kubeconfig ({kubeconfig or os.environ.get('KUBECONFIG') or '~/.kube/config'}): {exc}")
            if kubeconfig or context:  # an explicit choice must not silently fall back
                raise KubeConfigError(f"no usable Kubernetes configuration: {errors[0]}") from exc
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)
            except ConfigException as exc2:
                errors.append(f"in-cluster: {exc2}")
                raise KubeConfigError("no usable Kubernetes configuration: " + "; ".join(errors)) from exc2
    cfg.verify_ssl = verify_ssl
    # One reconnect attempt, never a re-read: a slow apiserver must cost one timeout, not four.
    cfg.retries = urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=0, backoff_factor=0.1)
    return k8s.ApiClient(cfg)


class ApiFailure(Exception):
    def __init__(self, code: int, reason: str, message: str, query: str):
        super().__init__(message)
        self.code, self.reason, self.message, self.query = code, reason, message, query


_QUERY_NAMES = {"label_selector": "labelSelector", "field_selector": "fieldSelector", "tail_lines": "tailLines",
                "since_seconds": "sinceSeconds", "limit_bytes": "limitBytes", "dry_run": "dryRun"}


class Kube:
    """Per-call helper: typed API objects plus the list of exact requests made.

    With a redactor, every body is masked as it arrives (read tools); actions read objects to
    change them and get them as they are."""

    def __init__(self, api: k8s.ApiClient, timeout: float, redactor: Any = None):
        self.api = api
        self.timeout = timeout
        self.redactor = redactor
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.batch = k8s.BatchV1Api(api)
        self.queries: list[str] = []

    @property
    def networking(self) -> k8s.NetworkingV1Api:
        # Built on first use: importing the API class costs ~0.1 s, which most reads never need.
        return k8s.NetworkingV1Api(self.api)

    @property
    def host(self) -> str:
        return self.api.configuration.host

    def query_text(self) -> str:
        return " ; ".join(self.queries)

    async def json(self, path: str, fn: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        raw, query = await self._call(path, fn, kwargs)
        # Parsing and masking a list of hundreds of objects is CPU work: a worker thread, not the event loop.
        return await asyncio.to_thread(self._parse, raw, query)

    def _parse(self, raw: bytes, query: str) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except ValueError:
            snippet = raw[:200].decode(errors="replace")
            raise ApiFailure(200, "BadBody", f"Kubernetes API returned a non-JSON body for {self.host}{query}: "
                             f"{snippet!r}", query) from None
        if not isinstance(data, dict):
            raise ApiFailure(200, "BadBody", f"Kubernetes API returned {type(data).__name__}, not an object, "
                             f"for {self.host}{query}", query)
        return data if self.redactor is None else self.redactor.redact_obj(data)

    async def text(self, path: str, fn: Callable[..., Any], **kwargs: Any) -> str:
        raw, _ = await self._call(path, fn, kwargs)
        redactor = self.redactor
        if redactor is None:
            return raw.decode(errors="replace")
        return await asyncio.to_thread(lambda: redactor.redact_lines(raw.decode(errors="replace")))

    async def _call(self, path: str, fn: Callable[..., Any], kwargs: dict[str, Any], method: str = "GET",
                    params: dict[str, Any] | None = None) -> tuple[bytes, str]:
        """Run one client call in a thread; every failure becomes an ApiFailure naming the request."""
        if params is None:
            params = {_QUERY_NAMES.get(k, k): _q(v) for k, v in kwargs.items()
                      if v is not None and k not in ("name", "namespace", "body")}
        query = f"{method} {path}" + (f"?{urlencode(params)}" if params else "")
        self.queries.append(query)
        url = f"{self.host}{path}"

        def run() -> bytes:
            resp = fn(**kwargs, _preload_content=False, _request_timeout=self.timeout)
            try:
                return resp.data
            finally:
                resp.release_conn()

        try:
            # The thread cannot be cancelled; the deadline only stops us waiting for it.
            return await asyncio.wait_for(asyncio.to_thread(run), self.timeout + 1.0), query
        except asyncio.TimeoutError:
            raise ApiFailure(0, "Timeout", f"Kubernetes API at {url} did not answer {query} within "
                             f"{self.timeout:g}s", query) from None
        except ApiException as exc:
            raise _from_api_exception(exc, url, query) from None
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            # NewConnectionError subclasses ConnectTimeoutError, yet "refused" is not a timeout.
            if isinstance(reason, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError)) \
                    and not isinstance(reason, urllib3.exceptions.NewConnectionError):
                raise ApiFailure(0, "Timeout", f"Kubernetes API at {url} did not answer {query} within "
                                 f"{self.timeout:g}s ({type(reason).__name__})", query) from None
            raise ApiFailure(0, "Unreachable", f"cannot reach Kubernetes API at {url}: {_transport_reason(reason)}",
                             query) from None
        except ValueError as exc:  # pydantic validation of arguments in the typed client
            raise ApiFailure(0, "InvalidArgument", f"invalid argument for {path}: {exc}".splitlines()[0],
                             query) from None


def _q(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _from_api_exception(exc: ApiException, url: str, query: str) -> ApiFailure:
    code = exc.status or 0
    if code == 0:
        return ApiFailure(0, "Unreachable", f"cannot reach Kubernetes API at {url}: {exc.reason}", query)
    message, reason = (exc.body or "").strip(), exc.reason or ""
    try:
        status = json.loads(exc.body or "")
        if isinstance(status, dict):
            message = status.get("message") or message
            reason = status.get("reason") or reason
    except ValueError:
        pass
    return ApiFailure(code, reason, f"{code} {reason}: {message[:500]} ({query.split(' ', 1)[1]})", query)


def _transport_reason(reason: object) -> str:
    text = str(reason)
    if isinstance(reason, urllib3.exceptions.NewConnectionError) and "refused" in text.lower():
        return "connection refused"
    return text
