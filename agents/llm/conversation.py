"""The conversation of a session in a provider-neutral shape, and its compaction.

The loop keeps the history as Msg objects; an adapter renders them into its API's format on every
request. So compaction is done once, here, for every provider: old tool results shrink to their
stub (status, summary, result_id for read_result), then the oldest exchanges fold into one line
each in the first user message. Pairs of call and result always stay together, as both APIs
require.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agents.trace import Usage

COMPACT_HEADER = "Earlier steps, compacted to save context (read_result(result_id) reads any of them again):"


@dataclass
class Call:
    id: str
    name: str
    args: Any  # a dict when well-formed
    raw: str | None = None  # the arguments as the model wrote them (OpenAI), echoed back verbatim
    problem: str | None = None  # why the arguments could not even be parsed


@dataclass
class Result:
    call_id: str
    name: str
    content: str
    is_error: bool = False
    stub: str = ""  # what the content shrinks to when the history is compacted
    compacted: bool = False


@dataclass
class Msg:
    role: str  # "user" or "assistant"
    text: str = ""
    calls: list[Call] = field(default_factory=list)  # assistant: tool calls
    results: list[Result] = field(default_factory=list)  # user: answers to the previous assistant's calls


@dataclass
class Reply:
    """One model response, as the loop sees it whatever the provider."""

    text: str
    calls: list[Call]
    stop: str  # "tool_use", "end", "max_tokens", "refusal" or "pause"
    usage: Usage
    detail: str = ""  # the provider's own stop reason, for notes


def compact_once(messages: list[Msg]) -> bool:
    """One step of compaction, the cheapest first; False when nothing is left to compact. The first
    message (the trigger) and the newest exchange are kept whole as long as anything else can go."""
    for m in messages[1:-1]:
        live = [r for r in m.results if not r.compacted and r.stub]
        if live:
            for r in live:
                r.content, r.compacted = r.stub, True
            return True
    if len(messages) > 3 and messages[1].role == "assistant" and messages[2].role == "user":
        _fold(messages, messages.pop(1), messages.pop(1))
        return True
    last = messages[-1]
    live = [r for r in last.results if not r.compacted and r.stub]
    for r in live:
        r.content, r.compacted = r.stub, True
    return bool(live)


def _fold(messages: list[Msg], asked: Msg, answered: Msg) -> None:
    by_id = {r.call_id: r for r in answered.results}
    lines = []
    for c in asked.calls:
        r = by_id.get(c.id)
        args = json.dumps(c.args, sort_keys=True, default=str)[:200] if isinstance(c.args, dict) else "(malformed)"
        lines.append(f"- {c.name}({args}) -> {(r.stub or r.content)[:300] if r else 'no result'}")
    if answered.text:
        lines.append(f"- note: {answered.text[:300]}")
    first = messages[0]
    if COMPACT_HEADER not in first.text:
        first.text += "\n\n" + COMPACT_HEADER
    first.text += "\n" + "\n".join(lines or ["- (an empty turn)"])
