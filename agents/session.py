"""One session: one trigger in, one evidence-backed Diagnosis out, whatever fails on the way.

Engine choice: Anthropic when an API key is configured (or asked for), else offline. If the
model API is unavailable (retries exhausted, auth refused) or the engine fails, the offline
engine finishes the job with the same ToolRunner, so tool results already fetched are reused.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

from agents.coordinator import review
from agents.diagnosis import Diagnosis, ProposedAction
from agents.scope import TriggerScope, resolve_scope
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer, MultiTracer, Tracer, Usage
from agents.trigger import Trigger
from tools.base import ToolRegistry

log = logging.getLogger(__name__)

EngineName = Literal["auto", "offline", "anthropic"]


@dataclass
class EngineSettings:
    engine: EngineName = "auto"
    api_key: str | None = None
    model: str = "claude-sonnet-5-5"
    base_url: str | None = None
    max_tokens: int = 4096
    max_steps: int = 12
    max_seconds: float = 120.0
    max_total_tokens: int = 200_000
    max_retries: int = 3
    retry_base_delay: float = 1.0

    def chosen(self) -> str:
        if self.engine == "auto":
            return "anthropic" if self.api_key else "offline"
        return self.engine


@dataclass
class SessionResult:
    diagnosis: Diagnosis
    engine: str
    fallback_reason: str | None
    usage: Usage
    tool_calls: int
    context_bytes: int
    elapsed: float
    # Proposals the coordinator refused, with why; the bot re-checks and audits them too.
    dropped_proposals: list[tuple[ProposedAction, str]] = field(default_factory=list)
    trace: ListTracer = field(default_factory=ListTracer)
    scope: TriggerScope = field(default_factory=TriggerScope)


def _make_engine(name: str, settings: EngineSettings):
    if name == "anthropic":
        from agents.anthropic.engine import AnthropicEngine

        if not settings.api_key:
            raise RuntimeError("ANTHROPIC_API_KEY is not set")
        return AnthropicEngine(api_key=settings.api_key, model=settings.model, max_tokens=settings.max_tokens,
                               max_steps=settings.max_steps, max_seconds=settings.max_seconds,
                               max_total_tokens=settings.max_total_tokens, base_url=settings.base_url,
                               max_retries=settings.max_retries, retry_base_delay=settings.retry_base_delay)
    from agents.offline.engine import OfflineEngine

    return OfflineEngine()


async def _diagnose_with(engine, trigger: Trigger, runner: ToolRunner, unavailable: dict[str, str]) -> Diagnosis:  # noqa: ANN001
    try:
        return await engine.diagnose(trigger, runner, dict(unavailable))
    finally:
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()


def _fallback_diagnosis(trigger: Trigger, unavailable: dict[str, str], error: str) -> Diagnosis:
    return Diagnosis(category="unknown", component=trigger.service, confidence=0.0,
                     summary=f"Diagnosis failed: {error[:300]}. No conclusion could be drawn.",
                     unavailable_sources=[f"{k}: {v}" for k, v in sorted(unavailable.items())])


async def run_diagnosis(trigger: Trigger, registry: ToolRegistry, unavailable: dict[str, str],
                        settings: EngineSettings | None = None, tracer: Tracer | None = None,
                        namespace_allowlist: tuple[str, ...] = (),
                        risk_overrides: dict[str, str] | None = None) -> SessionResult:
    settings = settings or EngineSettings()
    started = time.monotonic()
    trace = ListTracer()
    runner = ToolRunner(registry, MultiTracer(trace, tracer) if tracer else trace)
    engine_name = settings.chosen()
    # Fixed before any engine runs, from the trigger alone: nothing the engine reads or writes widens it.
    try:
        scope = await resolve_scope(trigger, registry, namespace_allowlist, risk_overrides)
    except Exception as exc:  # a bug here must cost the buttons, not the diagnosis
        log.exception("scope resolution failed")
        scope = TriggerScope(basis=f"scope could not be computed ({type(exc).__name__}); no action is offered",
                             namespace_allowlist=tuple(namespace_allowlist))
    runner.tracer.note(f"action scope ({scope.basis}): {scope.describe()}")
    fallback_reason: str | None = None
    diagnosis: Diagnosis | None = None
    try:
        diagnosis = await _diagnose_with(_make_engine(engine_name, settings), trigger, runner, unavailable)
    except Exception as exc:  # any engine failure ends in the offline engine, never in the user's face
        if engine_name == "offline":
            log.exception("offline engine failed")
            diagnosis = _fallback_diagnosis(trigger, unavailable, f"{type(exc).__name__}: {exc}")
        else:
            fallback_reason = f"{type(exc).__name__}: {exc}"
            log.warning("engine %s unavailable, falling back to offline: %s", engine_name, fallback_reason)
            runner.tracer.note(f"fallback to offline engine: {fallback_reason}")
            engine_name = "offline"
            try:
                diagnosis = await _make_engine("offline", settings).diagnose(trigger, runner, dict(unavailable))
            except Exception as exc2:
                log.exception("offline fallback failed")
                diagnosis = _fallback_diagnosis(trigger, unavailable, f"{type(exc2).__name__}: {exc2}")
    reviewed = review(diagnosis, scope)
    diagnosis = diagnosis.model_copy(update={"proposals": reviewed.kept})
    usage = Usage()
    for u in trace.usages:
        usage.add(u)
    return SessionResult(diagnosis=diagnosis, engine=engine_name, fallback_reason=fallback_reason, usage=usage,
                         tool_calls=len(trace.calls), context_bytes=trace.context_bytes,
                         elapsed=time.monotonic() - started,
                         dropped_proposals=reviewed.dropped, trace=trace, scope=scope)
