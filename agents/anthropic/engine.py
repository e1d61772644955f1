"""Diagnosis by Claude through the Messages API: the Anthropic adapter of the shared tool loop
(agents/llm/loop.py). Only the message and tool formats and prompt caching live here.

Caching: the static system prompt, the tool definitions and the conversation up to its newest
block each carry a breakpoint (three of the API's four), so every turn reads the previous turn's
prefix back at a tenth of the input price.
"""
from __future__ import annotations

from typing import Any

from anthropic import AsyncAnthropic
from anthropic.types import Message

from agents.anthropic import retry
from agents.llm import DEFAULT_MODEL
from agents.llm.conversation import Call, Msg, Reply
from agents.llm.loop import ClientAdapter, Request, ToolLoopEngine
from agents.llm.retry import ApiFailure
from agents.trace import Usage

EPHEMERAL = {"type": "ephemeral"}
STOPS = {"tool_use": "tool_use", "end_turn": "end", "stop_sequence": "end", "max_tokens": "max_tokens",
         "model_context_window_exceeded": "max_tokens", "refusal": "refusal", "pause_turn": "pause"}


class AnthropicAdapter(ClientAdapter):
    api = "Anthropic"

    def body(self, request: Request) -> dict[str, Any]:
        tools = [dict(t) for t in request.tools]
        tools[-1]["cache_control"] = EPHEMERAL  # the last tool's breakpoint caches all of them
        messages = [_render(m) for m in request.messages]
        messages[-1]["content"][-1]["cache_control"] = EPHEMERAL
        return dict(model=request.model, max_tokens=request.max_tokens,
                    system=[{"type": "text", "text": request.system, "cache_control": EPHEMERAL},
                            {"type": "text", "text": request.context}],
                    tools=tools, messages=messages,
                    tool_choice={"type": "tool", "name": request.final_tool} if request.forced
                    else {"type": "auto"})

    async def send(self, body: dict[str, Any], timeout: float) -> Reply:
        response: Message = await self.client.messages.create(**body, timeout=timeout)
        text = "\n".join(b.text for b in response.content if b.type == "text" and b.text.strip())
        calls = [Call(b.id, b.name, b.input) for b in response.content if b.type == "tool_use"]
        u = response.usage
        usage = Usage(u.input_tokens, u.output_tokens, u.cache_read_input_tokens or 0,
                      u.cache_creation_input_tokens or 0)
        stop = response.stop_reason or "end_turn"
        return Reply(text, calls, STOPS.get(stop, "end"), usage, stop)

    def classify(self, exc: Exception) -> ApiFailure | None:
        return retry.classify(exc)


def _render(m: Msg) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if m.role == "assistant":
        if m.text.strip():
            content.append({"type": "text", "text": m.text})
        content += [{"type": "tool_use", "id": c.id, "name": c.name,
                     "input": c.args if isinstance(c.args, dict) else {}} for c in m.calls]
        # The API refuses an empty assistant turn in the history.
        return {"role": "assistant", "content": content or [{"type": "text", "text": "(no output)"}]}
    for r in m.results:
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": r.call_id, "content": r.content}
        if r.is_error:
            block["is_error"] = True
        content.append(block)
    if m.text or not content:
        content.append({"type": "text", "text": m.text or "(no output)"})
    return {"role": "user", "content": content}


class AnthropicEngine(ToolLoopEngine):
    name = "anthropic"

    def __init__(self, api_key: str, model: str = DEFAULT_MODEL, *, base_url: str | None = None,
                 client: AsyncAnthropic | None = None, **limits: Any):
        # Our RetryPolicy is the only retry layer: the SDK's own is switched off.
        made = client is None
        client = (AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0) if made
                  else client.with_options(max_retries=0))
        super().__init__(AnthropicAdapter(client, made), model, **limits)
        self.client = client
