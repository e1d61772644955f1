"""A loopback fake of OpenAI Chat Completions (`POST /v1/chat/completions`), driven by a script.

The real `openai` SDK talks to it through `base_url` (http://127.0.0.1:PORT/v1), as it would to
vLLM, Ollama, LM Studio or Azure's v1 endpoint. Each request consumes the next script item: a
reply dict from the helpers below (its message, finish_reason and optional usage), an error tuple
`(status, body, headers)`, or a callable `(request_json) -> either of those`. Every request is
recorded for assertions.

Like the real API it rejects malformed conversations with a 400 `invalid_request_error` (an
assistant's tool_calls not answered by `tool` messages right after, a tool message answering
nothing, a forced function that is not offered, arguments that are not a string), and it
simulates automatic prefix caching: a request whose leading messages were all sent before reads
them from the cache (`prompt_tokens_details.cached_tokens`, in 128-token steps from 1024 up).
`usage=False` answers without usage, like some local servers.
"""
from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any, Iterable

from aiohttp import web

from tests.loopback_api import LoopbackAPI, Reply, ScriptItem
from tests.loopback_api import Recorded as BaseRecorded


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


# --- script helpers --------------------------------------------------------------------------

def tool_calls(*calls: tuple[str, Any], text: str | None = None, finish_reason: str = "tool_calls",
               usage: dict | None = None) -> dict:
    """An assistant turn calling tools; arguments given as a str are sent verbatim (malformed ones)."""
    message = {"role": "assistant", "content": text, "tool_calls": [
        {"id": _id("call_"), "type": "function",
         "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}} for n, a in calls]}
    return {"message": message, "finish_reason": finish_reason, **({"usage": usage} if usage else {})}


def text(body: str, finish_reason: str = "stop", usage: dict | None = None) -> dict:
    return {"message": {"role": "assistant", "content": body}, "finish_reason": finish_reason,
            **({"usage": usage} if usage else {})}


def submit(diagnosis: dict, usage: dict | None = None) -> dict:
    return tool_calls(("submit_diagnosis", diagnosis), usage=usage)


def refusal(reason: str = "I can't help with that.") -> dict:
    return {"message": {"role": "assistant", "content": None, "refusal": reason}, "finish_reason": "stop"}


def api_error(status: int, type_: str, message: str, headers: dict | None = None) -> Reply:
    return status, {"error": {"message": message, "type": type_, "param": None, "code": None}}, dict(headers or {})


def overloaded() -> Reply:
    return api_error(503, "server_error", "The server is overloaded or not ready yet.")


def rate_limited(retry_after: float | None = None) -> Reply:
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    return api_error(429, "rate_limit_error", "Rate limit reached for requests", headers)


def server_error() -> Reply:
    return api_error(500, "server_error", "The server had an error while processing your request.")


# --- recording -------------------------------------------------------------------------------

class Recorded(BaseRecorded):
    def tool_results(self) -> dict[str, str]:
        """tool_call_id -> content of the tool messages that end the conversation."""
        out: dict[str, str] = {}
        for m in reversed(self.body["messages"]):
            if m["role"] == "user" and not out:
                continue  # a nudge after the results
            if m["role"] != "tool":
                break
            out[m["tool_call_id"]] = m["content"]
        return out


def tokens(obj: Any) -> int:
    return math.ceil(len(json.dumps(obj, sort_keys=True, ensure_ascii=False)) / 4) if obj else 0


# --- request validation (the invariants the real API enforces) -----------------------------

class Invalid(Exception):
    pass


def validate(body: dict) -> None:
    if not isinstance(body.get("model"), str):
        raise Invalid("you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("'messages' must contain at least one message")
    names = set()
    for i, t in enumerate(body.get("tools") or []):
        fn = t.get("function") or {}
        if t.get("type") != "function" or not fn.get("name") or (fn.get("parameters") or {}).get("type") != "object":
            raise Invalid(f"Invalid 'tools[{i}]': a function with a name and object parameters is required")
        names.add(fn["name"])
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name") not in names:
        raise Invalid(f"Invalid 'tool_choice': function {choice.get('function')} is not among the tools")
    pending: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise Invalid(f"Invalid 'messages[{i}].role': {role!r}")
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                raise Invalid(f"Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                              f"message with 'tool_calls' (messages[{i}]).")
            pending.discard(m["tool_call_id"])
            if not isinstance(m.get("content"), str):
                raise Invalid(f"Invalid 'messages[{i}].content': a string is required")
            continue
        if pending:
            raise Invalid("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                          f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                          f"{', '.join(sorted(pending))}")
        if role == "assistant":
            calls = m.get("tool_calls") or []
            if m.get("content") is None and not calls:
                raise Invalid(f"Invalid 'messages[{i}]': content is required unless tool_calls are given")
            for c in calls:
                if not isinstance((c.get("function") or {}).get("arguments"), str):
                    raise Invalid(f"Invalid 'messages[{i}].tool_calls': arguments must be a string")
            pending = {c["id"] for c in calls}
        elif not isinstance(m.get("content"), (str, list)):
            raise Invalid(f"Invalid 'messages[{i}].content': a string is required")
    if pending:
        raise Invalid("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                      f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                      f"{', '.join(sorted(pending))}")


# --- server ----------------------------------------------------------------------------------

class FakeOpenAI(LoopbackAPI):
    """`async with FakeOpenAI([...]) as fake: AsyncOpenAI(base_url=fake.base_url, ...)`."""

    path = "/v1/chat/completions"
    id_header = "x-request-id"
    record = Recorded

    def __init__(self, script: Iterable[ScriptItem] = (), default: ScriptItem | None = None, *,
                 require_key: bool = True, usage: bool = True):
        super().__init__(script, default)
        self.require_key = require_key  # False: a local server without auth (vLLM, Ollama)
        self.usage = usage
        self._seen: set[str] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def error(self, status: int, type_: str, message: str) -> Reply:
        return api_error(status, type_, message)

    def check(self, request: web.Request, body: dict) -> Reply | None:
        auth = request.headers.get("authorization", "")
        if self.require_key and not (auth.startswith("Bearer ") and len(auth) > 7):
            return api_error(401, "invalid_request_error", "You didn't provide an API key.")
        try:
            validate(body)
        except Invalid as exc:
            return api_error(400, "invalid_request_error", str(exc))
        return None

    def answer(self, body: dict, item: dict) -> dict:
        return self._completion(body, item)

    def _completion(self, body: dict, item: dict) -> dict:
        message = {"role": "assistant", "content": None, "refusal": None, **item["message"]}
        out = {"id": _id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
               "model": body["model"], "system_fingerprint": "fp_fake",
               "choices": [{"index": 0, "message": message, "finish_reason": item.get("finish_reason", "stop"),
                            "logprobs": None}]}
        if self.usage:
            usage = self._usage(body, message)
            usage.update(item.get("usage") or {})
            out["usage"] = usage
        return out

    def _usage(self, body: dict, message: dict) -> dict:
        """Sizes at ~4 chars a token; the longest prefix of messages sent before is cached."""
        prefix = [body.get("tools") or []]
        keys = []
        for m in body["messages"]:
            prefix.append(m)
            keys.append(json.dumps(prefix, sort_keys=True))
        prompt = tokens([body.get("tools") or [], body["messages"]])
        hit = next((k for k in reversed(keys) if k in self._seen), None)
        cached = tokens(json.loads(hit)) if hit else 0
        cached = cached // 128 * 128 if cached >= 1024 else 0
        self._seen.update(keys)
        completion = max(1, tokens([message.get("content"), message.get("tool_calls")]))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": min(cached, prompt)},
                "completion_tokens_details": {"reasoning_tokens": 0}}
