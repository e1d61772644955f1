"""The periodic health and audit checks feed the metrics the bot's own alert rules read."""
from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import text

from agents.session import EngineSettings
from bot import audit
from bot.db import transaction
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.service import Workflow
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack


def _value(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


def _workflow(factory, surfaces):
    return Workflow(factory, surfaces, None, EngineSettings(engine="offline"), None)


async def test_health_probe_sets_slack_reachability(migrated):
    _, factory = migrated
    with FakeSlack() as fake:
        wf = _workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake.url))})
        await wf.job_handlers()["health"]({"period": 1})
        assert _value("chatops_slack_connected") == 1.0
        fake.fail("auth.test", error="invalid_auth", status=200)
        await wf.job_handlers()["health"]({"period": 2})
        assert _value("chatops_slack_connected") == 0.0
    gone = _workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, "http://127.0.0.1:9/api/"))})
    await gone.job_handlers()["health"]({"period": 3})
    assert _value("chatops_slack_connected") == 0.0


async def test_audit_verification_reports_a_broken_chain(migrated):
    engine, factory = migrated
    wf = _workflow(factory, {})
    with transaction(factory) as s:
        audit.append(s, actor="t", platform="system", event="x", subject="s", payload={})
    await wf.job_handlers()["audit_verify"]({"period": 1})
    assert _value("chatops_audit_chain_ok") == 1.0 and _value("chatops_audit_last_verified_timestamp_seconds") > 0
    with engine.begin() as c:  # a row inserted behind the chain's back (UPDATE/DELETE are refused by triggers)
        c.execute(text("INSERT INTO audit_log (seq, ts, actor, platform, event, subject, payload, prev_hash, hash) "
                       "VALUES (99, CURRENT_TIMESTAMP, 'mallory', 'system', 'x', 's', '{}', 'bad', 'bad')"))
    await wf.job_handlers()["audit_verify"]({"period": 2})
    assert _value("chatops_audit_chain_ok") == 0.0
    with factory() as s:
        last = s.execute(text("SELECT payload FROM audit_log WHERE event = 'periodic.ran' ORDER BY seq DESC")).first()
    assert '"ok":false' in last[0].replace(" ", "") and "missing" in last[0]
