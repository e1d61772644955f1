"""Diagnosis by Claude through the Messages API with tool use.

One session = a bounded loop: the model calls read-only tools (all calls of a turn run in
parallel through the ToolRunner), then answers with `submit_diagnosis`, whose input is
validated as a Diagnosis. Budget overruns, invalid or plain-text answers end in a forced final
turn or a best-effort Diagnosis; only an unusable API raises (EngineUnavailable), so the
session can fall back to the offline engine.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from anthropic import AsyncAnthropic
from anthropic.types import Message
from pydantic import ValidationError

from agents.anthropic.budget import Budget
from agents.anthropic.outcome import Gathered, best_effort, merge_unavailable
from agents.anthropic.pricing import cost_usd
from agents.anthropic.prompts import (SUBMIT_TOOL, SYSTEM_PROMPT, TEXT_NUDGE, budget_nudge, correction,
                                      session_context, trigger_message)
from agents.anthropic.retry import RetryPolicy
from agents.diagnosis import Diagnosis, submit_schema
from agents.toolrunner import ToolRunner
from agents.trace import Usage
from agents.trigger import Trigger
from tools.base import Redacts, utcnow
from tools.redact import Redactor

EPHEMERAL = {"type": "ephemeral"}
SUBMIT_DESCRIPTION = ("Submit the final diagnosis: root-cause category, culprit component, summary, "
                      "confidence, evidence citing tool and query, timeline, similar incidents, and "
                      "proposed catalog actions. Call exactly once, at the end.")


class AnthropicEngine:
    name = "anthropic"

    def __init__(self, api_key: str, model: str = "claude-sonnet-5-5", max_tokens: int = 4096,
                 max_steps: int = 12, max_seconds: float = 120, max_total_tokens: int = 200_000,
                 base_url: str | None = None, max_retries: int = 3, retry_base_delay: float = 1.0,
                 client: AsyncAnthropic | None = None, *, max_retry_delay: float = 30.0,
                 now: Callable[[], datetime] | None = None):
        # Our RetryPolicy is the only retry layer: the SDK's own is switched off.
        self._owns_client = client is None
        self.client = (client.with_options(max_retries=0) if client is not None
                       else AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0))
        self.model = model
        self.max_tokens = max_tokens
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.max_total_tokens = max_total_tokens
        self.retry = RetryPolicy(max_retries, retry_base_delay, max_retry_delay)
        self.now = now  # the tools' clock (ToolContext.now), for replays set in the past

    async def diagnose(self, trigger: Trigger, runner: ToolRunner, unavailable: dict[str, str]) -> Diagnosis:
        return await _Session(self, trigger, runner, unavailable).run()

    async def aclose(self) -> None:
        """Close the HTTP client we made, on the loop that used it (left to the garbage collector, its
        close would run after that loop is gone and log 'Event loop is closed')."""
        if self._owns_client:
            await self.client.close()


class _Session:
    def __init__(self, engine: AnthropicEngine, trigger: Trigger, runner: ToolRunner,
                 unavailable: dict[str, str]):
        self.e = engine
        self.trigger = trigger
        self.runner = runner
        self.tracer = runner.tracer
        self.redactor: Redacts = runner.registry.redactor or Redactor()
        self.unavailable = dict(unavailable)
        self.budget = Budget(engine.max_steps, engine.max_seconds, engine.max_total_tokens, engine.max_tokens)
        self.gathered = Gathered()
        self.last_text = ""
        self.unpriced_noted = False
        now = trigger.at or (engine.now or utcnow)()
        self.system = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": EPHEMERAL},
                       {"type": "text", "text": session_context(now, self.unavailable, self.redactor)}]
        self.tools = self._tool_definitions()
        self.offered = {t["name"] for t in self.tools} - {SUBMIT_TOOL}
        self.messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "text", "text": trigger_message(trigger, self.redactor)}]}]
        self.budget.added(len(json.dumps([self.system, self.tools, self.messages])))

    def _tool_definitions(self) -> list[dict[str, Any]]:
        # definitions() offers read-only tools only: acting tools are never shown to the model.
        defs = [dict(d) for d in self.runner.registry.definitions() if d["name"] != SUBMIT_TOOL]
        defs.append({"name": SUBMIT_TOOL, "description": SUBMIT_DESCRIPTION, "input_schema": submit_schema(),
                     "cache_control": EPHEMERAL})  # the last tool's breakpoint caches all of them
        return defs

    # --- the loop ----------------------------------------------------------------------------

    async def run(self) -> Diagnosis:
        forced: str | None = None  # why the next turn must be a submit_diagnosis call
        corrected = nudged = False
        while True:
            if forced is None:
                stop = self.budget.exploration_stop()
                if stop:
                    if not self.budget.final_allowed():
                        return self._best_effort(f"{stop} reached with no budget left for a final answer")
                    self.tracer.note(f"anthropic: {stop} reached; asking for the final diagnosis")
                    self._add_user_text(budget_nudge(stop))
                    forced = stop
            response = await self._request(forced)
            uses = [b for b in response.content if b.type == "tool_use"]
            submit = next((b for b in uses if b.name == SUBMIT_TOOL), None)
            if submit is not None:
                diagnosis, errors = self._validate(submit.input)
                if diagnosis is not None:
                    return self._finish(diagnosis)
                if corrected or not self.budget.final_allowed():
                    return self._best_effort("the submitted diagnosis was invalid", salvage=submit.input)
                corrected = True
                self.tracer.note(f"anthropic: invalid {SUBMIT_TOOL}, asking once for a correction: {errors}")
                await self._answer(uses, submit_errors=errors)
                forced = "correction"
            elif uses:
                if forced is not None:  # told to submit, called something else
                    return self._best_effort(f"the model did not call {SUBMIT_TOOL} when asked")
                await self._answer(uses)
            else:
                if nudged or forced is not None or not self.budget.final_allowed():
                    return self._best_effort("the model answered in plain text")
                nudged = True
                self._add_user_text(TEXT_NUDGE)
                forced = "plain-text answer"

    async def _request(self, forced: str | None) -> Message:
        self.budget.steps += 1
        n = self.budget.steps
        self.runner.step = n
        self.tracer.step(n, self.e.max_steps, "writing the diagnosis" if forced else "analysing")
        self._move_message_breakpoint()
        kwargs: dict[str, Any] = dict(
            model=self.e.model, max_tokens=self.e.max_tokens, system=self.system, tools=self.tools,
            messages=self.messages,
            tool_choice={"type": "tool", "name": SUBMIT_TOOL} if forced else {"type": "auto"})
        response: Message = await self.e.retry.call(
            lambda: self.e.client.messages.create(**kwargs, timeout=max(1.0, self.budget.remaining())),
            remaining=self.budget.remaining, note=self.tracer.note)
        self._account(response)
        self._append_assistant(response)
        return response

    async def _answer(self, uses: list[Any], submit_errors: str | None = None) -> None:
        """Run every tool_use of the turn in parallel; answer each with a matching tool_result."""
        runnable = [u for u in uses if u.name in self.offered]
        if runnable:
            self.tracer.step(self.budget.steps, self.e.max_steps,
                             "running " + ", ".join(dict.fromkeys(u.name for u in runnable)))
        results = await self.runner.run_many([(u.name, dict(u.input or {})) for u in runnable])
        by_id = {u.id: r for u, r in zip(runnable, results)}
        blocks = []
        for u in uses:
            if u.name == SUBMIT_TOOL:
                content, is_error = correction(submit_errors or "invalid input"), True
            elif u.id in by_id:
                result = by_id[u.id]
                self.gathered.add(u.name, dict(u.input or {}), result)
                content, is_error = result.to_text(), result.status == "error"
            else:
                content = (f"tool {u.name!r} is not available in this session; available: "
                           f"{', '.join(sorted(self.offered))}")
                is_error = True
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": u.id,
                                     "content": self.redactor.redact(content)}
            if is_error:
                block["is_error"] = True
            blocks.append(block)
        self.messages.append({"role": "user", "content": blocks})
        self.budget.added(sum(len(b["content"]) for b in blocks))

    # --- conversation bookkeeping --------------------------------------------------------------

    def _append_assistant(self, response: Message) -> None:
        content: list[dict[str, Any]] = []
        for b in response.content:
            if b.type == "text":
                content.append({"type": "text", "text": b.text})
                if b.text.strip():
                    self.last_text = b.text.strip()
            elif b.type == "tool_use":
                content.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
        # The API refuses an empty assistant turn in the history.
        self.messages.append({"role": "assistant", "content": content or [{"type": "text", "text": "(no output)"}]})

    def _add_user_text(self, text: str) -> None:
        block = {"type": "text", "text": self.redactor.redact(text)}
        if self.messages[-1]["role"] == "user":
            self.messages[-1]["content"].append(block)  # after the tool_results of the turn
        else:
            self.messages.append({"role": "user", "content": [block]})
        self.budget.added(len(text))

    def _move_message_breakpoint(self) -> None:
        """Cache the conversation up to its newest block, so the next turn reads it back;
        with the tools and system breakpoints this stays within the API's limit of four."""
        for m in self.messages:
            for b in m["content"]:
                b.pop("cache_control", None)
        self.messages[-1]["content"][-1]["cache_control"] = EPHEMERAL

    def _account(self, response: Message) -> None:
        u = response.usage
        read = u.cache_read_input_tokens or 0
        write = u.cache_creation_input_tokens or 0
        cost = cost_usd(self.e.model, u.input_tokens, u.output_tokens, read, write)
        if cost is None and not self.unpriced_noted:
            self.unpriced_noted = True
            self.tracer.note(f"anthropic: no price known for model {self.e.model!r}; cost reported as 0")
        usage = Usage(u.input_tokens, u.output_tokens, read, write, cost or 0.0)
        self.tracer.usage(usage)
        self.budget.record(u.input_tokens + read + write, u.output_tokens)

    # --- outcome -------------------------------------------------------------------------------

    @staticmethod
    def _validate(data: Any) -> tuple[Diagnosis | None, str]:
        try:
            return Diagnosis.model_validate(data), ""
        except ValidationError as exc:
            lines = [f"- {'.'.join(str(x) for x in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:20]]
            return None, "\n".join(lines)

    def _finish(self, diagnosis: Diagnosis) -> Diagnosis:
        ours = self.gathered.unavailable(self.unavailable)
        update: dict[str, Any] = {"unavailable_sources": merge_unavailable(ours, diagnosis.unavailable_sources)}
        if not diagnosis.evidence:
            update["evidence"] = self.gathered.evidence()
        return diagnosis.model_copy(update=update)

    def _best_effort(self, reason: str, salvage: Any = None) -> Diagnosis:
        self.tracer.note(f"anthropic: best-effort diagnosis: {reason}")
        return best_effort(reason, self.last_text, self.gathered, self.gathered.unavailable(self.unavailable),
                           salvage=salvage)
