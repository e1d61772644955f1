"""A follow-up answered by the configured model, with the read-only tools.

The answer is a goal of the one tool loop (agents/llm/loop.py), so it runs on the diagnosis engine's
provider adapter with everything that loop does: parallel tools up to the per-turn cap, arguments
checked against their schema (one corrective turn), read_result, stop reasons, retries with backoff,
context-window fitting, budgets and cost. Only the task differs: the stored evidence (compacted,
agents/followup/context.py) and the question go in; the model answers with `answer_question`,
validated as a ModelAnswer (one corrective turn), or in plain text. An unusable API or a refusal
raises EngineUnavailable, so the follow-up falls back to the offline answers.
"""
from __future__ import annotations

from typing import Any

from agents.followup.context import Fetched, FollowupContext
from agents.followup.prompts import (SYSTEM_PROMPT, TEXT_NUDGE, ModelAnswer, answer_tool, budget_nudge, correction,
                                     opening)
from agents.followup.reply import ANSWER_LIMIT, Reply
from agents.llm.budget import CHARS_PER_TOKEN
from agents.llm.conversation import Call
from agents.llm.goal import Goal, redactor_of, validate_as
from agents.llm.loop import ToolLoopEngine
from agents.llm.outcome import Gathered
from agents.scope import TriggerScope
from agents.toolrunner import ToolRunner
from tools.base import utcnow

NO_ANSWER = "The model gave no answer to this question."


class AnswerGoal(Goal[Reply]):
    """A follow-up question for the tool loop: answered with `answer_question`, or in plain text."""

    system = SYSTEM_PROMPT
    labels = ("looking into the question", "answering")
    text_nudge = TEXT_NUDGE

    def __init__(self, opening_text: str, question: int, max_steps: int):
        self.opening = opening_text
        self.question = question
        self.max_steps = max_steps
        self.tool = answer_tool()

    def validate(self, call: Call) -> tuple[ModelAnswer | None, str]:
        return validate_as(ModelAnswer, call)

    def finish(self, value: ModelAnswer, gathered: Gathered) -> Reply:
        return self._reply(value.answer, gathered, value.revised_diagnosis)

    def text_answer(self, text: str, gathered: Gathered) -> Reply | None:
        return self._reply(text, gathered) if text else None  # a plain-text answer is a fine answer

    def best_effort(self, reason: str, last_text: str, gathered: Gathered, salvage: Any = None) -> Reply:
        answer = salvage.get("answer") if isinstance(salvage, dict) else None
        return self._reply(answer if isinstance(answer, str) else last_text, gathered)

    def budget_nudge(self, reason: str) -> str:
        return budget_nudge(reason)

    def correction(self, errors: str) -> str:
        return correction(errors)

    def _reply(self, text: str, gathered: Gathered, revision: Any = None) -> Reply:
        # What the tools fetched is kept for the thread's later questions.
        at = utcnow().isoformat(timespec="seconds")
        fetched = [Fetched.of(name, args, r, self.question, at) for name, args, r in gathered.calls]
        return Reply(text.strip()[:ANSWER_LIMIT] or NO_ANSWER, revision, fetched)


class ModelFollowup:
    """A follow-up on the diagnosis's model engine: its adapter, model, limits and retry policy."""

    def __init__(self, engine: ToolLoopEngine, max_steps: int, context_chars: int):
        self.engine = engine
        self.name = engine.name
        self.max_steps = max_steps
        # The opening context may take at most half of what a request may hold in this model's window.
        self.context_chars = min(context_chars, engine.limits.room() * CHARS_PER_TOKEN // 2)

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def answer(self, ctx: FollowupContext, runner: ToolRunner, scope: TriggerScope) -> Reply:
        text = redactor_of(runner).redact(opening(ctx.render(self.context_chars)))
        return await self.engine.run(AnswerGoal(text, ctx.number, self.max_steps), runner)
