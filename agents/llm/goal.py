"""What one session of the tool loop is for: the parameters of agents/llm/loop.py.

The loop is the same whatever the task (parallel tools, per-turn cap, budgets, redaction, retries,
argument checks, stop reasons, read_result, context fitting, cost). A Goal says what differs: the
prompts and first message, the finishing tool the model answers with, how that tool's input is
validated (an invalid one gets one corrective turn), and what the session returns: on a valid answer,
on a plain-text answer, and best effort when no valid answer came. The two goals are a diagnosis
(agents/llm/diagnose.py) and the answer to a follow-up question (agents/followup/model.py).
"""
from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agents.llm.conversation import Call
from agents.llm.outcome import Gathered
from agents.toolrunner import ToolRunner
from tools.base import Redacts
from tools.redact import Redactor

T = TypeVar("T")
MAX_ERRORS = 20


class Goal(Generic[T]):
    system: str  # static, cacheable
    context: str = ""  # per session, after the cache breakpoint
    opening: str  # the first user message, masked
    tool: dict[str, Any]  # the finishing tool: name, description, input_schema
    max_steps: int | None = None  # None: the engine's limit
    labels: tuple[str, str] = ("analysing", "answering")  # progress while exploring, while finishing
    text_nudge: str  # asks for the finishing tool after a plain-text answer

    @property
    def tool_name(self) -> str:
        return self.tool["name"]

    def rank(self, tool: str) -> int:
        """The order tools are offered in (a stable sort: equal ranks keep the registry's order)."""
        return 0

    def validate(self, call: Call) -> tuple[Any | None, str]:
        """(the validated answer, "") or (None, the errors as lines for the corrective turn)."""
        raise NotImplementedError

    def finish(self, value: Any, gathered: Gathered) -> T:
        raise NotImplementedError

    def text_answer(self, text: str, gathered: Gathered) -> T | None:
        """What a plain-text answer ends the session with; None: ask once for the finishing tool."""
        return None

    def best_effort(self, reason: str, last_text: str, gathered: Gathered, salvage: Any = None) -> T:
        raise NotImplementedError

    def budget_nudge(self, reason: str) -> str:
        raise NotImplementedError

    def correction(self, errors: str) -> str:
        raise NotImplementedError


def validate_as(model: type[BaseModel], call: Call) -> tuple[Any | None, str]:
    """A finishing tool's input validated as a pydantic model, its errors one line each."""
    if call.problem:
        return None, f"- arguments are not valid JSON: {call.problem}"
    try:
        return model.model_validate(call.args), ""
    except ValidationError as exc:
        return None, "\n".join(f"- {'.'.join(str(x) for x in e['loc']) or '(root)'}: {e['msg']}"
                               for e in exc.errors()[:MAX_ERRORS])


def redactor_of(runner: ToolRunner) -> Redacts:
    """The registry's redactor, or the default one: nothing from outside enters a prompt unmasked."""
    return runner.registry.redactor or Redactor()
