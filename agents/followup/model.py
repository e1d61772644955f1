"""A follow-up answered by the configured model, with the read-only tools.

It runs on the diagnosis engine's provider adapter (agents/llm: Anthropic or OpenAI-compatible), its
retry policy, limits, pricing and history compaction, so only the task differs: the stored evidence
(compacted, agents/followup/context.py) and the question go in; the model may call tools (each turn's
calls in parallel through the ToolRunner, up to the per-turn cap), then answers with
`answer_question`, validated (one corrective turn), or in plain text. An unusable API raises
EngineUnavailable, so the follow-up falls back to the offline answers.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from agents.followup.context import FollowupContext
from agents.followup.fetch import Fetcher
from agents.followup.prompts import ANSWER_TOOL, FINAL_NUDGE, SYSTEM_PROMPT, ModelAnswer, answer_tool, correction, opening
from agents.followup.reply import ANSWER_LIMIT, Reply
from agents.llm.budget import CHARS_PER_TOKEN, Budget
from agents.llm.context import request_tokens
from agents.llm.conversation import Call, Msg, Result, compact_once
from agents.llm.errors import EngineUnavailable
from agents.llm.pricing import priced
from agents.scope import TriggerScope
from agents.toolrunner import ToolRunner
from tools.redact import Redactor

NO_ANSWER = "The model gave no answer to this question."


class ModelFollowup:
    """`engine`: the diagnosis's model engine (agents.llm.loop.ToolLoopEngine): adapter, model, limits."""

    def __init__(self, engine: Any, max_steps: int, context_chars: int):
        self.engine = engine
        self.name = engine.name
        self.max_steps = max_steps
        # The opening context may take at most half of what a request may hold in this model's window.
        self.context_chars = min(context_chars, engine.limits.room() * CHARS_PER_TOKEN // 2)

    async def aclose(self) -> None:
        await self.engine.aclose()

    async def answer(self, ctx: FollowupContext, runner: ToolRunner, scope: TriggerScope) -> Reply:
        return await _Turns(self, ctx, runner).run()


class _Turns:
    def __init__(self, followup: ModelFollowup, ctx: FollowupContext, runner: ToolRunner):
        self.f, self.e, self.lim = followup, followup.engine, followup.engine.limits
        self.runner, self.tracer = runner, runner.tracer
        self.fetch = Fetcher(runner, ctx.number)
        self.redactor = runner.registry.redactor or Redactor()
        self.budget = Budget(followup.max_steps, self.lim.max_seconds, self.lim.max_total_tokens, self.lim.max_tokens,
                             self.lim.max_cost_usd)
        self.tools = [dict(d) for d in runner.registry.definitions() if d["name"] != ANSWER_TOOL] + [answer_tool()]
        self.offered = {t["name"] for t in self.tools} - {ANSWER_TOOL}
        self.messages = [Msg("user", text=self.redactor.redact(opening(ctx.render(followup.context_chars))))]
        self.budget.added(len(json.dumps([SYSTEM_PROMPT, self.tools, self.messages[0].text])))
        self.last_text = ""

    def _reply(self, text: str, revision: Any = None) -> Reply:
        return Reply(text.strip()[:ANSWER_LIMIT] or NO_ANSWER, revision, self.fetch.fetched)

    async def run(self) -> Reply:
        told = corrected = False  # told: the budget is spent, answer now
        while True:
            if not told and self.budget.exploration_stop():
                if not self.budget.final_allowed():
                    return self._reply(self.last_text)
                self._add_user_text(FINAL_NUDGE)
                told = True
            reply = await self._request(told)
            if reply.stop == "refusal":
                return self._reply("The model declined to answer this question.")
            if reply.text.strip():
                self.last_text = reply.text.strip()
            if reply.stop == "max_tokens" and not reply.calls:
                return self._reply(self.last_text)
            self.messages.append(Msg("assistant", text=reply.text, calls=list(reply.calls)))
            final = next((c for c in reply.calls if c.name == ANSWER_TOOL), None)
            if final is not None:
                try:
                    parsed = ModelAnswer.model_validate(final.args)
                    return self._reply(parsed.answer, parsed.revised_diagnosis)
                except ValidationError as exc:
                    salvage = final.args.get("answer") if isinstance(final.args, dict) else None
                    if corrected or not self.budget.final_allowed():
                        return self._reply(salvage if isinstance(salvage, str) else self.last_text)
                    corrected = told = True
                    self.tracer.note(f"followup: invalid {ANSWER_TOOL}, asking once for a correction")
                    await self._answer_calls(reply.calls, correction("\n".join(
                        f"- {'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:20])))
            elif reply.calls and not told:
                await self._answer_calls(reply.calls)
            else:  # a plain-text answer is a fine answer to a question (and so is the last text when told)
                return self._reply(self.last_text)

    async def _request(self, told: bool) -> Any:
        b, adapter = self.budget, self.e.adapter
        b.steps += 1
        self.runner.step = b.steps
        self.tracer.step(b.steps, self.f.max_steps, "answering" if told else "looking into the question")
        body = self._fitted_body()
        reply = await self.e.retry.call(lambda: adapter.send(body, max(1.0, b.remaining())), classify=adapter.classify,
                                        api=adapter.api, remaining=b.remaining, note=self.tracer.note)
        usage, _ = priced(self.e.model, reply.usage)
        self.tracer.usage(usage)
        b.record(usage)
        return reply

    def _fitted_body(self) -> dict[str, Any]:
        """The request in the provider's format, its history compacted until it fits the window."""
        from agents.llm.loop import Request  # imported late: agents.llm.loop imports the providers' modules

        while True:
            body = self.e.adapter.body(Request(self.e.model, self.lim.max_tokens, SYSTEM_PROMPT, "", self.tools,
                                               self.messages, False))
            if request_tokens(body) <= self.lim.room():
                return body
            if not compact_once(self.messages):
                raise EngineUnavailable(f"the follow-up does not fit the context window of "
                                        f"{self.lim.context_window} tokens, even compacted")

    async def _answer_calls(self, calls: list[Call], answer_errors: str | None = None) -> None:
        """A result for every call of the turn (both APIs require it); the runnable ones run in parallel."""
        cap = self.lim.max_tool_calls_per_turn
        runnable = [c for c in calls if c.name in self.offered and isinstance(c.args, dict)
                    and answer_errors is None][:cap]
        ran = await self.fetch.run_many([(c.name, dict(c.args)) for c in runnable])
        by_id = {c.id: r for c, r in zip(runnable, ran)}
        results = []
        for c in calls:
            if c.id in by_id:
                r = by_id[c.id]
                stub = json.dumps({"status": r.status, "summary": r.summary[:300]}, ensure_ascii=False)
                results.append(Result(c.id, c.name, self.redactor.redact(r.to_text()), r.status == "error",
                                      self.redactor.redact(stub)))
                continue
            if c.name == ANSWER_TOOL:
                why = answer_errors or "invalid input"
            elif answer_errors is not None:
                why = f"not run: fix the {ANSWER_TOOL} call first"
            elif c.name in self.offered:
                why = (f"not run: at most {cap} tool calls per turn" if isinstance(c.args, dict)
                       else f"arguments are not valid JSON: {c.problem}")
            else:
                why = f"tool {c.name!r} is not available; available: {', '.join(sorted(self.offered))}"
            results.append(Result(c.id, c.name, self.redactor.redact(why), True))
        self.messages.append(Msg("user", results=results))
        self.budget.added(sum(len(r.content) for r in results))

    def _add_user_text(self, text: str) -> None:
        last = self.messages[-1]
        if last.role == "user":
            last.text = f"{last.text}\n\n{text}" if last.text else text
        else:
            self.messages.append(Msg("user", text=text))
        self.budget.added(len(text))
