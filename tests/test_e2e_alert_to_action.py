"""End to end on real components: a Prometheus rule fires → Alertmanager → the bot's webhook →
a threaded diagnosis with buttons in Slack → a signed approve click → the Kubernetes API gets
the patch → the audit chain verifies."""
from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select

from agents.session import EngineSettings
from bot import audit
from bot.remediation import ApprovalPolicy, Signer
from bot.server import build_app
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.service import Workflow
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.slack_support import WEBHOOK_CHANNEL, Harness, block_actions_body, eventually, settings
from tests.support import REPO, need
from tools.actions import ActionExecutor
from tools.k8s import make_api_client
from tools.prometheus.server import AlertmanagerServer, PrometheusServer, find_alertmanager, prometheus_binaries
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"
RULES = {"groups": [{"name": "e2e", "interval": "1s", "rules": [{
    "alert": "KubePodCrashLooping", "expr": "vector(1) > 0", "for": "0s",
    "labels": {"severity": "warning", "namespace": "shop", "pod": "cart-h28nlk7vcb-hsb6l", "container": "cart",
               "reason": "CrashLoopBackOff"},
    "annotations": {"summary": "Pod is crash looping.",
                    "description": "Pod shop/cart-h28nlk7vcb-hsb6l (cart) is in waiting state (CrashLoopBackOff)."}}]}]}


@pytest.mark.slow
async def test_prometheus_rule_to_approved_patch(migrated, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    need(find_alertmanager() is not None, "Alertmanager not installed (apt-get install prometheus-alertmanager)")
    _, factory = migrated
    with FakeSlack() as fake, ScenarioBackends(load_scenario(BUNDLE)) as backends:
        fake.add_channel(WEBHOOK_CHANNEL)
        backends.kube.simulate_controllers(0)

        async def sources():
            return backends.sources()

        executor = ActionExecutor(make_api_client(host=backends.config.kube_host), backends.ctx, verify_timeout=10,
                                  poll_interval=0.2)
        wf = Workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake.url))}, sources,
                      EngineSettings(engine="offline"), executor, concurrency=2,
                      policy=ApprovalPolicy.build(medium=["slack:U0BOB"]),
                      signer=Signer(b"0123456789abcdef0123456789abcdef"), alert_channel={"slack": WEBHOOK_CHANNEL})
        client = TestClient(TestServer(build_app(settings(), wf), host="127.0.0.1"))
        await client.start_server()
        h = Harness(fake, wf, client)
        rules = tmp_path / "rules.yml"
        rules.write_text(yaml.safe_dump(RULES))
        webhook = str(client.make_url("/alertmanager"))
        am = AlertmanagerServer(tmp_path / "am", webhook, webhook_auth="am-secret-token")
        prom = None
        try:
            am_url = am.start()
            prom = PrometheusServer(tmp_path / "prom", rule_files=[rules], alertmanager_url=am_url,
                                    evaluation_interval="1s")
            prom.start()

            def diagnosis_posted():
                roots = fake.messages(WEBHOOK_CHANNEL)
                if not roots:
                    return None
                return next((m for m in fake.thread(WEBHOOK_CHANNEL, roots[0]["ts"])
                             if m.get("blocks") and m["blocks"][0]["type"] == "header"), None)

            assert await eventually(diagnosis_posted, 90), "no diagnosis reached the alert's thread"
        finally:
            if prom is not None:
                prom.stop()  # stop firing before the click, so no repeat notifications race it
            am.stop()
        diagnosis = diagnosis_posted()
        root = fake.messages(WEBHOOK_CHANNEL)[0]
        assert "KubePodCrashLooping" in root["text"]
        assert diagnosis["blocks"][0]["text"]["text"].startswith("Diagnosis: OOM killed · cart")
        actions = [b for b in diagnosis["blocks"] if b["type"] == "actions"]
        approve = next(e for e in actions[0]["elements"] if e["action_id"] == "proposal_approve")

        before = len(backends.kube.requests)
        await h.form(block_actions_body("proposal_approve", approve["value"], channel=WEBHOOK_CHANNEL,
                                        message=diagnosis, user="U0BOB", username="bob"))

        def patched():
            return [r for r in backends.kube.requests[before:] if r["method"] == "PATCH"
                    and r["path"].endswith("/deployments/cart") and "dryRun" not in json.dumps(r.get("query", {}))]

        assert await eventually(patched, 30), "the Kubernetes API never received the patch"
        body = json.dumps(patched()[0].get("body"))
        assert "memory" in body and "768Mi" in body
        await client.close()
    with factory() as s:
        res = audit.verify(s)
        events = [e for e in s.execute(select(audit.AuditEntry.event).order_by(audit.AuditEntry.seq)).scalars()]
    assert res.ok, res.reason
    assert {"incident.opened", "session.started", "diagnosis.recorded", "proposal.created",
            "proposal.executing"} <= set(events), events
