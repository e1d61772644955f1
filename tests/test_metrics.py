"""bot/metrics.py: the bot's own Prometheus metrics, moved by the real code paths (intake, sessions
over a scenario bundle and the Anthropic fake, approval clicks on the fake cluster), exposed on
GET /metrics (parsed with prometheus_client's parser), and label values that stay bounded whatever
arrives. Metrics are process-global, so every check compares values before and after."""
from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections import Counter

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from agents.session import EngineSettings
from agents.trace import Usage
from agents.trigger import Trigger
from bot import metrics
from bot.remediation import click, propose
from bot.sessions import diagnose_and_record
from bot.settings import Settings
from bot.workflow.incidents import open_command_incident, record_firing, record_resolved, request_key
from tests.actions_support import NS, executor, objects
from tests.anthropic_support import VALID, make_tool
from tests.fake_anthropic import FakeAnthropic, api_error, submit, tool_use
from tests.remediation_support import OPS, OPS2, SIGNER, STRANGER, Controller, policy, seed
from tests.slack_support import fake, h  # noqa: F401  (shared fixtures)
from tests.support import REPO, free_port
from tools.actions import CATALOG
from tools.base import ToolRegistry
from tools.intake import parse_alertmanager
from tools.k8s import FakeKubeAPI
from tools.redact import Redactor
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"


def samples(text: str | None = None) -> dict[tuple, float]:
    """Every chatops_ sample as {(name, sorted labels): value}, from the registry or an exposition."""
    families = text_string_to_metric_families(text) if text is not None else REGISTRY.collect()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in families if fam.name.startswith("chatops_") for s in fam.samples
            if not s.name.endswith("_created")}  # creation timestamps, not counts


def changed(before: dict, after: dict, *prefixes: str) -> dict[tuple, float]:
    """What moved between two samples() snapshots, restricted to the given metric names."""
    return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 6) for k in set(before) | set(after)
            if k[0].startswith(prefixes) and after.get(k, 0.0) != before.get(k, 0.0)}


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted(labels.items()))


def alert(status: str = "firing", **label_changes: str):
    raw = dict(load_scenario(BUNDLE).alert, status=status)
    raw["labels"] = {**raw["labels"], **label_changes}
    if label_changes:
        raw.pop("fingerprint", None)
    [a] = parse_alertmanager({"version": "4", "status": status, "receiver": "chatops", "alerts": [raw]}).alerts
    return a


# -- intake -----------------------------------------------------------------------------------

async def test_alerts_received_and_incidents_opened(migrated):
    _, factory = migrated
    before = samples()
    kw = dict(source="alertmanager", platform="slack", channel="C1")
    assert record_firing(factory, alert(), **kw).is_new
    assert not record_firing(factory, alert(), **kw).is_new  # a repeat: received, but opens nothing
    assert record_resolved(factory, alert("resolved"), platform="slack", channel="C1") is not None
    assert record_firing(factory, alert(pod="other-pod"), may_open=False, **kw).status == "deferred"
    # Hostile values: an alert source nobody knows and an incident source outside the vocabulary.
    odd = alert(pod="third").model_copy(update={"source": f"evil {uuid.uuid4()}"})
    assert record_firing(factory, odd, source=f"id-{uuid.uuid4()}", platform="slack", channel="C1").is_new
    req = request_key("slack", "trigger-1")
    assert open_command_incident(factory, "shop/cart", platform="slack", channel="C1", user="U1", namespace="shop",
                                 service="cart", request=req) is not None
    assert open_command_incident(factory, "shop/cart", platform="slack", channel="C1", user="U1", namespace="shop",
                                 service="cart", request=req) is None  # a replay opens nothing
    assert open_command_incident(factory, "cart", platform="console", channel=None, user="me", namespace=None,
                                 service="cart") is not None
    assert changed(before, samples(), "chatops_alerts", "chatops_incidents") == {
        key("chatops_alerts_received_total", source="alertmanager", status="firing"): 3,
        key("chatops_alerts_received_total", source="alertmanager", status="resolved"): 1,
        key("chatops_alerts_received_total", source="other", status="firing"): 1,
        key("chatops_incidents_opened_total", source="alertmanager"): 2,
        key("chatops_incidents_opened_total", source="command"): 1,
        key("chatops_incidents_opened_total", source="console"): 1,
    }


# -- sessions -----------------------------------------------------------------------------------

async def test_offline_session_over_a_scenario_counts_session_and_tool_calls(migrated):
    _, factory = migrated
    a = alert()
    with ScenarioBackends(load_scenario(BUNDLE), use_prometheus=False) as backends:
        sources = backends.sources()
        before = samples()
        rec = await diagnose_and_record(factory, Trigger.from_alert(a), sources.registry, sources.unavailable,
                                        EngineSettings(engine="offline"))
        after = samples()
    calls = rec.result.trace.calls
    assert len(calls) >= 3 and len({c.status for c in calls}) >= 2
    moved = changed(before, after, "chatops_sessions", "chatops_tool_calls_total", "chatops_model")
    expected = {key("chatops_sessions_total", engine="offline", outcome="succeeded"): 1}
    expected.update({key("chatops_tool_calls_total", tool=t, status=s): n
                     for (t, s), n in Counter((c.tool, c.status) for c in calls).items()})
    assert moved == expected  # every call by its registry name and status; no tokens for the offline engine
    fresh = Counter(c.tool for c in calls if not c.cached)
    for tool, n in fresh.items():
        k = key("chatops_tool_call_duration_seconds_count", tool=tool)
        assert after[k] - before.get(k, 0) == n
    total = sum(c.duration_ms for c in calls if not c.cached) / 1000
    grew = sum(after[k] - before.get(k, 0) for k in after if k[0] == "chatops_tool_call_duration_seconds_sum")
    assert grew == pytest.approx(total, abs=1e-3)
    k = key("chatops_session_duration_seconds_sum", engine="offline")
    assert after[k] - before.get(k, 0) == pytest.approx(rec.result.elapsed)


def _anthropic(fake: FakeAnthropic, model: str = "claude-sonnet-5-5") -> EngineSettings:
    return EngineSettings(engine="anthropic", api_key="sk-ant-api03-test", base_url=fake.base_url, max_steps=4,
                          model=model, retry_base_delay=0.001)


def _registry(*tools) -> ToolRegistry:
    return ToolRegistry(redactor=Redactor()).register(*tools)


TRIGGER = Trigger(kind="command", text="why is shop/cart restarting?", namespace="shop", service="cart")


async def test_anthropic_session_counts_tokens_and_cost_by_model(migrated):
    _, factory = migrated
    registry = _registry(make_tool("k8s_pods", {"items": [{"name": "cart-7d9-x", "restarts": 6}]}))
    before = samples()
    async with FakeAnthropic([tool_use(("k8s_pods", {"q": "shop"})), submit(VALID)]) as fake:
        rec = await diagnose_and_record(factory, TRIGGER, registry, {}, _anthropic(fake))
    u = rec.result.usage
    assert rec.result.engine == "anthropic" and u.output_tokens and u.cache_write_tokens and u.cost_usd
    moved = changed(before, samples(), "chatops_sessions", "chatops_tool_calls_total", "chatops_model")
    cost = moved.pop(key("chatops_model_cost_usd_total", model="claude-sonnet-5-5"))
    assert cost == pytest.approx(u.cost_usd) and cost > 0
    tokens = {"input": u.input_tokens, "output": u.output_tokens, "cache_read": u.cache_read_tokens,
              "cache_write": u.cache_write_tokens}
    assert moved == {
        key("chatops_sessions_total", engine="anthropic", outcome="succeeded"): 1,
        key("chatops_tool_calls_total", tool="k8s_pods", status="ok"): 1,
        **{key("chatops_model_tokens_total", model="claude-sonnet-5-5", kind=k): n for k, n in tokens.items() if n},
    }


async def test_fallback_and_cancelled_sessions(migrated):
    _, factory = migrated
    before = samples()
    async with FakeAnthropic(default=api_error(401, "authentication_error", "invalid x-api-key")) as fake:
        rec = await diagnose_and_record(factory, TRIGGER, _registry(make_tool("k8s_pods", {})), {}, _anthropic(fake))
    assert rec.result.engine == "offline" and rec.result.fallback_reason
    started: list = []
    slow = make_tool("k8s_pods", {}, sleep=30, calls=started)
    async with FakeAnthropic([tool_use(("k8s_pods", {"q": "shop"}))]) as fake:
        task = asyncio.ensure_future(diagnose_and_record(factory, TRIGGER, _registry(slow), {}, _anthropic(fake)))
        for _ in range(200):
            if started:
                break
            await asyncio.sleep(0.02)
        assert started, "the session never reached its tool"
        task.cancel()  # e.g. a job timeout
        with pytest.raises(asyncio.CancelledError):
            await task
    moved = changed(before, samples(), "chatops_sessions_total", "chatops_session_duration_seconds_count")
    assert moved == {
        key("chatops_sessions_total", engine="anthropic", outcome="fell_back"): 1,
        key("chatops_sessions_total", engine="anthropic", outcome="failed"): 1,
        key("chatops_session_duration_seconds_count", engine="anthropic"): 2,
    }


# -- approvals and executions -------------------------------------------------------------------

async def test_clicks_count_approvals_and_executions(migrated):
    _, factory = migrated
    with FakeKubeAPI(objects()) as fake, Controller(fake):
        ex = executor(fake)

        async def offer(replicas: int):
            inc, diag = seed(factory)
            [v] = await propose(factory, ex, inc, diag, [{"action_type": "scale_deployment", "target": "cart",
                                                          "namespace": NS, "parameters": {"replicas": replicas}}],
                                OPS, (NS,), None, policy=policy(), signer=SIGNER)
            assert v.offerable, v.reason
            return v

        async def press(v, who, decision="approve"):
            r = await click(factory, ex, v.proposal_id, v.token, who, decision, policy=policy(), signer=SIGNER)
            return r.status if r.status != "failed" else f"failed: {r.message}"

        a, b, c = await offer(6), await offer(5), await offer(4)
        before = samples()
        assert await press(a, STRANGER) == "denied"
        assert await press(a, OPS2) == "executed"
        assert await press(a, OPS) == "already_decided"
        fake.fail("PATCH", "/deployments/cart/scale$", 403)
        assert (await press(b, OPS2)).startswith("failed: ")
        assert await press(c, OPS2, "reject") == "rejected"
        assert (await click(factory, ex, "f" * 32, a.token, OPS, "approve", policy=policy(),
                            signer=SIGNER)).status == "not_found"
    assert changed(before, samples(), "chatops_approvals", "chatops_executions") == {
        key("chatops_approvals_total", outcome="denied"): 1,
        key("chatops_approvals_total", outcome="approved"): 2,
        key("chatops_approvals_total", outcome="already_decided"): 1,
        key("chatops_approvals_total", outcome="rejected"): 1,
        key("chatops_approvals_total", outcome="not_found"): 1,
        key("chatops_executions_total", action="scale_deployment", outcome="succeeded"): 1,
        key("chatops_executions_total", action="scale_deployment", outcome="failed"): 1,
    }


async def test_auto_approval_and_unverified_execution(migrated, monkeypatch):
    _, factory = migrated
    monkeypatch.setitem(CATALOG, "uncordon_node", dataclasses.replace(CATALOG["uncordon_node"], risk="LOW"))
    before = samples()
    with FakeKubeAPI(objects()) as fake:  # no controller: a scale never converges
        inc, diag = seed(factory, findings=("node node-2 cordoned",))
        [w] = await propose(factory, executor(fake), inc, diag, [{"action_type": "uncordon_node", "target": "node-2"}],
                            OPS, (NS,), None, policy=policy(auto_approve_low=True), signer=SIGNER)
        assert w.state == "succeeded"
        ex = executor(fake, verify_timeout=0.3)
        inc, diag = seed(factory)
        [v] = await propose(factory, ex, inc, diag, [{"action_type": "scale_deployment", "target": "cart",
                                                      "namespace": NS, "parameters": {"replicas": 8}}],
                            OPS, (NS,), None, policy=policy(), signer=SIGNER)
        r = await click(factory, ex, v.proposal_id, v.token, OPS2, "approve", policy=policy(), signer=SIGNER)
        assert (r.status, r.executed) == ("failed", True)
    assert changed(before, samples(), "chatops_approvals", "chatops_executions") == {
        key("chatops_approvals_total", outcome="auto_approved"): 1,
        key("chatops_approvals_total", outcome="approved"): 1,
        key("chatops_executions_total", action="uncordon_node", outcome="succeeded"): 1,
        key("chatops_executions_total", action="scale_deployment", outcome="unverified"): 1,
    }


# -- exposition ---------------------------------------------------------------------------------

async def _scrape(client) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
    return await resp.text()


async def test_metrics_route_exposes_what_the_intake_counted(h, tmp_path):
    from bot import migrate
    from bot.db import make_engine, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    first = await _scrape(h.client)
    assert record_firing(session_factory(engine), alert(), source="alertmanager", platform="slack",
                         channel="C1").is_new
    second = await _scrape(h.client)
    engine.dispose()
    assert changed(samples(first), samples(second), "chatops_alerts", "chatops_incidents") == {
        key("chatops_alerts_received_total", source="alertmanager", status="firing"): 1,
        key("chatops_incidents_opened_total", source="alertmanager"): 1,
    }
    info = [k for k in samples(second) if k[0] == "chatops_build_info"]
    assert len(info) == 1 and samples(second)[info[0]] == 1 and dict(info[0][1])["version"]


async def test_queue_probe_is_read_at_scrape_time_off_the_event_loop(h, monkeypatch):
    monkeypatch.setattr(metrics.QUEUE, "timeout", 1.0)
    previous = metrics.register_queue_probe(lambda: (3, 42.5))
    try:
        got = samples(await _scrape(h.client))
        assert got[key("chatops_jobs_queued")] == 3 and got[key("chatops_oldest_job_age_seconds")] == 42.5

        metrics.register_queue_probe(lambda: (0, None))  # nothing waits
        got = samples(await _scrape(h.client))
        assert got[key("chatops_jobs_queued")] == 0 and got[key("chatops_oldest_job_age_seconds")] == 0

        release, runs = threading.Event(), []

        def stuck():  # a database that does not answer
            runs.append(1)
            release.wait(10)
            return 1, 1.0

        metrics.register_queue_probe(stuck)
        t0 = time.monotonic()
        scrape = asyncio.ensure_future(h.client.get("/metrics"))
        await asyncio.sleep(0.2)
        health = await h.client.get("/healthz")  # the event loop is free while the probe waits
        assert health.status == 200 and time.monotonic() - t0 < 0.9 and not scrape.done()
        resp = await scrape
        body = await resp.text()
        assert resp.status == 200 and 0.9 < time.monotonic() - t0 < 3
        assert key("chatops_jobs_queued") not in samples(body) and "chatops_alerts_received_total" in body
        await _scrape(h.client)  # the stuck probe is still running: waited for again, not started twice
        assert runs == [1]
        release.set()

        def broken():
            raise RuntimeError("relation procrastinate_jobs does not exist")

        metrics.register_queue_probe(broken)
        await asyncio.sleep(0.1)  # the stuck probe finishes
        assert key("chatops_jobs_queued") not in samples(await _scrape(h.client))
    finally:
        metrics.register_queue_probe(previous)


async def test_worker_metrics_server():
    port = free_port()
    runner = await metrics.start_metrics_server("127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
                assert key("chatops_build_info", version=metrics._version()) in samples(await resp.text())
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
    finally:
        await runner.cleanup()
    assert await metrics.start_metrics_server("127.0.0.1", 0) is None  # METRICS_PORT=0: disabled


def test_metrics_port_setting(monkeypatch):
    assert Settings(_env_file=None).metrics_port == 9464
    monkeypatch.setenv("METRICS_PORT", "0")
    assert Settings(_env_file=None).metrics_port == 0
    monkeypatch.setenv("METRICS_PORT", "-1")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


# -- bounded labels -----------------------------------------------------------------------------

def test_hostile_label_values_stay_bounded(monkeypatch):
    # The first-seen sets are restored afterwards, so other tests' model names are not crowded out.
    monkeypatch.setattr(metrics.MODELS, "seen", set(metrics.MODELS.seen))
    monkeypatch.setattr(metrics.TOOLS, "seen", set(metrics.TOOLS.seen))
    hostile = [f"{uuid.uuid4()}" for _ in range(4000)] + \
              [f'free text {i}: "quoted"}} \n{{evil="1"}} ünïcødé' for i in range(3000)] + \
              [f"incident/{i:06d}" for i in range(3000)]
    assert len(set(hostile)) == 10_000
    known = frozenset({"k8s_pods"})
    for v in hostile:
        metrics.alert_received(v, v)
        metrics.incident_opened(v)
        metrics.session_finished(v, v, 1.0)
        metrics.model_usage(v, Usage(input_tokens=1, output_tokens=1, cost_usd=0.001))
        metrics.tool_called(v, v, 5.0, known)
        metrics.tool_called(v, "ok", 5.0, frozenset({v}))  # a registry built from input: still capped
        metrics.approval(v)
        metrics.execution(v, v, ("scale_deployment",))
    values: dict[tuple[str, str], set[str]] = {}
    for fam in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for s in fam.samples:
            for label, value in s.labels.items():
                if fam.name.startswith("chatops_") and label != "le":
                    values.setdefault((fam.name, label), set()).add(value)
    bounds = {
        ("chatops_alerts_received", "source"): len(metrics.ALERT_SOURCES) + 1,
        ("chatops_alerts_received", "status"): 3,
        ("chatops_incidents_opened", "source"): len(metrics.INCIDENT_SOURCES) + 1,
        ("chatops_sessions", "engine"): len(metrics.ENGINES) + 1,
        ("chatops_sessions", "outcome"): len(metrics.SESSION_OUTCOMES) + 1,
        ("chatops_session_duration_seconds", "engine"): len(metrics.ENGINES) + 1,
        ("chatops_model_tokens", "model"): metrics.MODEL_LIMIT + 1,
        ("chatops_model_tokens", "kind"): len(metrics.TOKEN_KINDS),
        ("chatops_model_cost_usd", "model"): metrics.MODEL_LIMIT + 1,
        ("chatops_tool_calls", "tool"): metrics.TOOL_LIMIT + 1,
        ("chatops_tool_calls", "status"): len(metrics.TOOL_STATUSES) + 1,
        ("chatops_tool_call_duration_seconds", "tool"): metrics.TOOL_LIMIT + 1,
        ("chatops_approvals", "outcome"): len(metrics.APPROVAL_OUTCOMES) + 1,
        ("chatops_executions", "outcome"): len(metrics.EXECUTION_OUTCOMES) + 1,
    }
    for (name, label), bound in bounds.items():
        seen = values.get((name, label), set())
        assert 1 < len(seen) <= bound, (name, label, len(seen), sorted(seen)[:5])
    assert values[("chatops_executions", "action")] <= set(CATALOG) | {"other"}
    assert "other" in values[("chatops_executions", "action")]
    # What is admitted to an open label is normalised: no spaces, quotes, braces or newlines.
    for label_values in (values[("chatops_model_tokens", "model")], values[("chatops_tool_calls", "tool")]):
        assert all(v == v.strip() and not set(v) & set(' "{}\n=') and len(v) <= 64 for v in label_values)
    assert not any(v in values.get(("chatops_sessions", "engine"), set()) for v in hostile)
