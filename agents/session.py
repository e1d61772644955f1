"""One session: one trigger in, one evidence-backed Diagnosis out, whatever fails on the way.

Engine choice: the configured model provider (Anthropic, or an OpenAI-compatible endpoint) when
it is configured (or asked for), else offline. If the model API is unavailable (retries exhausted, auth refused) or the engine fails, the offline
engine finishes the job with the same ToolRunner, so tool results already fetched are reused.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.coordinator import review
from agents.diagnosis import Diagnosis, ModelCost, ProposedAction
from agents.llm import DEFAULT_MODEL
from agents.llm.pricing import price_for
from agents.scope import TriggerScope, resolve_scope
from agents.toolrunner import ToolRunner
from agents.trace import ListTracer, MultiTracer, Tracer, Usage
from agents.trigger import Trigger
from tools.base import ToolRegistry

log = logging.getLogger(__name__)

EngineName = Literal["auto", "offline", "anthropic", "openai"]
Provider = Literal["anthropic", "openai"]


@dataclass
class EngineSettings:
    engine: EngineName = "auto"
    api_key: str | None = None
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    max_tokens: int = 4096
    max_steps: int = 12
    max_seconds: float = 120.0
    max_total_tokens: int = 200_000
    max_retries: int = 3
    retry_base_delay: float = 1.0
    provider: Provider = "anthropic"  # the model API "auto" uses
    context_window: int = 200_000
    max_tool_calls_per_turn: int = 8
    max_cost_usd: float = 0.0

    def chosen(self) -> str:
        if self.engine == "auto":
            # A self-hosted OpenAI-compatible server needs no key: its URL configures it.
            configured = self.api_key or (self.provider == "openai" and self.base_url)
            return self.provider if configured else "offline"
        return self.engine

    def limits(self) -> dict[str, Any]:
        return dict(max_tokens=self.max_tokens, max_steps=self.max_steps, max_seconds=self.max_seconds,
                    max_total_tokens=self.max_total_tokens, max_retries=self.max_retries,
                    retry_base_delay=self.retry_base_delay, context_window=self.context_window,
                    max_tool_calls_per_turn=self.max_tool_calls_per_turn, max_cost_usd=self.max_cost_usd)


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


def build_engine(name: str, settings: EngineSettings):
    """The engine `name` (EngineSettings.chosen()) with the settings' provider, model and limits."""
    if name == "anthropic":
        from agents.anthropic.engine import AnthropicEngine

        if not settings.api_key:
            raise RuntimeError("ANTHROPIC_API_KEY is not set")
        return AnthropicEngine(api_key=settings.api_key, model=settings.model, base_url=settings.base_url,
                               **settings.limits())
    if name == "openai":
        from agents.openai.engine import OpenAIEngine

        if not settings.model:
            raise RuntimeError("LLM_MODEL is not set (an OpenAI-compatible server has no default model)")
        return OpenAIEngine(settings.model, api_key=settings.api_key, base_url=settings.base_url, **settings.limits())
    from agents.offline.engine import OfflineEngine

    return OfflineEngine()


async def _diagnose_with(engine, trigger: Trigger, runner: ToolRunner, unavailable: dict[str, str],  # noqa: ANN001
                         scope: TriggerScope) -> Diagnosis:
    # The offline engine starts from the subject the scope resolved (no second lookup); a model
    # resolves it with k8s_subject itself.
    extra = {"subject": scope} if getattr(engine, "name", None) == "offline" else {}
    try:
        return await engine.diagnose(trigger, runner, dict(unavailable), **extra)
    finally:
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()


def model_cost(model: str, usage: Usage) -> ModelCost:
    """What the model used, whether it answered or the offline engine finished after it."""
    return ModelCost(model=model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                     cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens,
                     usd=round(usage.cost_usd, 6) if price_for(model) is not None else None)


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
        diagnosis = await _diagnose_with(build_engine(engine_name, settings), trigger, runner, unavailable, scope)
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
                diagnosis = await _diagnose_with(build_engine("offline", settings), trigger, runner, unavailable,
                                                 scope)
            except Exception as exc2:
                log.exception("offline fallback failed")
                diagnosis = _fallback_diagnosis(trigger, unavailable, f"{type(exc2).__name__}: {exc2}")
    reviewed = review(diagnosis, scope)
    usage = Usage()
    for u in trace.usages:
        usage.add(u)
    cost = model_cost(settings.model, usage) if trace.usages else None  # None: no model was asked
    diagnosis = diagnosis.model_copy(update={"proposals": reviewed.kept, "cost": cost})
    return SessionResult(diagnosis=diagnosis, engine=engine_name, fallback_reason=fallback_reason, usage=usage,
                         tool_calls=len(trace.calls), context_bytes=trace.context_bytes,
                         elapsed=time.monotonic() - started,
                         dropped_proposals=reviewed.dropped, trace=trace, scope=scope)
