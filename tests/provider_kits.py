"""One kit per model provider, so the same loop tests run against the Anthropic and the OpenAI fakes.

A kit builds the provider's script items (tool calls, submit, text, a cut answer, a refusal), reads
tool results back out of a recorded request, and builds an engine or session settings on its fake.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from agents.anthropic import AnthropicEngine
from agents.openai import OpenAIEngine
from agents.session import EngineSettings
from tests import fake_anthropic as fa
from tests import fake_openai as fo


@dataclass(frozen=True)
class Kit:
    name: str
    fake: type
    tool_use: Callable[..., dict]
    submit: Callable[..., dict]
    text: Callable[..., dict]
    overloaded: Callable[[], tuple]
    model: str

    def engine(self, fake: Any, **kw: Any) -> Any:
        kw.setdefault("retry_base_delay", 0.001)
        if self.name == "anthropic":
            return AnthropicEngine(api_key="sk-ant-api03-test", base_url=fake.base_url, model=self.model, **kw)
        return OpenAIEngine(self.model, api_key="sk-proj-test", base_url=fake.base_url, **kw)

    def settings(self, fake: Any, **kw: Any) -> EngineSettings:
        return EngineSettings(engine=self.name, provider=self.name, api_key="sk-test-key", base_url=fake.base_url,
                              model=self.model, **kw)

    def ids(self, item: dict) -> list[str]:
        if self.name == "anthropic":
            return [b["id"] for b in item["content"] if b["type"] == "tool_use"]
        return [c["id"] for c in item["message"]["tool_calls"]]

    def results(self, req: Any) -> dict[str, tuple[str, bool]]:
        """tool call id -> (content, is_error) of the results a request carries."""
        if self.name == "anthropic":
            return {k: (b["content"], bool(b.get("is_error"))) for k, b in req.tool_results().items()}
        return {k: (c.removeprefix("ERROR: "), c.startswith("ERROR: ")) for k, c in req.tool_results().items()}

    def forced(self, req: Any) -> bool:
        choice = req.body.get("tool_choice")
        if self.name == "anthropic":
            return choice == {"type": "tool", "name": "submit_diagnosis"}
        return choice == {"type": "function", "function": {"name": "submit_diagnosis"}}

    def tool_names(self, req: Any) -> list[str]:
        tools = req.body["tools"]
        return [t["name"] for t in tools] if self.name == "anthropic" else [t["function"]["name"] for t in tools]

    def malformed(self, name: str) -> dict:
        """A call whose arguments break the tool's schema: not even JSON where the API allows it."""
        if self.name == "anthropic":
            return fa.tool_use((name, {"q": 42}))  # the Messages API always sends an object
        return fo.tool_calls((name, '{"q": "shop", '))

    def cut(self, *calls: tuple[str, Any]) -> dict:
        if self.name == "anthropic":
            item = fa.tool_use(*calls)
            item["stop_reason"] = "max_tokens"
            return item
        return fo.tool_calls(*((n, json.dumps(a)[:-3]) for n, a in calls), finish_reason="length")

    def refusal(self) -> dict:
        return fa.text("I can't help with that.", stop_reason="refusal") if self.name == "anthropic" else fo.refusal()

    def input_tokens(self, req: Any) -> int:
        """The request's input size as the fake counts it (~4 chars a token)."""
        b = req.body
        if self.name == "anthropic":
            return fa._tokens(fa._units(b))
        return fo.tokens([b.get("tools") or [], b["messages"]])


ANTHROPIC = Kit("anthropic", fa.FakeAnthropic, fa.tool_use, fa.submit, fa.text, fa.overloaded, "claude-sonnet-4-5")
OPENAI = Kit("openai", fo.FakeOpenAI, fo.tool_calls, fo.submit, fo.text, fo.overloaded, "gpt-4o-2024-08-06")
KITS = [pytest.param(ANTHROPIC, id="anthropic"), pytest.param(OPENAI, id="openai")]
