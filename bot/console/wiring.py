"""Everything the console runs on, from Settings and an optional scenario bundle.

The embedded defaults: SQLite in DATA_DIR (migrated on start), embedded Chroma knowledge with
the bundled runbooks, the offline engine unless ANTHROPIC_API_KEY is set. With a scenario, its
data is served by the replay backends and remediation acts on the scenario's loopback fake
Kubernetes API (with simulated controllers, so rollouts converge and verification runs).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.deferred import Deferred, DeferredExecutor
from bot.remediation import ApprovalPolicy
from bot.settings import Settings
from tools.sources import Sources

log = logging.getLogger(__name__)

DEMO_APPROVERS = ("console:alice", "console:bob")
CONTROLLER_DELAY = 0.5  # seconds the fake controllers take to roll out: visible, but quick
VERIFY_POLL = 0.5


def console_policy(s: Settings) -> tuple[ApprovalPolicy, str | None]:
    """The configured policy; with no APPROVERS_* at all, two demo approvers for this console only
    (so the two-person rule and the self-approval refusal can be tried without configuration).
    The server's policy is untouched: it is built from Settings elsewhere."""
    if s.approvers_medium or s.approvers_high or s.approvers_critical:
        return ApprovalPolicy.from_settings(s), None
    policy = ApprovalPolicy.build(medium=DEMO_APPROVERS, high=DEMO_APPROVERS, critical=DEMO_APPROVERS,
                                  auto_approve_low=s.auto_approve_low, ttl_minutes=s.proposal_ttl_minutes,
                                  risk_overrides=s.risk_overrides, scale_bounds=(s.scale_min, s.scale_max))
    note = (f"no APPROVERS_* configured: in this console {' and '.join(DEMO_APPROVERS)} may approve MEDIUM, HIGH "
            "and CRITICAL actions (console only; the Slack/Teams server's policy is unchanged)")
    return policy, note


@dataclass
class SourcesProvider:
    """A fresh tool registry per session; the provider owns the clients and closes them at exit."""

    build: Any  # () -> Sources

    async def __call__(self) -> Sources:
        # The workflow closes each session's Sources when the session ends (also on cancellation),
        # so nothing is retained here: a long-running server must not accumulate clients.
        return self.build()

    def close(self) -> None:
        pass


@dataclass
class ConsoleRuntime:
    provider: SourcesProvider
    executor: Any
    notes: list[str]          # what the console runs on, one line each
    closers: list[Any]
    knowledge: Any = None     # KnowledgeBase that resolved incidents are written into
    opening: Any = None       # bot.deferred.Deferred of _knowledge's result (settings_runtime)

    def finish_opening(self) -> Any:
        """Open what settings_runtime deferred (blocks: call it in a thread), fill `notes`; the
        KnowledgeBase, or None."""
        if self.opening is not None:
            # The executor first: it takes a fraction of a second, and a click would build it on the loop.
            unavailable = getattr(self.executor, "reason", None)
            _, note, self.knowledge = self.opening.get()
            self.notes = [note]
            if unavailable:
                self.notes.append("remediation: no Kubernetes API (see kubernetes below), so approved actions "
                                  "will fail")
        return self.knowledge

    def close(self) -> None:
        self.provider.close()
        while self.closers:
            try:
                self.closers.pop()()
            except Exception:
                log.debug("closing console runtime failed", exc_info=True)


def _knowledge(s: Settings, ctx: Any, enabled: bool) -> tuple[list, str, Any]:
    if not enabled:
        return [], "knowledge: disabled (--no-knowledge)", None
    from bot.wiring import open_knowledge

    tools, reason, kb = open_knowledge(s, ctx)
    if reason:
        return tools, f"knowledge: unavailable ({reason}); continuing without runbooks", None
    where = s.chroma_url or f"embedded Chroma in {s.data_dir / 'chroma'}"
    return tools, f"knowledge: runbooks and past incidents from {where}", kb


def scenario_runtime(s: Settings, scenario: Any, use_knowledge: bool = True) -> ConsoleRuntime:
    from bot.remediation import UnavailableExecutor
    from tools.actions import ActionExecutor
    from tools.k8s import make_api_client
    from tools.scenario.backends import ScenarioBackends

    backends = ScenarioBackends(scenario, timeout=s.tool_timeout_seconds,
                                namespace_allowlist=s.kube_namespace_allowlist)
    backends.start()
    try:
        extra, knote, kb = _knowledge(s, backends.ctx, use_knowledge)
        notes = [f"scenario: {scenario.id} · {scenario.title} (diagnosed as of {scenario.now.isoformat()})", knote]
        if backends.prometheus is not None:
            notes.append("metrics: the scenario's metrics, replayed into a local Prometheus")
        if backends.opensearch is not None:
            notes.append("logs: the scenario's logs, served by a loopback OpenSearch API")
        if backends.kube is not None:
            backends.kube.simulate_controllers(delay=CONTROLLER_DELAY)
            api = make_api_client(host=backends.config.kube_host)
            executor = ActionExecutor(api, backends.ctx, scale_bounds=(s.scale_min, s.scale_max),
                                      verify_timeout=s.action_verify_timeout_seconds, poll_interval=VERIFY_POLL)
            notes.append("kubernetes: the scenario's objects, served by a loopback fake API; approved actions "
                         "change that fake (no real cluster is touched)")
            closers = [backends.stop, api.close]
        else:
            executor = UnavailableExecutor("the scenario has no Kubernetes objects")
            closers = [backends.stop]
    except BaseException:
        backends.stop()
        raise
    provider = SourcesProvider(lambda: backends.sources(extra_tools=extra))
    return ConsoleRuntime(provider, executor, notes, closers, knowledge=kb)


def settings_runtime(s: Settings, use_knowledge: bool = True, defer: bool = False) -> ConsoleRuntime:
    """With `defer`, the knowledge base and the executor are built later, once (bot/deferred.py): by
    finish_opening, by the first session's tools (which wait for the knowledge base), or by the
    executor's first use. Without it they are built here."""
    from bot.remediation import executor_from_settings
    from bot.wiring import source_config, tool_context
    from tools.sources import build_sources

    ctx = tool_context(s)
    opening = Deferred(lambda: _knowledge(s, ctx, use_knowledge))
    executor = DeferredExecutor(lambda: executor_from_settings(s))
    cfg = source_config(s)
    provider = SourcesProvider(lambda: build_sources(cfg, ctx, extra_tools=opening.get()[0]))
    runtime = ConsoleRuntime(provider, executor, [], [executor.close], opening=opening)
    if not defer:
        runtime.finish_opening()
    return runtime
