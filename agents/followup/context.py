"""What a follow-up question is answered from: the incident, its current diagnosis, the tool calls of
the diagnosis session, and the earlier questions of the thread with the evidence their tools fetched.

The stored evidence is kept whole in the database; `render` compacts it for a model's context: newest
questions first in full, older ones reduced to their summaries, then to one line, within a size bound.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from agents.diagnosis import Diagnosis
from tools.base import ToolResult
from tools.textclip import clip_middle

LINE_LIMIT = 400      # characters of one log line kept
LINES_KEPT = 60       # log lines kept per fetched result
TEXT_LIMIT = 6000     # characters of a fetched result's model-facing text kept


class Fetched(BaseModel):
    """One tool result a follow-up fetched, kept (masked by the registry, clipped) for later questions."""
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    query: str = ""
    status: str = "ok"
    summary: str = ""
    lines: list[str] = Field(default_factory=list)  # what an answer quotes (see lines_of), newest last
    text: str = ""
    question: int = 0  # the thread's question number that fetched it
    at: str = ""

    @classmethod
    def of(cls, tool: str, args: dict[str, Any], result: ToolResult, question: int, at: str) -> "Fetched":
        lines = lines_of(result.data)  # when there are lines they are the content: no second copy as text
        return cls(tool=tool, args=dict(args), query=result.query or "", status=result.status,
                   summary=(result.summary or result.error or "")[:600], lines=lines,
                   text="" if lines else clip_middle(result.to_text(), TEXT_LIMIT), question=question, at=at)

    def cite(self) -> str:
        """The call as people read it: the tool and its arguments (the exact query is in the session's trace)."""
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.args.items()) if k != "query")
        query = f", query={clip_middle(str(self.args['query']), 60)}" if self.args.get("query") else ""
        return f"`{self.tool}({args}{query})`"

    def brief(self) -> str:
        return f"- {self.cite()} [{self.status}]: {self.summary}"


def lines_of(data: Any) -> list[str]:
    """The lines an answer quotes from a result: pod-log lines, `Nx example` of log templates, rollout
    history entries, knowledge-base hits; nothing for other data (its text is kept whole)."""
    out: list[str] = []
    if isinstance(data, list):  # search_knowledge hits
        out += [f"{h.get('title') or h.get('source')} ({h.get('type', 'doc')}, {h.get('source')})"
                for h in data if isinstance(h, dict)]
    elif isinstance(data, dict):
        for section in data.get("sections") or ():
            if isinstance(section, dict):
                out += [str(x) for x in section.get("lines") or ()]
        for t in data.get("templates") or ():
            if isinstance(t, dict):
                out.append(f"{t.get('count', '?')}x {t.get('example') or t.get('template') or ''}")
        for dep in data.get("deployments") or ():
            for rev in (dep.get("rollout_history") or ()) if isinstance(dep, dict) else ():
                if isinstance(rev, dict):
                    changes = "; ".join(str(c) for c in rev.get("changes") or ()) or "no template change recorded"
                    out.append(f"{dep.get('name')} revision {rev.get('revision')} created {rev.get('created')}: {changes}")
    return [clip_middle(x, LINE_LIMIT) for x in out[-LINES_KEPT:]]


class Earlier(BaseModel):
    """An earlier question of the thread and its answer."""
    number: int
    asked_by: str
    question: str
    answer: str
    engine: str = ""
    fetched: list[Fetched] = Field(default_factory=list)

    def render(self, detail: int) -> str:
        """detail 2: with what its tools returned; 1: their summaries; 0: the question only."""
        head = f"Q{self.number} ({self.asked_by}): {self.question}"
        if detail == 0:
            return head + "\n(answered; omitted for space)"
        lines = [head, f"A{self.number} ({self.engine or 'bot'}): {self.answer}"]
        if self.fetched:
            lines.append(f"Evidence fetched for Q{self.number}:")
            for f in self.fetched:
                lines.append(f.brief())
                if detail == 2 and (f.lines or f.text):
                    lines.append("  " + ("\n  ".join(f.lines) if f.lines else f.text))
        return "\n".join(lines)


@dataclass
class FollowupContext:
    question: str
    asked_by: str
    number: int                      # this question's number in the thread (1-based)
    diagnosis: Diagnosis
    version: int = 1
    incident: dict[str, Any] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # the diagnosis session's tool calls, one line each
    earlier: list[Earlier] = field(default_factory=list)

    def pool(self) -> list[Fetched]:
        """Everything earlier questions fetched, newest first."""
        return [f for e in reversed(self.earlier) for f in reversed(e.fetched)]

    def render(self, budget: int) -> str:
        """The whole context as text for a model, at most about `budget` characters."""
        incident = json.dumps({k: v for k, v in self.incident.items() if v}, default=str, ensure_ascii=False)
        diagnosis = clip_middle(self.diagnosis.model_dump_json(exclude_none=True, exclude_defaults=True),
                                max(1000, budget * 2 // 5))
        calls = clip_middle("\n".join(self.calls), max(300, budget // 10))
        fixed = (f"<incident>\n{incident}\n</incident>\n"
                 f"<diagnosis version=\"{self.version}\">\n{diagnosis}\n</diagnosis>\n"
                 f"<diagnosis_tool_calls>\n{calls}\n</diagnosis_tool_calls>\n")
        left = budget - len(fixed) - len(self.question) - 200
        chosen: list[str] = []
        for e in reversed(self.earlier):  # newest first gets the most room
            text = next((t for t in (e.render(d) for d in (2, 1, 0)) if len(t) + 1 <= left), None)
            if text is None:
                text = clip_middle(e.render(0), max(80, left))
            chosen.append(text)
            left -= len(text) + 1
        earlier = "\n".join(reversed(chosen))
        return (fixed + (f"<earlier_questions>\n{earlier}\n</earlier_questions>\n" if earlier else "")
                + f"<question number=\"{self.number}\" asked_by=\"{self.asked_by}\">\n{self.question}\n</question>")
