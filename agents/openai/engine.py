"""Diagnosis through any OpenAI-compatible Chat Completions endpoint (`openai` SDK, `base_url`):
the second adapter of the shared tool loop (agents/llm/loop.py).

Only formats live here. Tool results become `tool` messages (the API has no error flag: an error
says so in its text), arguments travel as the JSON text the model wrote and are parsed here, and
finish reasons map onto the loop's stops: `length` is a cut answer, `content_filter` or a
`refusal` a refusal. Caching is the server's own prefix caching (OpenAI, vLLM with
--enable-prefix-caching): one system message whose static part comes first keeps the prefix
stable; cached tokens are read from `prompt_tokens_details`. A server that reports no usage
(some local servers) gets it estimated from sizes, so budgets still hold.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

import openai
from openai import AsyncOpenAI

from agents.llm.conversation import Call, Msg, Reply
from agents.llm.errors import EngineUnavailable
from agents.llm.loop import ClientAdapter, Request, ToolLoopEngine
from agents.llm.retry import ApiFailure, classify_sdk
from agents.trace import Usage

STOPS = {"tool_calls": "tool_use", "function_call": "tool_use", "stop": "end", "length": "max_tokens",
         "content_filter": "refusal"}
# OpenAI's reasoning models refuse `max_tokens` and take `max_completion_tokens`; vLLM, Ollama and
# LM Studio read `max_tokens` (older ones know nothing else), so only these families get the new name.
REASONING_FAMILIES = ("o1", "o3", "o4", "gpt-5")
NO_KEY = "unused"  # vLLM and Ollama need no key, the SDK insists on one
CHARS_PER_TOKEN = 4


class OpenAIAdapter(ClientAdapter):
    api = "OpenAI-compatible"

    def body(self, request: Request) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": f"{request.system}\n\n{request.context}"}]
        for m in request.messages:
            messages += _render(m)
        tools = [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                                   "parameters": t["input_schema"]}} for t in request.tools]
        return dict(model=request.model, **{_max_tokens_key(request.model): request.max_tokens},
                    messages=messages, tools=tools,
                    tool_choice={"type": "function", "function": {"name": request.final_tool}} if request.forced
                    else "auto")

    async def send(self, body: dict[str, Any], timeout: float) -> Reply:
        response = await self.client.chat.completions.create(**body, timeout=timeout)
        if not response.choices:
            raise EngineUnavailable(f"{self.api} API answered without choices")
        choice = response.choices[0]
        msg = choice.message
        calls = [_call(tc, i) for i, tc in enumerate(msg.tool_calls or [])]
        text = msg.content or ""
        finish = choice.finish_reason or "stop"
        stop = STOPS.get(finish, "end")
        refusal = getattr(msg, "refusal", None)
        if refusal:
            stop, text = "refusal", refusal
        return Reply(text, calls, stop, _usage(response.usage, body, text, calls), finish)

    def classify(self, exc: Exception) -> ApiFailure | None:
        return classify_sdk(exc, openai, openai.OpenAIError, _kind)


def _kind(exc: Any) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    return str(body.get("type") or body.get("code") or "error")


def _render(m: Msg) -> list[dict[str, Any]]:
    if m.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": m.text or None}
        if m.calls:
            out["tool_calls"] = [{"id": c.id, "type": "function", "function": {
                "name": c.name, "arguments": c.raw if c.raw is not None else json.dumps(c.args)}} for c in m.calls]
        elif not m.text:
            out["content"] = "(no output)"
        return [out]
    out_msgs = [{"role": "tool", "tool_call_id": r.call_id,
                 "content": f"ERROR: {r.content}" if r.is_error else r.content} for r in m.results]
    if m.text or not out_msgs:
        out_msgs.append({"role": "user", "content": m.text or "(no output)"})
    return out_msgs


def _call(tc: Any, i: int) -> Call:
    """A tool call with its arguments parsed; a call a server sent without an id gets one."""
    fn = tc.function
    raw = fn.arguments or ""
    call_id = tc.id or f"call_{i}_{secrets.token_hex(6)}"
    try:
        args = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        return Call(call_id, fn.name, None, raw, f"{exc}; got {raw[:200]!r}")
    return Call(call_id, fn.name, args, raw)


def _usage(u: Any, body: dict[str, Any], text: str, calls: list[Call]) -> Usage:
    if u is None:
        sent = len(json.dumps(body["messages"], ensure_ascii=False)) + len(json.dumps(body["tools"]))
        made = len(text) + sum(len(c.raw or "") + len(c.name) for c in calls)
        return Usage(sent // CHARS_PER_TOKEN, max(1, made // CHARS_PER_TOKEN))
    details = getattr(u, "prompt_tokens_details", None)
    read = (getattr(details, "cached_tokens", None) or 0) if details else 0
    write = (getattr(details, "cache_write_tokens", None) or 0) if details else 0
    return Usage(max(0, u.prompt_tokens - read - write), u.completion_tokens or 0, read, write)


class OpenAIEngine(ToolLoopEngine):
    name = "openai"

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 client: AsyncOpenAI | None = None, **limits: Any):
        # Our RetryPolicy is the only retry layer: the SDK's own is switched off.
        made = client is None
        client = (AsyncOpenAI(api_key=api_key or NO_KEY, base_url=base_url, max_retries=0) if made
                  else client.with_options(max_retries=0))
        super().__init__(OpenAIAdapter(client, made), model, **limits)
        self.client = client


def _max_tokens_key(model: str) -> str:
    name = model.rsplit("/", 1)[-1].lower()  # OpenRouter names carry a vendor prefix: openai/o3-mini
    return "max_completion_tokens" if name.startswith(REASONING_FAMILIES) else "max_tokens"
