"""The diagnosis as a goal of the tool loop: the trigger in, `submit_diagnosis` validated as a Diagnosis
out, or a best-effort Diagnosis built from what the session gathered."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from agents.diagnosis import Diagnosis, submit_schema
from agents.llm.conversation import Call
from agents.llm.goal import Goal, validate_as
from agents.llm.outcome import Gathered, best_effort, merge_unavailable
from agents.llm.prompts import (SUBMIT_TOOL, SYSTEM_PROMPT, TEXT_NUDGE, budget_nudge, correction, session_context,
                                tool_rank, trigger_message)
from agents.trigger import Trigger
from tools.base import Redacts

SUBMIT_DESCRIPTION = ("Submit the final diagnosis: root-cause category, culprit component, summary, "
                      "confidence, evidence citing tool and query, timeline, similar incidents, and "
                      "proposed catalog actions. Call exactly once, at the end.")


class DiagnosisGoal(Goal[Diagnosis]):
    system = SYSTEM_PROMPT
    labels = ("analysing", "writing the diagnosis")
    text_nudge = TEXT_NUDGE

    def __init__(self, trigger: Trigger, unavailable: dict[str, str], redactor: Redacts, now: datetime):
        self.unavailable = dict(unavailable)
        self.context = session_context(now, self.unavailable, redactor)
        self.opening = trigger_message(trigger, redactor)
        self.tool = {"name": SUBMIT_TOOL, "description": SUBMIT_DESCRIPTION, "input_schema": submit_schema()}

    def rank(self, tool: str) -> int:
        return tool_rank(tool)

    def validate(self, call: Call) -> tuple[Diagnosis | None, str]:
        return validate_as(Diagnosis, call)

    def finish(self, value: Diagnosis, gathered: Gathered) -> Diagnosis:
        ours = gathered.unavailable(self.unavailable)
        update: dict[str, Any] = {"unavailable_sources": merge_unavailable(ours, value.unavailable_sources)}
        if not value.evidence:
            update["evidence"] = gathered.evidence()
        return value.model_copy(update=update)

    def best_effort(self, reason: str, last_text: str, gathered: Gathered, salvage: Any = None) -> Diagnosis:
        return best_effort(reason, last_text, gathered, gathered.unavailable(self.unavailable), salvage=salvage)

    def budget_nudge(self, reason: str) -> str:
        return budget_nudge(reason)

    def correction(self, errors: str) -> str:
        return correction(errors)
