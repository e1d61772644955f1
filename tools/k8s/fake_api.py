"""A loopback Kubernetes API server for tests and the console demo.

It speaks the REST paths and payloads the official client uses (lists, gets, pod logs, events
with field selectors, deployment scale, patches in all three formats, deletes, dryRun=All) over
an in-memory store, so the real `kubernetes` client can be pointed at it with
`Configuration.host`. A ThreadingHTTPServer keeps it usable from sync and async code alike.

Failure injection (`fail`) answers with real metav1.Status bodies, delays, or raw garbage.

Log files for load_dir live under a `logs/` directory:
    logs/[<namespace>/]<pod>[.<container>][.previous].log
Without a namespace folder the pod's namespace is looked up in the store; without a container
the log belongs to the pod's first container.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tools.k8s.fake_controller import FakeControllers
from tools.k8s.fake_store import ApiError, ObjectStore, Resource, not_found, resource_for_path
from tools.k8s.patch import PatchError, apply_patch
from tools.k8s.selectors import label_selector_string

LogKey = tuple[str, str, str, bool]  # (namespace, pod, container, previous)

SERVICE_ACCOUNT = "system:serviceaccount:chatops:incident-bot"
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}
_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete", "POST": "create"}
_TS_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))\s")


@dataclass
class _Route:
    res: Resource | None
    namespace: str | None
    name: str | None
    sub: str | None


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int | None
    times: int | None
    delay: float
    body: str | bytes | None
    message: str | None


class FakeKubeAPI:
    def __init__(self, objects: list[dict] | None = None, logs: dict[LogKey, str] | None = None):
        self.store = ObjectStore()
        self.logs: dict[tuple[str | None, str, str | None, bool], str] = dict(logs or {})
        self.requests: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.url = ""
        # None: status stays exactly as loaded (read-tool tests); see simulate_controllers().
        self.controllers: FakeControllers | None = None
        for obj in objects or []:
            self.store.add(obj)

    # -- setup -----------------------------------------------------------------------------
    def add(self, *objects: dict[str, Any]) -> None:
        for obj in objects:
            self.store.add(obj)

    def set_log(self, namespace: str, pod: str, container: str | None, text: str, previous: bool = False) -> None:
        self.logs[(namespace, pod, container, previous)] = text

    def load_dir(self, path: str | Path) -> None:
        root = Path(path)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            if "logs" in f.relative_to(root).parts[:-1]:
                continue
            if f.suffix in (".yaml", ".yml"):
                docs = list(yaml.safe_load_all(f.read_text()))
            elif f.suffix == ".json":
                docs = [json.loads(f.read_text())]
            else:
                continue
            for doc in docs:
                if doc:
                    self.store.add(doc)
        for f in files:
            parts = f.relative_to(root).parts
            if f.suffix != ".log" or "logs" not in parts[:-1]:
                continue
            after = parts[parts.index("logs") + 1:]
            namespace = after[0] if len(after) == 2 else None
            self._add_log_file(namespace, f.name[: -len(".log")], f.read_text())

    def _add_log_file(self, namespace: str | None, stem: str, text: str) -> None:
        previous = stem.endswith(".previous")
        if previous:
            stem = stem[: -len(".previous")]
        pod, container = stem, None
        if "." in stem and not self._pod_exists(namespace, stem):
            pod, container = stem.rsplit(".", 1)
        self.logs[(namespace, pod, container, previous)] = text

    def _pod_exists(self, namespace: str | None, name: str) -> bool:
        return any(p["metadata"]["name"] == name for p in self.store.list(resource_for_path("", "v1", "pods"), namespace))

    def fail(self, method: str, path_regex: str, status: int | None, times: int | None = None,
             delay: float = 0, body: str | bytes | None = None, message: str | None = None) -> None:
        """Make matching requests fail: status (None/200 with no body = answer normally after
        `delay`), `times` requests then the rule expires (None = forever), `body` = raw bytes."""
        with self._lock:
            self._failures.append(_Failure(method.upper(), re.compile(path_regex), status, times, delay, body, message))

    def simulate_controllers(self, delay: float = 0.0) -> FakeControllers:
        """Let deployments roll out and ReplicaSets replace deleted pods after `delay` seconds."""
        if self.controllers is None:
            self.controllers = FakeControllers(self.store, delay)
        self.controllers.delay = delay
        return self.controllers

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        if self._server is not None:
            return self.url
        api = self

        class Handler(_Handler):
            fake = api

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        # A short poll interval keeps stop() fast (shutdown waits for the next poll).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-kube-api", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on an injected delay
        if self.controllers is not None:
            self.controllers.cancel()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "FakeKubeAPI":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- request handling ------------------------------------------------------------------
    def _record(self, method: str, path: str, query: dict[str, str], body: Any, content_type: str) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body,
                                  "content_type": content_type})

    def _injected(self, method: str, path: str) -> _Failure | None:
        with self._lock:
            for f in self._failures:
                if f.method in (method, "*") and f.pattern.search(path):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self._failures.remove(f)
                    return f
        return None

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               content_type: str) -> tuple[int, str, bytes]:
        """Return (status, content type, body) for one request."""
        failure = self._injected(method, path)
        if failure is not None:
            if failure.delay and self._stopping.wait(failure.delay):
                return 503, "application/json", b"{}"
            if failure.body is not None:
                raw = failure.body.encode() if isinstance(failure.body, str) else failure.body
                return failure.status or 200, "application/json", raw
            if failure.status and failure.status >= 300:
                err = ApiError(failure.status, _REASONS.get(failure.status, "Unknown"),
                               failure.message or self._default_message(failure.status, method, path, query))
                return err.code, "application/json", json.dumps(err.status()).encode()
        try:
            result = self._dispatch(method, path, query, body, content_type)
        except ApiError as err:
            return err.code, "application/json", json.dumps(err.status()).encode()
        if self.controllers is not None and method != "GET" and query.get("dryRun") != "All":
            route = _parse_path(path)
            if route and route.res and route.name:
                self.controllers.after_write(method, route.res.kind, route.namespace, route.name,
                                             result if isinstance(result, dict) else None)
        if isinstance(result, str):
            return 200, "text/plain", result.encode()
        return 200, "application/json", json.dumps(result).encode()

    def _default_message(self, status: int, method: str, path: str, query: dict[str, str]) -> str:
        route = _parse_path(path)
        if status == 403 and route and route.res:
            res = route.res
            verb = _VERBS.get(method, method.lower())
            if method == "GET" and not route.name:
                verb = "watch" if query.get("watch") == "true" else "list"
            resource = f"{res.plural}/{route.sub}" if route.sub else res.plural
            subject = f'{res.qualified} "{route.name}"' if route.name else res.qualified
            where = f' in the namespace "{route.namespace}"' if route.namespace else " at the cluster scope"
            return (f'{subject} is forbidden: User "{SERVICE_ACCOUNT}" cannot {verb} resource "{resource}" '
                    f'in API group "{res.group}"{where}')
        if status == 404 and route and route.res and route.name:
            return not_found(route.res, route.name).message
        if status == 409 and route and route.res and route.name:
            return (f'Operation cannot be fulfilled on {route.res.qualified} "{route.name}": the object has been '
                    "modified; please apply your changes to the latest version and try again")
        return {401: "Unauthorized", 429: "Too many requests, please try again later.",
                500: "Internal error occurred: etcdserver: request timed out",
                503: "the server is currently unable to handle the request",
                504: "Timeout: request did not complete within the allowed duration"}.get(status, f"HTTP {status}")

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any, content_type: str) -> Any:
        if path == "/version":
            return {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "platform": "linux/amd64"}
        route = _parse_path(path)
        if route is None or route.res is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        res, ns, name, sub = route.res, route.namespace, route.name, route.sub
        if res.namespaced is False and ns is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = query.get("dryRun") == "All"
        if sub == "log" and res.plural == "pods" and method == "GET":
            return self._log(ns or "", name or "", query)
        if sub == "scale":
            return self._scale(method, res, ns, name or "", body, content_type, dry_run)
        if sub not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and name:
            return self.store.get(res, ns, name)
        if method == "GET":
            items = self.store.list(res, ns, query.get("labelSelector"), query.get("fieldSelector"))
            for item in items:
                item.pop("apiVersion", None)
                item.pop("kind", None)
            return {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                    "metadata": {"resourceVersion": str(self.store.count())}, "items": items}
        if method == "POST" and not name:
            return self.store.create(res, ns, body, dry_run)
        if method == "PUT" and name:
            return self.store.replace(res, ns, name, body, dry_run)
        if method == "PATCH" and name:
            return self.store.patch(res, ns, name, content_type, body, dry_run)
        if method == "DELETE" and name:
            return self.store.delete(res, ns, name, dry_run)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _scale(self, method: str, res: Resource, ns: str | None, name: str, body: Any, content_type: str,
               dry_run: bool) -> dict[str, Any]:
        if res.kind not in ("Deployment", "ReplicaSet", "StatefulSet"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        obj = self.store.get(res, ns, name)
        scale = _scale_of(obj)
        if method == "GET":
            return scale
        if method == "PUT":
            new_scale = body
        elif method == "PATCH":
            try:
                new_scale = apply_patch(content_type, scale, body)
            except PatchError as exc:
                raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: {exc}') from None
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        replicas = ((new_scale or {}).get("spec") or {}).get("replicas") if isinstance(new_scale, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                           f"{replicas!r}: must be greater than or equal to 0")
        updated = self.store.patch(res, ns, name, "application/merge-patch+json", {"spec": {"replicas": replicas}},
                                   dry_run)
        return _scale_of(updated)

    def _log(self, namespace: str, pod_name: str, query: dict[str, str]) -> str:
        pod = self.store.get(resource_for_path("", "v1", "pods"), namespace, pod_name)
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        init_names = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(names) != 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {pod_name}, "
                               f"choose one of: [{' '.join(names)}]"
                               + (f" or one of the init containers: [{' '.join(init_names)}]" if init_names else ""))
            container = names[0]
        elif container not in names + init_names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {pod_name}")
        previous = query.get("previous") == "true"
        text = self._find_log(namespace, pod_name, container, names[0] if names else None, previous)
        if text is None and previous:
            raise ApiError(400, "BadRequest",
                           f'previous terminated container "{container}" in pod "{pod_name}" not found')
        return _filter_log(text or "", query)

    def _find_log(self, namespace: str, pod: str, container: str, first: str | None, previous: bool) -> str | None:
        containers = [container] + ([None] if container == first else [])
        for ns in (namespace, None):
            for c in containers:
                text = self.logs.get((ns, pod, c, previous))
                if text is not None:
                    return text
        return None


def _filter_log(text: str, query: dict[str, str]) -> str:
    lines = text.splitlines(keepends=True)
    if since := query.get("sinceSeconds"):
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=int(since))
        lines = [ln for ln in lines if (ts := _line_time(ln)) is None or ts >= cutoff]
    if (tail := query.get("tailLines")) is not None:
        n = int(tail)
        lines = lines[-n:] if n > 0 else []
    out = "".join(lines)
    if limit := query.get("limitBytes"):
        out = out.encode()[: int(limit)].decode(errors="ignore")
    return out


def _line_time(line: str) -> datetime | None:
    m = _TS_PREFIX.match(line)
    if not m:
        return None
    try:
        return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    except ValueError:
        return None


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": label_selector_string((obj.get("spec") or {}).get("selector"))}}


def _parse_path(path: str) -> _Route | None:
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    res = resource_for_path(group, version, rest[0])
    return _Route(res, namespace, rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeAPI
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a kept-alive connection waits for the
    # client's delayed ACK (~40 ms) before the body, on every request after the first.
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        self.fake._record(self.command, parts.path, query, body, content_type)
        if raw and isinstance(body, str) and self.command in ("PATCH", "PUT", "POST"):
            err = ApiError(400, "BadRequest", "the body of the request was in an unknown format")
            status, ctype, payload = err.code, "application/json", json.dumps(err.status()).encode()
        else:
            status, ctype, payload = self.fake.handle(self.command, parts.path, query, body, content_type)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
