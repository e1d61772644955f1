"""The bot's own Prometheus metrics: the monitoring of the agent itself.

Every metric lives in prometheus_client's default registry, so `GET /metrics` on `chatops serve`
(bot/server.py) and the worker's small metrics server (start_metrics_server) expose the same set.
Call sites use the record functions below, never the metric objects, because those functions are
where label values are bounded: a label value is an engine, outcome, status or action from a fixed
vocabulary, a tool the registry knows, or a model name among the first MODEL_LIMIT seen; anything
else becomes "other". No ids, no free text: one hostile alert must not create a time series.

The queue gauges are read at scrape time from the probe the job layer registers
(register_queue_probe). It reads the database, so it runs in its own thread with a short timeout
and a scrape never waits longer than PROBE_TIMEOUT for it; the aiohttp routes render the whole
exposition in a worker thread, never on the event loop.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Collection, Iterable, get_args

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from bot.models import INCIDENT_SOURCES
from tools.base import Status

log = logging.getLogger(__name__)

OTHER = "other"
# Who sent an alert, as the intake parsers name it (tools.intake Alert.source); an incident's source
# (how it was opened) is bot.models.INCIDENT_SOURCES.
ALERT_SOURCES = ("alertmanager", "grafana", "slack", "teams", "pagerduty", "datadog", "opsgenie", "robusta", "text")
ENGINES = ("offline", "anthropic", "openai")
SESSION_OUTCOMES = ("succeeded", "fell_back", "failed")  # fell_back: the chosen engine failed, offline finished
TOOL_STATUSES = get_args(Status)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
# A click's outcome: bot.remediation.views.ClickResult.status for clicks that decide nothing, "approved"
# for the click that claimed execution, "auto_approved" for AUTO_APPROVE_LOW.
APPROVAL_OUTCOMES = ("recorded", "approved", "auto_approved", "rejected", "duplicate", "denied", "invalid_token",
                     "already_decided", "expired", "not_offerable", "not_found")
EXECUTION_OUTCOMES = ("succeeded", "failed", "unverified")  # unverified: applied, but did not converge
MODEL_LIMIT = 20
TOOL_LIMIT = 200  # far above the registry's size; a backstop should a registry ever be built from input
PROBE_TIMEOUT = 2.0

ALERTS_RECEIVED = Counter("chatops_alerts_received_total",
                          "Alerts received (firing or resolved), by the sender the intake recognised.",
                          ["source", "status"])
INCIDENTS_OPENED = Counter("chatops_incidents_opened_total", "Incidents opened, by source.", ["source"])
SESSIONS = Counter("chatops_sessions_total", "Diagnosis sessions finished, by the engine chosen and the outcome.",
                   ["engine", "outcome"])
SESSION_DURATION = Histogram("chatops_session_duration_seconds", "Wall time of a diagnosis session.", ["engine"],
                             buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600))
TOOL_CALLS = Counter("chatops_tool_calls_total", "Tool calls made by sessions, by tool and result status.",
                     ["tool", "status"])
TOOL_DURATION = Histogram("chatops_tool_call_duration_seconds",
                          "Latency of tool calls that reached their backend (answers from the session's memo "
                          "are counted in chatops_tool_calls_total only).", ["tool"],
                          buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
MODEL_TOKENS = Counter("chatops_model_tokens_total", "Model tokens used, by model and kind.", ["model", "kind"])
MODEL_COST = Counter("chatops_model_cost_usd_total", "Estimated model cost in US dollars, by model.", ["model"])
APPROVALS = Counter("chatops_approvals_total", "Approve/reject clicks (and auto-approvals), by outcome.",
                    ["outcome"])
EXECUTIONS = Counter("chatops_executions_total", "Remediation actions executed, by action and outcome.",
                     ["action", "outcome"])
BUILD_INFO = Gauge("chatops_build_info", "The running version (always 1).", ["version"])


class Observed:
    """Gauges a process exports only once it has observed something: the periodic checks run in one
    process per period, and a process that never checked must not report a default 0 as a failure."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}

    def set(self, name: str, help_text: str, value: float) -> None:
        self.values[name] = (help_text, float(value))

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (help_text, value) in sorted(self.values.items()):
            yield GaugeMetricFamily(name, help_text, value=value)


OBSERVED = Observed()
REGISTRY.register(OBSERVED)


def _version() -> str:
    try:
        return version("chatops-incident-bot")
    except PackageNotFoundError:  # a checkout that was never pip-installed
        return "unknown"


BUILD_INFO.labels(_version()).set(1)


def bounded(value: Any, allowed: Collection[str]) -> str:
    """value when it belongs to the fixed vocabulary, else "other"."""
    return value if isinstance(value, str) and value in allowed else OTHER


class FirstSeen:
    """An open label (model names) bounded to its first `limit` distinct normalised values."""

    _JUNK = re.compile(r"[^a-z0-9._:-]+")

    def __init__(self, limit: int, max_len: int = 64):
        self.limit, self.max_len = limit, max_len
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: Any) -> str:
        name = self._JUNK.sub("-", str(value or "").strip().lower())[: self.max_len].strip("-")
        if not name or name == OTHER:
            return OTHER
        with self._lock:
            if name in self.seen:
                return name
            if len(self.seen) >= self.limit:
                return OTHER
            self.seen.add(name)
            return name


MODELS = FirstSeen(MODEL_LIMIT)
TOOLS = FirstSeen(TOOL_LIMIT)


# -- what the bot records --------------------------------------------------------------------

def alert_received(source: str, status: str) -> None:
    ALERTS_RECEIVED.labels(bounded(source, ALERT_SOURCES), bounded(status, ("firing", "resolved"))).inc()


def incident_opened(source: str) -> None:
    INCIDENTS_OPENED.labels(bounded(source, INCIDENT_SOURCES)).inc()


def session_finished(engine: str, outcome: str, seconds: float) -> None:
    engine = bounded(engine, ENGINES)
    SESSIONS.labels(engine, bounded(outcome, SESSION_OUTCOMES)).inc()
    SESSION_DURATION.labels(engine).observe(max(0.0, seconds))


def model_usage(model: str, usage: Any) -> None:
    """usage: an agents.trace.Usage. Nothing is recorded for a session that used no model."""
    counts = dict(zip(TOKEN_KINDS, (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
                                    usage.cache_write_tokens)))
    if not any(counts.values()) and not usage.cost_usd:
        return
    name = MODELS(model)
    for kind, n in counts.items():
        if n > 0:
            MODEL_TOKENS.labels(name, kind).inc(n)
    if usage.cost_usd > 0:
        MODEL_COST.labels(name).inc(usage.cost_usd)


def tool_called(tool: str, status: str, duration_ms: float, known: Collection[str], cached: bool = False) -> None:
    """`known`: the registry's tool names; a name a model made up is "other"."""
    name = TOOLS(tool) if tool in known else OTHER
    TOOL_CALLS.labels(name, bounded(status, TOOL_STATUSES)).inc()
    if not cached:
        TOOL_DURATION.labels(name).observe(max(0.0, duration_ms) / 1000)


def approval(outcome: str) -> None:
    APPROVALS.labels(bounded(outcome, APPROVAL_OUTCOMES)).inc()


def execution(action: str, outcome: str, actions: Collection[str]) -> None:
    """`actions`: the action catalog's names."""
    EXECUTIONS.labels(bounded(action, actions), bounded(outcome, EXECUTION_OUTCOMES)).inc()


# -- the queue gauges, read at scrape time ----------------------------------------------------

QueueProbe = Callable[[], "tuple[int, float | None]"]


class QueueCollector:
    """chatops_jobs_queued and chatops_oldest_job_age_seconds from the registered probe. One probe
    runs at a time, in a daemon thread: a scrape arriving while a slow probe is still running waits
    for that same probe (up to PROBE_TIMEOUT) instead of starting another, so a stuck database
    costs one thread, not one per scrape. When the probe fails or is late, both gauges are left
    out of that scrape (absent, not a stale number) and the reason is logged."""

    def __init__(self, timeout: float = PROBE_TIMEOUT):
        self.timeout = timeout
        self.probe: QueueProbe | None = None
        self._running: concurrent.futures.Future | None = None
        self._lock = threading.Lock()

    def _future(self, probe: QueueProbe) -> concurrent.futures.Future:
        with self._lock:
            if self._running is not None and not self._running.done():
                return self._running
            fut: concurrent.futures.Future = concurrent.futures.Future()

            def run() -> None:
                try:
                    fut.set_result(probe())
                except BaseException as exc:  # handed to the scrape that waits for it
                    fut.set_exception(exc)

            threading.Thread(target=run, name="metrics-queue-probe", daemon=True).start()
            self._running = fut
            return fut

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return self._families()

    def _families(self, depth: float | None = None, age: float | None = None) -> list[GaugeMetricFamily]:
        queued = GaugeMetricFamily("chatops_jobs_queued", "Jobs waiting in the queue (read at scrape time).")
        oldest = GaugeMetricFamily("chatops_oldest_job_age_seconds",
                                   "Age of the oldest waiting job; 0 when none waits (read at scrape time).")
        if depth is not None:
            queued.add_metric([], depth)
            oldest.add_metric([], age or 0.0)
        return [queued, oldest]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        probe = self.probe
        if probe is None:
            return []
        try:
            depth, age = self._future(probe).result(timeout=self.timeout)
            return self._families(float(depth), float(age or 0.0))
        except concurrent.futures.TimeoutError:
            log.warning("queue probe did not answer within %.1fs; queue gauges left out of this scrape",
                        self.timeout)
        except Exception as exc:
            log.warning("queue probe failed (%s: %s); queue gauges left out of this scrape",
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        return []


QUEUE = QueueCollector()
REGISTRY.register(QUEUE)


def register_queue_probe(probe: QueueProbe | None) -> QueueProbe | None:
    """Set the function returning (jobs waiting, age in seconds of the oldest or None); one per
    process, called at scrape time. None removes it. Returns the probe it replaced."""
    previous, QUEUE.probe = QUEUE.probe, probe
    return previous


# -- exposition ------------------------------------------------------------------------------

async def metrics_response(request: web.Request) -> web.Response:
    """GET /metrics: rendered in a worker thread, since the queue probe may wait on the database."""
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def start_metrics_server(host: str, port: int) -> web.AppRunner | None:
    """A tiny server with only GET /metrics and GET /healthz, for processes that serve nothing else
    (`chatops worker`); the caller awaits runner.cleanup() on shutdown. port 0 (METRICS_PORT=0)
    means disabled: nothing listens and the answer is None. Several workers on one host need one
    port each."""
    if not port:
        return None

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics_response)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def audit_verified(ok: bool) -> None:
    OBSERVED.set("chatops_audit_chain_ok", "1 when this process's last audit-chain verification passed, 0 when "
                 "it found a broken link (periodic audit_verify task).", 1 if ok else 0)
    OBSERVED.set("chatops_audit_last_verified_timestamp_seconds", "When this process last verified the audit "
                 "chain (Unix time).", time.time())


def slack_reachable(ok: bool) -> None:
    OBSERVED.set("chatops_slack_connected", "1 while Slack is reachable as this process last saw it (Socket Mode "
                 "connected, or the periodic auth.test probe answered), 0 after a failure.", 1 if ok else 0)
