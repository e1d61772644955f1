"""One session: one trigger in, one evidence-backed Diagnosis out, whatever fails on the way.

Engine choice: Anthropic when an API key is configured (or asked for), else offline. If the
model API is unavailable (retries exhausted, auth refused) or the engine fails, the offline
engine finishes the job with the same ToolRunner, so tool results already fetched are reused.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from agents.coordinator import Scope, review
from agents.diagnosis import Diagnosis
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
    dropped_proposals: list[tuple[str, str]] = field(default_factory=list)
    trace: ListTracer = field(default_factory=ListTracer)


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


# Keys whose values name Kubernetes objects in structured tool results. Free text (log lines,
# templates, event messages) is deliberately not scope: an injected log line must not be able
# to put "payments" or "node-9" in play just by mentioning them.
OBJECT_KEYS = frozenset({"name", "pod", "pod_name", "deployment", "node", "nodename", "node_name", "owner",
                         "workload", "statefulset", "daemonset", "replicaset", "job", "job_name", "cronjob",
                         "container", "service", "app", "host"})
POD_HASH = re.compile(r"^(?P<owner>[a-z0-9][-a-z0-9]*?)-(?:[a-z0-9]{8,10}-)?[a-z0-9]{5}$")


def build_scope(trigger: Trigger, runner: ToolRunner, allowlist: tuple[str, ...],
                risk_overrides: dict[str, str] | None = None) -> Scope:
    """Scope = the trigger's namespace and labels, plus object names and namespaces from structured results."""
    names: set[str] = {x for x in (trigger.service, trigger.pod) if x}
    namespaces = {trigger.namespace} if trigger.namespace else set()
    if trigger.alert is not None:
        names.update(v for k, v in trigger.alert.labels.items() if k in OBJECT_KEYS)
    for key, result in runner._memo.items():  # noqa: SLF001 (the runner is ours)
        if result.status == "ok":
            _collect(result.data, names, namespaces)
            # A namespace a tool was asked about and returned data for was observed, even when the
            # result itself (log templates) carries no namespace field.
            ns = runner.args.get(key, {}).get("namespace")
            if isinstance(ns, str):
                namespaces.add(ns)
    for n in list(names):  # a pod name also puts its controller in scope (cart-7d9f8c6b5-x2kqz -> cart)
        m = POD_HASH.match(n)
        if m:
            names.add(m.group("owner"))
    return Scope(namespaces={n for n in namespaces if n}, names=frozenset(names),
                 namespace_allowlist=allowlist, risk_overrides=risk_overrides or {})


def _collect(data, names: set[str], namespaces: set[str], depth: int = 0) -> None:
    if depth > 8:
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, str):
                if k in ("namespace", "namespace_name"):
                    namespaces.add(v)
                elif k in OBJECT_KEYS and len(v) <= 253:
                    names.add(v)
            else:
                _collect(v, names, namespaces, depth + 1)
    elif isinstance(data, list):
        for x in data[:1000]:
            _collect(x, names, namespaces, depth + 1)


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
    fallback_reason: str | None = None
    diagnosis: Diagnosis | None = None
    try:
        diagnosis = await _make_engine(engine_name, settings).diagnose(trigger, runner, dict(unavailable))
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
    scope = build_scope(trigger, runner, namespace_allowlist, risk_overrides)
    reviewed = review(diagnosis, scope)
    diagnosis = diagnosis.model_copy(update={"proposals": reviewed.kept})
    usage = Usage()
    for u in trace.usages:
        usage.add(u)
    return SessionResult(diagnosis=diagnosis, engine=engine_name, fallback_reason=fallback_reason, usage=usage,
                         tool_calls=len(trace.calls), context_bytes=trace.context_bytes,
                         elapsed=time.monotonic() - started,
                         dropped_proposals=[(f"{p.action_type} {p.namespace or ''}/{p.target}", why)
                                            for p, why in reviewed.dropped],
                         trace=trace)
