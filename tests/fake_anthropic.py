"""A loopback fake of the Anthropic Messages API (`POST /v1/messages`), driven by a script.

The real `anthropic` SDK talks to it through `base_url`. Each request consumes the next script
item: a message dict (missing id/model/usage are filled in the real shape), an error tuple
`(status, body, headers)`, or a callable `(request_json) -> either of those`. Every request is
recorded (headers and body) for assertions.

Like the real API it rejects malformed conversations with a 400 `invalid_request_error`
(tool_use without a matching tool_result right after, unknown tool_use_id, forced tool not
offered, more than 4 cache breakpoints), and it simulates prompt caching: every
`cache_control` breakpoint caches the prefix up to it, and a later request whose prefix matches
reads it (`cache_read_input_tokens`) instead of writing it (`cache_creation_input_tokens`).
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
from typing import Any, Iterable

from aiohttp import web

from tests.loopback_api import LoopbackAPI, Reply, ScriptItem
from tests.loopback_api import Recorded as BaseRecorded


def _id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(18).replace("-", "a").replace("_", "b")


# --- script helpers --------------------------------------------------------------------------

def tool_use(*calls: tuple[str, dict], text: str | None = None, usage: dict | None = None) -> dict:
    """An assistant turn calling tools: tool_use(("k8s_pods", {"namespace": "shop"}), ...)."""
    content: list[dict] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": _id("toolu_"), "name": n, "input": a} for n, a in calls]
    msg = {"content": content, "stop_reason": "tool_use"}
    if usage:
        msg["usage"] = usage
    return msg


def text(body: str, stop_reason: str = "end_turn", usage: dict | None = None) -> dict:
    msg = {"content": [{"type": "text", "text": body}], "stop_reason": stop_reason}
    if usage:
        msg["usage"] = usage
    return msg


def submit(diagnosis: dict, usage: dict | None = None) -> dict:
    return tool_use(("submit_diagnosis", diagnosis), usage=usage)


def api_error(status: int, type_: str, message: str, headers: dict | None = None) -> Reply:
    return status, {"type": "error", "error": {"type": type_, "message": message}}, dict(headers or {})


def overloaded() -> Reply:
    return api_error(529, "overloaded_error", "Overloaded")


def rate_limited(retry_after: float | None = None) -> Reply:
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    return api_error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", headers)


def server_error() -> Reply:
    return api_error(500, "api_error", "Internal server error")


# --- recording -------------------------------------------------------------------------------

class Recorded(BaseRecorded):
    def tool_results(self) -> dict[str, dict]:
        """tool_use_id -> tool_result block of the last user message."""
        last = self.body["messages"][-1]
        blocks = last["content"] if isinstance(last["content"], list) else []
        return {b["tool_use_id"]: b for b in blocks if b.get("type") == "tool_result"}


def _tokens(obj: Any) -> int:
    return math.ceil(len(json.dumps(obj, sort_keys=True, ensure_ascii=False)) / 4) if obj else 0


# --- request validation (the invariants the real API enforces) -----------------------------

class Invalid(Exception):
    pass


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise Invalid("content must be a non-empty string or list of blocks")
    return content


def validate(body: dict) -> None:
    if not isinstance(body.get("model"), str):
        raise Invalid("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    if messages[0].get("role") != "user":
        raise Invalid("messages: first message must use the \"user\" role")
    tools = body.get("tools") or []
    names = set()
    for i, t in enumerate(tools):
        if not t.get("name") or (t.get("input_schema") or {}).get("type") != "object":
            raise Invalid(f"tools.{i}: name and an object input_schema are required")
        names.add(t["name"])
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name") not in names:
        raise Invalid(f"tool_choice: tool {choice.get('name')!r} not found in tools")
    pending: set[str] = set()
    for i, m in enumerate(messages):
        if i and m.get("role") == messages[i - 1].get("role"):
            raise Invalid(f"messages.{i}: roles must alternate between \"user\" and \"assistant\"")
        blocks = _blocks(m.get("content"))
        if m["role"] == "assistant":
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
            continue
        answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        unexpected = [x for x in answered if x not in pending]
        if unexpected:
            raise Invalid(f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                          f"{unexpected[0]}. Each `tool_result` block must have a corresponding `tool_use` "
                          f"block in the previous message.")
        missing = pending - set(answered)
        if missing:
            raise Invalid(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                          f"after: {', '.join(sorted(missing))}. Each `tool_use` block must have a "
                          f"corresponding `tool_result` block in the next message.")
        for b in blocks:
            if b.get("type") == "tool_result" and not isinstance(b.get("content"), (str, list)):
                raise Invalid(f"messages.{i}: tool_result content must be a string or list")
        pending = set()
    breakpoints = len(_breakpoints(body))
    if breakpoints > 4:
        raise Invalid(f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}.")


def _units(body: dict) -> list[dict]:
    """The request in cache-prefix order: tools, then system, then message blocks."""
    units = [dict(t) for t in body.get("tools") or []]
    system = body.get("system")
    units += [{"type": "text", "text": system}] if isinstance(system, str) else [dict(b) for b in system or []]
    for m in body.get("messages") or []:
        units += [{"role": m["role"], **b} for b in _blocks(m["content"])]
    return units


def _breakpoints(body: dict) -> list[int]:
    return [i for i, u in enumerate(_units(body)) if u.get("cache_control")]


# --- server ----------------------------------------------------------------------------------

class FakeAnthropic(LoopbackAPI):
    """`async with FakeAnthropic([...]) as fake: AsyncAnthropic(base_url=fake.base_url, ...)`."""

    path = "/v1/messages"
    record = Recorded

    def __init__(self, script: Iterable[ScriptItem] = (), default: ScriptItem | None = None):
        super().__init__(script, default)
        self._cached: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error(self, status: int, type_: str, message: str) -> Reply:
        return api_error(status, type_, message)

    def check(self, request: web.Request, body: dict) -> Reply | None:
        if not request.headers.get("x-api-key") and not request.headers.get("authorization"):
            return api_error(401, "authentication_error", "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return api_error(400, "invalid_request_error", "anthropic-version header is required")
        try:
            validate(body)
        except Invalid as exc:
            return api_error(400, "invalid_request_error", str(exc))
        return None

    def answer(self, body: dict, item: dict) -> dict:
        return self._message(body, item)

    def _message(self, body: dict, item: dict) -> dict:
        msg = {"id": _id("msg_"), "type": "message", "role": "assistant", "model": body["model"],
               "content": item.get("content", []), "stop_reason": item.get("stop_reason", "end_turn"),
               "stop_sequence": None}
        usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0, **self._usage(body, msg["content"])}
        usage.update(item.get("usage") or {})
        msg["usage"] = usage
        return msg

    def _usage(self, body: dict, content: list) -> dict:
        """Token counts from sizes (~4 chars a token) with prefix caching: each breakpoint writes
        its prefix; a read hits the longest cached prefix ending at a block boundary up to 20
        blocks before a breakpoint, as the real API looks back."""
        units = [{k: v for k, v in u.items() if k != "cache_control"} for u in _units(body)]

        def key(end: int) -> str:
            return hashlib.sha256(json.dumps(units[:end], sort_keys=True).encode()).hexdigest()

        points = _breakpoints(body)
        longest = _tokens(units[: points[-1] + 1]) if points else 0
        read = 0
        for i in points:
            hit = next((j for j in range(i + 1, max(0, i - 19), -1) if key(j) in self._cached), None)
            if hit is not None:
                read = max(read, _tokens(units[:hit]))
        self._cached.update(key(i + 1) for i in points)
        return {"input_tokens": _tokens(units) - longest, "cache_read_input_tokens": read,
                "cache_creation_input_tokens": longest - read, "output_tokens": max(1, _tokens(content))}
