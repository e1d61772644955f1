"""One follow-up session: the context and question in, a FollowupResult out, whatever fails on the way.

The engine is the diagnosis's (EngineSettings.chosen()): the model when one is configured, else the
offline answers; a model that is unavailable or fails hands over to the offline answers with the same
ToolRunner. A revision's proposals pass the coordinator against the incident's stored scope, computed
from the trigger when it was diagnosed: nothing the follow-up reads or writes widens it.
"""
from __future__ import annotations

import logging
import time

from agents.coordinator import review
from agents.followup.context import FollowupContext
from agents.followup.model import ModelFollowup
from agents.followup.offline import OfflineFollowup
from agents.followup.reply import FollowupResult, Reply
from agents.scope import TriggerScope
from agents.llm.loop import ToolLoopEngine
from agents.session import EngineSettings, build_engine
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer, MultiTracer, Tracer, Usage
from tools.base import ToolRegistry

log = logging.getLogger(__name__)


def _engine(name: str, settings: EngineSettings, max_steps: int, context_chars: int):  # noqa: ANN202
    if name == "offline":
        return OfflineFollowup()
    engine = build_engine(name, settings)  # the diagnosis's own factory: same provider, model and limits
    if not isinstance(engine, ToolLoopEngine):
        return OfflineFollowup()
    return ModelFollowup(engine, max_steps, context_chars)


async def _answer_with(engine, ctx: FollowupContext, runner: ToolRunner, scope: TriggerScope) -> Reply:  # noqa: ANN001
    try:
        return await engine.answer(ctx, runner, scope)
    finally:
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()


async def answer_followup(ctx: FollowupContext, registry: ToolRegistry, scope: TriggerScope,
                          settings: EngineSettings, *, tracer: Tracer | None = None, max_steps: int = 6,
                          context_chars: int = 24000) -> FollowupResult:
    started = time.monotonic()
    trace = ListTracer()
    runner = ToolRunner(registry, MultiTracer(trace, tracer) if tracer else trace)
    name, fallback = settings.chosen(), None
    try:
        reply = await _answer_with(_engine(name, settings, max_steps, context_chars), ctx, runner, scope)
    except Exception as exc:  # the model failing costs the model's answer, never the person's question
        if name == "offline":
            raise
        fallback = f"{type(exc).__name__}: {exc}"
        log.warning("follow-up engine %s unavailable, answering offline: %s", name, fallback)
        runner.tracer.note(f"fallback to offline answers: {fallback}")
        name = "offline"
        reply = await _answer_with(OfflineFollowup(), ctx, runner, scope)
    dropped = []
    if reply.revision is not None:
        reviewed = review(reply.revision, scope)
        reply.revision = reply.revision.model_copy(update={"proposals": reviewed.kept})
        dropped = reviewed.dropped
    usage = Usage()
    for u in trace.usages:
        usage.add(u)
    return FollowupResult(reply=reply, engine=name, fallback_reason=fallback, usage=usage,
                          tool_calls=len(trace.calls), elapsed=time.monotonic() - started, dropped_proposals=dropped)
