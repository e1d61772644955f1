"""The one tool loop every model provider and every task runs; adapters only translate formats.

One session = a bounded loop for one Goal (agents/llm/goal.py: a diagnosis, or the answer to a
follow-up question): the model calls read-only tools (all calls of a turn run in parallel through
the ToolRunner, up to a per-turn cap), then answers with the goal's finishing tool, whose input the
goal validates. Tool arguments are checked against their schema first; invalid ones, like an invalid
final answer, get one corrective turn. Budget overruns, answers cut at max_tokens, invalid or
plain-text answers end in a forced final turn or the goal's best effort; an unusable API or a
refusal raises EngineUnavailable, so the caller falls back to the offline engine. Every request is
measured against the context window and the history compacted to fit; everything from outside data
passes the redactor before it enters the history.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from agents.diagnosis import Diagnosis
from agents.llm.arguments import ArgumentCheck, correction_text
from agents.llm.budget import Budget
from agents.llm.context import Limits, request_tokens
from agents.llm.conversation import Call, Msg, Reply, Result, compact_once
from agents.llm.diagnose import DiagnosisGoal
from agents.llm.errors import EngineUnavailable
from agents.llm.goal import Goal, T, redactor_of
from agents.llm.outcome import Gathered
from agents.llm.pricing import price_for, priced
from agents.llm.results import READ_RESULT, READ_RESULT_TOOL, ResultStore
from agents.llm.retry import ApiFailure, RetryPolicy
from agents.toolrunner import ToolRunner
from agents.trace import ToolCallRecord
from agents.trigger import Trigger
from tools.base import OUTPUT_SCALE, utcnow

CUT_NUDGE = ("Your last answer was cut off at the output limit ({limit} tokens) and was discarded. Answer "
             "again, shorter: fewer tool calls at once, no long text.")


@dataclass
class Request:
    """What the loop asks; the adapter renders it in its API's format."""

    model: str
    max_tokens: int
    system: str  # static, cacheable
    context: str  # per session, e.g. the moment of diagnosis and unavailable sources
    tools: list[dict[str, Any]]  # name, description, input_schema
    messages: list[Msg]
    forced: bool  # the answer must be a call of final_tool
    final_tool: str  # the goal's finishing tool, e.g. submit_diagnosis


class Adapter(Protocol):
    api: str  # for messages: "Anthropic", "OpenAI-compatible"

    def body(self, request: Request) -> dict[str, Any]: ...
    async def send(self, body: dict[str, Any], timeout: float) -> Reply: ...
    def classify(self, exc: Exception) -> ApiFailure | None: ...
    async def aclose(self) -> None: ...


class ClientAdapter:
    """What both adapters share: an SDK client, closed by us only when we made it."""

    def __init__(self, client: Any, owns_client: bool):
        self.client = client
        self.owns_client = owns_client

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.close()


class ToolLoopEngine:
    """An engine = an adapter + the shared loop. Subclasses name themselves and build the adapter."""

    name = "model"

    def __init__(self, adapter: Adapter, model: str, *, now: Callable[[], datetime] | None = None,
                 **limits: Any):
        self.adapter = adapter
        self.model = model
        self.limits = Limits(**limits)
        self.retry = RetryPolicy(self.limits.max_retries, self.limits.retry_base_delay, self.limits.max_retry_delay)
        self.now = now  # the tools' clock (ToolContext.now), for replays set in the past

    async def diagnose(self, trigger: Trigger, runner: ToolRunner, unavailable: dict[str, str]) -> Diagnosis:
        now = trigger.at or (self.now or utcnow)()
        return await self.run(DiagnosisGoal(trigger, unavailable, redactor_of(runner), now), runner)

    async def run(self, goal: Goal[T], runner: ToolRunner) -> T:
        """One session of the loop for `goal`, with the tools of `runner`."""
        session = _Session(self, goal, runner)
        # Tool output budgets follow this model's window for the tools this session runs.
        token = OUTPUT_SCALE.set(self.limits.output_scale())
        try:
            return await session.run()
        finally:
            OUTPUT_SCALE.reset(token)

    async def aclose(self) -> None:
        """Close the HTTP client the adapter made, on the loop that used it (left to the garbage
        collector, its close would run after that loop is gone and log 'Event loop is closed')."""
        await self.adapter.aclose()


class _Session:
    def __init__(self, engine: ToolLoopEngine, goal: Goal, runner: ToolRunner):
        self.e = engine
        self.goal = goal
        self.final = goal.tool_name
        self.limits = lim = engine.limits
        self.max_steps = goal.max_steps or lim.max_steps
        self.runner = runner
        self.tracer = runner.tracer
        self.redactor = redactor_of(runner)
        price = price_for(engine.model)
        self.budget = Budget(self.max_steps, lim.max_seconds, lim.max_total_tokens, lim.max_tokens, lim.max_cost_usd,
                             price.output / 1e6 if price else 0.0)
        self.gathered = Gathered()
        self.store = ResultStore(self.redactor, lim.page_chars())
        self.last_text = ""
        self.unpriced_noted = False
        self.malformed_corrected = False
        self.tools = self._tool_definitions()
        self.offered = {t["name"] for t in self.tools} - {self.final, READ_RESULT}
        self.check = ArgumentCheck({t["name"]: t["input_schema"] for t in self.tools if t["name"] != self.final})
        self.messages = [Msg("user", text=goal.opening)]
        self.budget.added(len(json.dumps([goal.system, goal.context, self.tools, goal.opening])))

    def _tool_definitions(self) -> list[dict[str, Any]]:
        # definitions() offers read-only tools only: acting tools are never shown to the model.
        defs = sorted((dict(d) for d in self.runner.registry.definitions() if d["name"] not in (self.final, READ_RESULT)),
                      key=lambda d: self.goal.rank(d["name"]))
        return defs + [dict(READ_RESULT_TOOL), dict(self.goal.tool)]

    def _note(self, text: str) -> None:
        self.tracer.note(f"{self.e.name}: {text}")

    # --- the loop ----------------------------------------------------------------------------

    async def run(self) -> Any:
        forced: str | None = None  # why the next turn must be a call of the finishing tool
        corrected = nudged = cut = False
        while True:
            if forced is None:
                stop = self.budget.exploration_stop()
                if stop:
                    if not self.budget.final_allowed():
                        return self._best_effort(f"{stop} reached with no budget left for a final answer")
                    self._note(f"{stop} reached; asking for the final {self.final}")
                    self._add_user_text(self.goal.budget_nudge(stop))
                    forced = stop
            reply = await self._request(forced)
            submit = next((c for c in reply.calls if c.name == self.final), None)
            if reply.stop == "refusal":
                raise EngineUnavailable(f"the model refused to answer ({reply.detail}): {reply.text[:200]}")
            if reply.stop == "max_tokens":
                # The turn is dropped: its last tool call or the final answer may be cut mid-argument.
                if cut or not self.budget.final_allowed():
                    return self._best_effort(f"the answer was cut at max_tokens ({reply.detail})",
                                             salvage=submit.args if submit else None)
                cut = True
                self._note(f"answer cut at the output limit ({reply.detail}); asking again, shorter")
                self._add_user_text(CUT_NUDGE.format(limit=self.limits.max_tokens))
                continue
            self._append_assistant(reply)
            if reply.stop == "pause" and not reply.calls:
                self._note("the API paused its turn; sending it back to continue")
                continue
            if submit is not None:
                value, errors = self.goal.validate(submit)
                if value is not None:
                    return self.goal.finish(value, self.gathered)
                if corrected or not self.budget.final_allowed():
                    return self._best_effort(f"the {self.final} input was invalid", salvage=submit.args)
                corrected = True
                self._note(f"invalid {self.final}, asking once for a correction: {errors}")
                await self._answer(reply.calls, final_errors=errors)
                forced = "correction"
            elif reply.calls:
                if forced is not None:  # told to finish, called something else
                    return self._best_effort(f"the model did not call {self.final} when asked")
                if await self._answer(reply.calls):
                    if not self.malformed_corrected:
                        self.malformed_corrected = True
                        self._note("malformed tool arguments; the model gets one corrective turn")
                    elif not self.budget.final_allowed():
                        return self._best_effort("tool arguments stayed malformed after a correction")
                    else:
                        forced = "tool arguments still malformed after a correction"
                        self._note(f"{forced}; asking for the final {self.final}")
                        self._add_user_text(self.goal.budget_nudge(forced))
            else:
                answer = self.goal.text_answer(reply.text.strip(), self.gathered)
                if answer is not None:
                    return answer
                if nudged or forced is not None or not self.budget.final_allowed():
                    return self._best_effort("the model answered in plain text")
                nudged = True
                self._add_user_text(self.goal.text_nudge)
                forced = "plain-text answer"

    async def _request(self, forced: str | None) -> Reply:
        self.budget.steps += 1
        n = self.budget.steps
        self.runner.step = n
        self.tracer.step(n, self.max_steps, self.goal.labels[forced is not None])
        body = self._fitted_body(forced is not None)
        adapter = self.e.adapter
        reply = await self.e.retry.call(
            lambda: adapter.send(body, max(1.0, self.budget.remaining())), classify=adapter.classify,
            api=adapter.api, remaining=self.budget.remaining, note=self.tracer.note)
        self._account(reply)
        return reply

    def _fitted_body(self, forced: bool) -> dict[str, Any]:
        """The request, its history compacted until it fits the window with room for a full answer."""
        compacted = 0
        while True:
            body = self.e.adapter.body(Request(self.e.model, self.limits.max_tokens, self.goal.system,
                                               self.goal.context, self.tools, self.messages, forced, self.final))
            size = request_tokens(body)
            if size <= self.limits.room():
                if compacted:
                    self._note(f"history compacted {compacted} time(s) to fit the context window "
                               f"({self.limits.context_window} tokens): request ~{size} tokens")
                return body
            if not compact_once(self.messages):
                raise EngineUnavailable(f"a request of ~{size} tokens cannot fit the context window of "
                                        f"{self.limits.context_window} tokens with {self.limits.max_tokens} for "
                                        f"the answer, even compacted")
            compacted += 1

    async def _answer(self, calls: list[Call], final_errors: str | None = None) -> bool:
        """Answer every call of the turn with a result (both APIs require it): the runnable ones run in
        parallel. True when some call had malformed arguments."""
        answers: dict[str, tuple[str, bool]] = {}
        runnable: list[Call] = []
        malformed = False
        cap, counted = self.limits.max_tool_calls_per_turn, 0
        for c in calls:
            if c.name == self.final:
                answers[c.id] = (self.goal.correction(final_errors or "invalid input"), True)
                continue
            counted += 1
            problems = self.check.problems(c) if c.name in self.offered or c.name == READ_RESULT else None
            if counted > cap:
                answers[c.id] = (f"not run: at most {cap} tool calls per turn; call it again in the next turn "
                                 f"if you still need it", True)
            elif problems:
                malformed = True
                answers[c.id] = (correction_text(c.name, problems), True)
            elif c.name == READ_RESULT:
                answers[c.id] = self._read_result(c.args)
            elif c.name in self.offered:
                runnable.append(c)
            else:
                answers[c.id] = (f"tool {c.name!r} is not available in this session; available: "
                                 f"{', '.join(sorted(self.offered | {READ_RESULT}))}", True)
        if counted > cap:
            self._note(f"{counted} tool calls in one turn; the {counted - cap} beyond the cap of {cap} were not run")
        if runnable:
            self.tracer.step(self.budget.steps, self.max_steps,
                             "running " + ", ".join(dict.fromkeys(c.name for c in runnable)))
        ran = await self.runner.run_many([(c.name, dict(c.args)) for c in runnable])
        by_id = {c.id: r for c, r in zip(runnable, ran)}
        results = []
        for c in calls:
            if c.id in by_id:
                r = by_id[c.id]
                self.gathered.add(c.name, dict(c.args), r)
                content, stub, _ = self.store.keep(r)
                results.append(Result(c.id, c.name, content, r.status == "error", stub))
            else:
                content, is_error = answers[c.id]
                stub = '{"compacted":true}' if c.name == READ_RESULT and not is_error else ""
                results.append(Result(c.id, c.name, self.redactor.redact(content), is_error, stub))
        self.messages.append(Msg("user", results=results))
        self.budget.added(sum(len(r.content) for r in results))
        return malformed

    def _read_result(self, args: dict[str, Any]) -> tuple[str, bool]:
        content, is_error = self.store.read(args)
        self.tracer.tool_call(ToolCallRecord(
            step=self.budget.steps, tool=READ_RESULT, arguments=dict(args),
            query=f"{READ_RESULT}({args.get('result_id')}, offset={args.get('offset') or 0})",
            status="error" if is_error else "ok", duration_ms=0.0, bytes=len(content.encode()),
            error=content if is_error else None))
        return content, is_error

    # --- conversation bookkeeping --------------------------------------------------------------

    def _append_assistant(self, reply: Reply) -> None:
        if reply.text.strip():
            self.last_text = reply.text.strip()
        last = self.messages[-1]
        if last.role == "assistant":  # the continuation of a paused turn
            last.text = "\n".join(x for x in (last.text, reply.text) if x)
            last.calls.extend(reply.calls)
        else:
            self.messages.append(Msg("assistant", text=reply.text, calls=list(reply.calls)))

    def _add_user_text(self, text: str) -> None:
        text = self.redactor.redact(text)
        last = self.messages[-1]
        if last.role == "user":  # after the tool results of the turn
            last.text = f"{last.text}\n\n{text}" if last.text else text
        else:
            self.messages.append(Msg("user", text=text))
        self.budget.added(len(text))

    def _account(self, reply: Reply) -> None:
        usage, known = priced(self.e.model, reply.usage)
        if not known and not self.unpriced_noted:
            self.unpriced_noted = True
            self._note(f"no price known for model {self.e.model!r}; cost reported as 0, bounded by tokens only")
        self.tracer.usage(usage)
        self.budget.record(usage)

    # --- outcome -------------------------------------------------------------------------------

    def _best_effort(self, reason: str, salvage: Any = None) -> Any:
        self._note(f"best effort without a valid {self.final}: {reason}")
        return self.goal.best_effort(reason, self.last_text, self.gathered, salvage)
