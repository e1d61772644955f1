"""A loopback fake OpenSearch holding a fixed set of log documents.

Used by scenario bundles and the console demo so the real opensearch-py client and
our tools run unchanged: it speaks the real REST paths (`GET /`, `HEAD /{index}`,
`/{index}/_search`, `/{index}/_count`) and returns real response shapes. The query
DSL is evaluated by fake_dsl; unsupported clauses get a real-shaped 400.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, unquote, urlsplit

from tools.opensearch.fake_dsl import (DslError, Evaluator, Mapping, filter_source, sort_docs,
                                       sort_values)

MAX_RESULT_WINDOW = 10_000
_SEARCH_KEYS = {"query", "size", "from", "sort", "_source", "track_total_hits", "aggs", "aggregations", "timeout"}
_PARAMS = {"size", "from", "track_total_hits", "ignore_unavailable", "allow_no_indices", "pretty", "timeout",
           "error_trace", "human"}


@dataclass
class StoredDoc:
    index: str
    id: str
    source: dict[str, Any]


@dataclass
class _Fault:
    status: int
    body: bytes
    content_type: str
    remaining: int | None


def _error(status: int, type_: str, reason: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    cause = {"type": type_, "reason": reason, **extra}
    return status, {"error": {"root_cause": [cause], **cause}, "status": status}


class FakeOpenSearch:
    """In-memory documents behind an HTTP server on 127.0.0.1 (port 0 = any free port)."""

    def __init__(self, docs: Iterable[dict[str, Any]] = (), index: str = "logs-scenario", *,
                 text_fields: Iterable[str] = ("log", "message"), host: str = "127.0.0.1", port: int = 0,
                 cluster_name: str = "fake-opensearch", version: str = "2.11.1"):
        self.default_index = index
        self.evaluator = Evaluator(Mapping(frozenset(text_fields)))
        self.docs: list[StoredDoc] = []
        self.host, self.port = host, port
        self.cluster_name, self.version = cluster_name, version
        # Recent (method, path with query, parsed body), bounded for long-running demos.
        self.requests: deque[tuple[str, str, Any]] = deque(maxlen=1000)
        self.delay = 0.0  # seconds added to each response, to exercise client timeouts
        self._fault: _Fault | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add(docs)

    # ---- documents -----------------------------------------------------------------------------
    def add(self, docs: Iterable[dict[str, Any]], index: str | None = None) -> None:
        """Add raw sources, or hits-shaped records ({_index, _id, _source}) as exported from OpenSearch."""
        with self._lock:
            for doc in docs:
                if "_source" in doc and isinstance(doc["_source"], dict):
                    idx, source, doc_id = doc.get("_index") or index or self.default_index, doc["_source"], doc.get("_id")
                else:
                    idx, source, doc_id = index or self.default_index, doc, None
                if not doc_id:
                    digest = hashlib.sha1(json.dumps(source, sort_keys=True, default=str).encode())
                    digest.update(str(len(self.docs)).encode())
                    doc_id = digest.hexdigest()[:20]
                self.docs.append(StoredDoc(idx, str(doc_id), source))

    @classmethod
    def from_jsonl(cls, path: str | Path, index: str = "logs-scenario", **kwargs: Any) -> "FakeOpenSearch":
        docs = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        docs.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{n}: not JSON: {exc}") from None
        return cls(docs, index, **kwargs)

    def indices(self) -> list[str]:
        return sorted({d.index for d in self.docs} | {self.default_index})

    # ---- fault injection -----------------------------------------------------------------------
    def fail_with(self, status: int, error_type: str = "status_exception", reason: str = "injected failure",
                  *, raw: str | bytes | None = None, times: int | None = None) -> None:
        """Answer every request (or the next `times`) with this error; raw sends a non-JSON body."""
        if raw is not None:
            body, ctype = (raw.encode() if isinstance(raw, str) else raw), "text/html; charset=UTF-8"
        else:
            body = json.dumps(_error(status, error_type, reason)[1]).encode()
            ctype = "application/json; charset=UTF-8"
        self._fault = _Fault(status, body, ctype, times)

    def clear_fault(self) -> None:
        self._fault = None

    def take_fault(self) -> _Fault | None:
        with self._lock:
            f = self._fault
            if f is None:
                return None
            if f.remaining is not None:
                f.remaining -= 1
                if f.remaining <= 0:
                    self._fault = None
            return f

    # ---- API (usable without HTTP) -------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "name": "fake-node-1", "cluster_name": self.cluster_name, "cluster_uuid": "fake-cluster-uuid",
            "version": {"distribution": "opensearch", "number": self.version, "build_type": "fake",
                        "lucene_version": "9.7.0", "minimum_wire_compatibility_version": "7.10.0",
                        "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "The OpenSearch Project: https://opensearch.org/",
        }

    def resolve(self, expression: str, ignore_unavailable: bool = False) -> tuple[set[str], str | None]:
        """Index names an expression selects, or the concrete name that does not exist.

        Like OpenSearch: a wildcard matching nothing is an empty result, a missing concrete name is a 404.
        """
        known = self.indices()
        chosen: set[str] = set()
        for part in (p.strip() for p in expression.split(",") if p.strip()):
            if part in ("_all", "*"):
                chosen.update(known)
            elif "*" in part or "?" in part:
                chosen.update(i for i in known if fnmatch.fnmatchcase(i, part))
            elif part in known:
                chosen.add(part)
            elif not ignore_unavailable:
                return set(), part
        return chosen, None

    def search(self, expression: str, body: dict[str, Any] | None, params: dict[str, str] | None = None,
               count_only: bool = False) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        params = params or {}
        body = body or {}
        if not isinstance(body, dict):
            return _error(400, "parsing_exception", "request body must be a JSON object")
        unknown = [k for k in body if k not in ({"query"} if count_only else _SEARCH_KEYS)]
        if unknown:
            return _error(400, "parsing_exception", f"Unknown key for a START_OBJECT in [{unknown[0]}].")
        names, missing = self.resolve(expression, params.get("ignore_unavailable") == "true")
        if missing:
            return _error(404, "index_not_found_exception", f"no such index [{missing}]", index=missing,
                          **{"resource.type": "index_or_alias", "resource.id": missing, "index_uuid": "_na_"})
        try:
            match = self.evaluator.compile(body.get("query"))
            with self._lock:
                candidates = [d for d in self.docs if d.index in names]
            matched = [d for d in candidates if match(d.source)]
            shards = {"total": max(1, len(names)), "successful": max(1, len(names)), "skipped": 0, "failed": 0}
            if count_only:
                return 200, {"count": len(matched), "_shards": shards}
            return 200, self._search_response(body, params, matched, shards, started)
        except DslError as exc:
            return exc.status, exc.body()

    def _search_response(self, body: dict[str, Any], params: dict[str, str], matched: list[StoredDoc],
                         shards: dict[str, int], started: float) -> dict[str, Any]:
        size = int(params.get("size", body.get("size", 10)))
        offset = int(params.get("from", body.get("from", 0)))
        if size < 0 or offset < 0:
            raise DslError("[size] and [from] must be non-negative", "illegal_argument_exception")
        if size + offset > MAX_RESULT_WINDOW:
            raise DslError(f"Result window is too large, from + size must be less than or equal to: "
                           f"[{MAX_RESULT_WINDOW}] but was [{size + offset}].", "illegal_argument_exception")
        order, sort_fields = sort_docs([d.source for d in matched], body.get("sort"), self.evaluator.mapping)
        page = [matched[i] for i in order[offset: offset + size]]
        hits = []
        for d in page:
            hit: dict[str, Any] = {"_index": d.index, "_id": d.id, "_score": None if sort_fields else 0.0}
            src = filter_source(d.source, body.get("_source"))
            if src is not None:
                hit["_source"] = src
            if sort_fields:
                hit["sort"] = sort_values(d.source, sort_fields)
            hits.append(hit)
        hits_obj: dict[str, Any] = {"max_score": None if sort_fields or not hits else 0.0, "hits": hits}
        track = params.get("track_total_hits", body.get("track_total_hits", MAX_RESULT_WINDOW))
        if str(track).lower() != "false":
            limit = None if str(track).lower() == "true" else int(track)
            if limit is not None and len(matched) > limit:
                hits_obj["total"] = {"value": limit, "relation": "gte"}
            else:
                hits_obj["total"] = {"value": len(matched), "relation": "eq"}
            hits_obj = {"total": hits_obj.pop("total"), **hits_obj}
        resp: dict[str, Any] = {"took": 0, "timed_out": False, "_shards": shards, "hits": hits_obj}
        aggs = body.get("aggs", body.get("aggregations"))
        if aggs:
            resp["aggregations"] = self.evaluator.aggregate(aggs, [d.source for d in matched])
        resp["took"] = int((time.monotonic() - started) * 1000)
        return resp

    def handle(self, method: str, raw_path: str, raw_body: bytes) -> tuple[int, Any]:
        """Route one HTTP request to (status, JSON-able body)."""
        url = urlsplit(raw_path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [unquote(p) for p in url.path.split("/") if p]
        body: Any = None
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return _error(400, "parse_exception", f"Failed to parse request body: {exc}")
        self.requests.append((method, raw_path, body))
        bad = [k for k in params if k not in _PARAMS]
        if bad:
            return _error(400, "illegal_argument_exception",
                          f"request [{url.path}] contains unrecognized parameter: [{bad[0]}]")
        if not parts and method in ("GET", "HEAD"):
            return 200, self.info()
        if parts and parts[-1] in ("_search", "_count") and len(parts) <= 2 and method in ("GET", "POST"):
            expression = parts[0] if len(parts) == 2 else "_all"
            return self.search(expression, body, params, count_only=parts[-1] == "_count")
        if len(parts) == 1 and not parts[0].startswith("_") and method in ("GET", "HEAD"):
            names, missing = self.resolve(parts[0])
            if missing or not names:
                return _error(404, "index_not_found_exception", f"no such index [{missing or parts[0]}]",
                              index=missing or parts[0])
            return 200, {n: {"aliases": {}, "mappings": {}, "settings": {}} for n in sorted(names)}
        return 400, {"error": f"no handler found for uri [{url.path}] and method [{method}]"}

    # ---- server --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenSearch not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> str:
        if self._server is None:
            self._server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
            self._server.daemon_threads = True
            # A short poll interval keeps stop() fast (serve_forever checks for shutdown between polls).
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-opensearch", daemon=True)
            self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> "FakeOpenSearch":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _handler_for(fake: FakeOpenSearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-opensearch"
        disable_nagle_algorithm = True   # as the Kubernetes fake: no delayed-ACK stall per kept-alive request

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if fake.delay:
                time.sleep(fake.delay)
            fault = fake.take_fault()
            if fault is not None:
                self._send(fault.status, fault.body, fault.content_type, method)
                return
            try:
                status, payload = fake.handle(method, self.path, raw)
            except Exception as exc:  # a fake bug must still look like a server error, not a hang
                status, payload = _error(500, "exception", f"{type(exc).__name__}: {exc}")
            self._send(status, json.dumps(payload, default=str).encode(), "application/json; charset=UTF-8",
                       method)

        def _send(self, status: int, body: bytes, ctype: str, method: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a JSONL file of log documents: python -m tools.opensearch.fake_api logs.jsonl --port 9200"""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("jsonl")
    ap.add_argument("--index", default="logs-scenario")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    fake = FakeOpenSearch.from_jsonl(args.jsonl, index=args.index, port=args.port)
    print(f"fake OpenSearch with {len(fake.docs)} documents at {fake.start()}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
