"""`chatops mcp` driven by the official MCP client, over stdio and over streamable HTTP.

Real processes on a scenario's fakes (shop-cart-crashloop: Kubernetes and OpenSearch fakes, the
Slack fake): diagnose, poll, read the diagnosis, propose an action, and find its buttons in the
incident's Slack thread; then every way a client might try to approve fails, scopes and tokens are
enforced, the namespace allowlist refuses other namespaces, and every call is in the audit log.
"""
from __future__ import annotations

import getpass
import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import create_engine, text

from tests.deployment_support import CHANNEL, Deployment
from tests.fake_slack import FakeSlack
from tests.mcp_support import (OPS_TOKEN, VIEWER_TOKEN, buttons_in_thread, call, clients_setting, diagnosed,
                               http_session, start_http, stdio_session)
from tests.support import REPO
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

pytestmark = pytest.mark.slow
BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"
TOOLS = {"diagnose", "get_incident", "list_incidents", "get_diagnosis", "search_knowledge", "propose_action"}
SET_MEMORY = {"action_type": "set_resources", "target": "cart", "namespace": "shop",
              "parameters": {"container": "cart", "memory_limit": "1Gi"}}


@pytest.fixture(scope="module")
def dep(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    scenario = load_scenario(BUNDLE)
    slack = FakeSlack()
    slack.start()
    slack.add_channel(CHANNEL)
    backends = ScenarioBackends(scenario, use_prometheus=False).__enter__()
    d = Deployment(root, f"sqlite:///{root / 'chatops.db'}", slack, backends.config.kube_host,
                   backends.config.opensearch_url,
                   extra_env={"KUBE_NAMESPACE_ALLOWLIST": "shop", "MCP_CLIENTS": clients_setting(),
                              "PERIODIC_SECONDS": "60"})
    migrate = d.start("migrate", "db", "upgrade")
    assert migrate.popen.wait(120) == 0, migrate.text()
    yield d
    d.stop()
    backends.stop()
    slack.stop()


def _db(dep: Deployment):  # noqa: ANN202
    return create_engine(dep.database_url)


def _rows(dep: Deployment, sql: str, **params) -> list:  # noqa: ANN003
    engine = _db(dep)
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql), params))
    finally:
        engine.dispose()


async def _diagnose_and_propose(client, dep: Deployment) -> tuple[str, dict]:  # noqa: ANN001
    ok, started = await call(client, "diagnose", target="shop/cart")
    assert ok, started
    assert started["status"] == "queued" and started["chat"] == {"platform": "slack", "channel": CHANNEL}
    incident_id = started["incident_id"]
    inc = await diagnosed(client, incident_id)
    assert inc["status"] == "diagnosed", inc
    ok, diag = await call(client, "get_diagnosis", incident_id=incident_id)
    assert ok and diag["diagnosis"]["category"] == "oom_killed" and diag["diagnosis"]["component"] == "cart"
    assert diag["action_scope"]["namespace"] == "shop"
    ok, prop = await call(client, "propose_action", incident_id=incident_id, **SET_MEMORY,
                          rationale="cart is OOMKilled at its 512Mi limit")
    assert ok, prop
    assert prop["state"] == "proposed" and prop["offered"] and prop["risk"] == "MEDIUM"
    assert prop["approvals_required"] == 1 and prop["posted"]["platform"] == "slack"
    assert prop["posted"]["thread"] == inc["chat"]["thread"]
    return incident_id, prop


async def test_stdio_client_diagnoses_proposes_and_cannot_approve(dep):
    async with stdio_session(dep) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == TOOLS
        assert listed["get_diagnosis"].annotations.read_only_hint is True
        assert listed["propose_action"].input_schema["additionalProperties"] is False

        incident_id, prop = await _diagnose_and_propose(client, dep)
        pid = prop["proposal_id"]

        # The buttons are in the incident's Slack thread, where a person decides.
        buttons = buttons_in_thread(dep.slack, CHANNEL, prop["posted"]["thread"], pid)
        assert sorted(b["action_id"] for b in buttons) == ["proposal_approve", "proposal_reject"]
        token = buttons[0]["value"].split("|", 1)[1]
        assert len(token) > 20

        # Every way to approve through MCP fails.
        attempts = [await client.call_tool(name, {"proposal_id": pid, "token": token})
                    for name in ("approve", "reject", "execute", "approve_proposal")]
        assert all(r.is_error and "Unknown tool" in r.content[0].text for r in attempts)
        for name in sorted(TOOLS):  # no tool takes a token or a state: extra arguments are refused
            res = await client.call_tool(name, {"incident_id": incident_id, "proposal_id": pid, "token": token,
                                                "state": "approved", "decision": "approve"})
            assert res.is_error and "invalid arguments" in res.content[0].text, (name, res)
        again = await client.call_tool("propose_action", {"incident_id": incident_id, **SET_MEMORY,
                                                          "token": token, "state": "approved"})
        assert again.is_error and "Additional properties are not allowed" in again.content[0].text

        # Nothing any MCP answer said carries the button token.
        ok, inc = await call(client, "get_incident", incident_id=incident_id)
        ok2, diag = await call(client, "get_diagnosis", incident_id=incident_id)
        assert ok and ok2 and token not in json.dumps([inc, diag, prop])
        states = {p["proposal_id"]: p["state"] for p in inc["proposals"]}
        assert states[pid] == "proposed"

        # Resources: runbooks and (allowlisted) incident memories.
        resources = {r.uri for r in (await client.list_resources()).resources}
        assert "runbook://oom-killed" in resources
        body = await client.read_resource("runbook://oom-killed")
        assert "OOM" in body.contents[0].text
        with pytest.raises(Exception, match="no resource"):
            await client.read_resource("runbook://../../etc/passwd")

        # The namespace allowlist applies before anything happens.
        ok, refused = await call(client, "diagnose", target="prod/payments")
        assert not ok and "outside KUBE_NAMESPACE_ALLOWLIST" in refused["error"]
        ok, refused = await call(client, "propose_action", incident_id=incident_id, action_type="restart_deployment",
                                 target="payments", namespace="prod")
        assert not ok and "outside KUBE_NAMESPACE_ALLOWLIST" in refused["error"]

    assert _rows(dep, "SELECT state FROM remediation_proposals WHERE id = :p", p=pid)[0][0] == "proposed"
    assert _rows(dep, "SELECT count(*) FROM approvals")[0][0] == 0
    assert _rows(dep, "SELECT count(*) FROM incidents WHERE namespace = 'prod'")[0][0] == 0
    events = {r[0] for r in _rows(dep, "SELECT event FROM audit_log")}
    assert not {e for e in events if e.startswith(("approval.", "execution."))}
    who = f"mcp:stdio:{getpass.getuser()}"
    calls = [(r[0], json.loads(r[1])) for r in _rows(dep, "SELECT actor, payload FROM audit_log "
                                                          "WHERE event = 'mcp.call' ORDER BY seq")]
    mine = [p for actor, p in calls if actor == who]
    outcomes = {(p["name"], p["outcome"]) for p in mine}
    assert {("diagnose", "ok"), ("get_incident", "ok"), ("get_diagnosis", "ok"), ("propose_action", "ok"),
            ("approve", "unknown_tool"), ("propose_action", "invalid_arguments"), ("diagnose", "refused"),
            ("propose_action", "refused"), ("runbook://oom-killed", "ok")} <= outcomes
    # Arguments are audited, with the token masked or cut, never verbatim.
    assert all(token not in json.dumps(p) for p in mine)
    created = _rows(dep, "SELECT actor FROM audit_log WHERE event = 'proposal.created' AND subject = :s",
                    s=f"proposal/{pid}")
    assert created == [(who,)]


async def test_http_clients_need_a_token_and_the_propose_scope(dep):
    proc = start_http(dep)
    url = f"http://127.0.0.1:{proc.port}/mcp"
    for auth in ({}, {"Authorization": "Bearer not-a-client-token"}):
        req = urllib.request.Request(url, method="POST", headers={"Content-Type": "application/json", **auth},
                                     data=b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401

    async with http_session(proc, OPS_TOKEN) as ops:
        incident_id, prop = await _diagnose_and_propose(ops, dep)
    buttons = buttons_in_thread(dep.slack, CHANNEL, prop["posted"]["thread"], prop["proposal_id"])
    assert sorted(b["action_id"] for b in buttons) == ["proposal_approve", "proposal_reject"]

    before = _rows(dep, "SELECT count(*) FROM remediation_proposals")[0][0]
    async with http_session(proc, VIEWER_TOKEN) as viewer:
        assert {t.name for t in (await viewer.list_tools()).tools} == TOOLS - {"propose_action"}
        ok, listed = await call(viewer, "list_incidents")
        assert ok and incident_id in {i["incident_id"] for i in listed["incidents"]}
        ok, denied = await call(viewer, "propose_action", incident_id=incident_id, **SET_MEMORY)
        assert not ok and "scope read" in denied["error"]
    assert _rows(dep, "SELECT count(*) FROM remediation_proposals")[0][0] == before

    audited = {(r[0], json.loads(r[1])["name"], json.loads(r[1])["outcome"])
               for r in _rows(dep, "SELECT actor, payload FROM audit_log WHERE event = 'mcp.call'")}
    assert ("mcp:http:viewer", "propose_action", "denied") in audited
    assert ("mcp:http:viewer", "list_incidents", "ok") in audited
    assert ("mcp:http:ops-agent", "propose_action", "ok") in audited
    assert ("mcp:http:ops-agent", "diagnose", "ok") in audited
    assert _rows(dep, "SELECT requested_by FROM remediation_proposals WHERE id = :p",
                 p=prop["proposal_id"]) == [("mcp:http:ops-agent",)]


async def test_without_a_chat_channel_the_diagnosis_is_recorded_and_proposals_are_refused(dep):
    async with stdio_session(dep, "mcp-nochat", SLACK_BOT_TOKEN="", SLACK_ALERTS_CHANNEL="") as client:
        ok, started = await call(client, "diagnose", target="shop/cart")
        assert ok and started["chat"] is None
        inc = await diagnosed(client, started["incident_id"])
        assert inc["status"] == "diagnosed" and inc["chat"] is None
        assert inc["diagnosis"]["category"] == "oom_killed"
        ok, refused = await call(client, "propose_action", incident_id=started["incident_id"], **SET_MEMORY)
        assert not ok and "no chat thread" in refused["error"]
        ok, refused = await call(client, "diagnose", target="shop/cart", channel="slack:C0OTHER")
        assert not ok and "not one this bot is configured for" in refused["error"]
    assert _rows(dep, "SELECT count(*) FROM remediation_proposals WHERE incident_id = :i AND requested_by LIKE 'mcp:%'",
                 i=started["incident_id"]) == [(0,)]


def test_the_no_chat_surface_does_everything_a_surface_must():
    import inspect

    from bot.workflow.nochat import NoChatSurface
    from bot.workflow.surface import Surface

    required = {n for n, f in vars(Surface).items() if inspect.iscoroutinefunction(f)}
    assert required and required <= {n for n, f in vars(NoChatSurface).items() if inspect.iscoroutinefunction(f)}
