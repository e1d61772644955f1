"""No planted secret leaves its input path, end to end on the real workflow.

A corpus of 50+ secret kinds (tests/secret_corpus.py) is planted, with values of its own, in every
input path: log documents (OpenSearch fake), pod logs, events and object fields (Kubernetes fake),
alert labels and annotations (the Alertmanager webhook of the real server), an alert message posted
by a bot in Slack (signed event through the real bolt app), /diagnose text (signed slash commands)
and a Teams alert card (tools.intake → workflow). Sessions run on the Anthropic engine against a
scripted model (tests/fake_anthropic.py) that calls every backend tool and then quotes all it saw
into its diagnosis, as a model citing evidence would. Then every model request, every row of every
table, the audit log and every chat post is searched for each secret and each 12-character piece of
it. The test also checks each carrier did reach the model (its marker word), so a path that never
delivered anything cannot pass by accident.
"""
from __future__ import annotations

import dataclasses
import json
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from agents.session import EngineSettings
from bot.models import AuditEntry, Base
from bot.server import build_app
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.service import Workflow
from tests.fake_anthropic import FakeAnthropic, submit, tool_use
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.leak_bundle import GROUPS, NS, pod_name, write_bundle
from tests.secret_corpus import Plant, corpus
from tests.slack_support import ALERT_CHANNEL, OTHER_CHANNEL, TEAM, WEBHOOK_CHANNEL, settings, sign
from tests.workflow_support import RecordingSurface
from tools.intake import AlertGroup, parse_teams_activity
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

BACKEND_PATHS = ("log documents (OpenSearch)", "pod logs", "events", "object fields")
INTAKE_PATHS = ("alert labels", "alert annotations", "Slack alert message", "Slack /diagnose text",
                "Teams alert message")
SINKS = ("model requests", "tables", "audit log", "chat posts")
SWEEP = "backendsweep"  # a /diagnose word that makes the scripted model call every backend tool


def _backend_calls() -> list[tuple[str, dict]]:
    calls: list[tuple[str, dict]] = [("log_aggregations", {"namespace": NS, "minutes": 120})]
    for k in range(GROUPS):
        calls += [("search_logs", {"app": f"oslog{k}", "minutes": 120, "limit": 500}),
                  ("k8s_pod_logs", {"namespace": NS, "pod": pod_name("podlog", k), "previous": True,
                                    "tail_lines": 5000}),
                  ("k8s_events", {"namespace": NS, "kind": "Pod", "name": pod_name("events", k)}),
                  ("k8s_pods", {"namespace": NS, "name": pod_name("fields", k)})]
    return calls


def scripted_model(body: dict) -> dict:
    """First turn: tools (all backends for the sweep, one read otherwise). Then a diagnosis that
    quotes the trigger and every tool result it was given."""
    messages = body["messages"]
    first = json.dumps(messages[0]["content"])
    results = [b for m in messages if m["role"] == "user" and isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    if not results:
        return tool_use(*(_backend_calls() if SWEEP in first else [("k8s_pods", {"namespace": NS})]))
    quoted = [json.dumps(b["content"]) for b in results]
    return submit({"category": "unknown", "component": "checkout", "confidence": 0.2,
                   "summary": f"Quoting the trigger: {first}"[:1200],
                   "evidence": [{"tool": "quote", "query": "", "finding": q} for q in [first, *quoted]]})


# ---- planting the intake paths -----------------------------------------------------------------

def _alertmanager_body(labels: list[Plant], annotations: list[Plant]) -> str:
    alert = {"status": "firing", "startsAt": "2026-10-06T09:50:00Z", "fingerprint": "5ec7e75ec7e75ec7",
             "labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": NS,
                        "pod": pod_name("fields", 0), **{f"detail_{i}": p.text for i, p in enumerate(labels)}},
             "annotations": {"summary": "Pod is crash looping.",
                             **{f"detail_{i}": p.text for i, p in enumerate(annotations)}}}
    return json.dumps({"version": "4", "status": "firing", "receiver": "chatops", "groupKey": "{}:{}",
                       "alerts": [alert]})


def _slack_alert_event(plants: list[Plant]) -> str:
    def attachment(part: list[tuple[int, Plant]]) -> dict:  # Slack intake reads 50 fields per attachment
        fields = [{"title": "alertname", "value": "KubeDeploymentReplicasMismatch", "short": True},
                  {"title": "namespace", "value": NS, "short": True},
                  *({"title": f"detail_{i}", "value": p.text, "short": False} for i, p in part)]
        return {"color": "danger", "title": "[FIRING:1] KubeDeploymentReplicasMismatch",
                "fallback": "[FIRING:1] KubeDeploymentReplicasMismatch", "fields": fields}

    numbered = list(enumerate(plants))
    event = {"type": "message", "subtype": "bot_message", "bot_id": "B0ALERTMGR", "username": "Alertmanager",
             "channel": ALERT_CHANNEL, "ts": "1791280000.000100", "event_ts": "1791280000.000100",
             "text": "[FIRING:1] KubeDeploymentReplicasMismatch (shop checkout)",
             "attachments": [attachment(numbered[:40]), attachment(numbered[40:])]}
    return json.dumps({"token": "verification-token", "team_id": TEAM, "api_app_id": "A0CHATOPS",
                       "type": "event_callback", "event_id": "Ev0LEAKS01", "event_time": int(time.time()),
                       "event": event})


def _slash_body(text: str, n: int, response_url: str) -> str:
    return urlencode({"token": "verification-token", "team_id": TEAM, "team_domain": "acme",
                      "channel_id": OTHER_CHANNEL, "channel_name": "ops", "user_id": "U0ALICE", "user_name": "alice",
                      "command": "/diagnose", "text": text, "api_app_id": "A0CHATOPS",
                      "response_url": response_url, "trigger_id": f"1337.42.leak{n}"})


def _commands(plants: list[Plant], limit: int = 480) -> list[str]:
    """/diagnose texts (at most 500 characters each) carrying every plant."""
    out, current = [], "shop/checkout keeps failing:"
    for p in plants:
        if len(current) + len(p.text) + 1 > limit:
            out.append(current)
            current = "shop/checkout keeps failing:"
        current += "\n" + p.text  # one per line, as a cookie header masks the rest of its line
    return out + [current]


def _teams_activity(plants: list[Plant]) -> dict:
    facts = [{"name": "alertname", "value": "KubeJobFailed"}, {"name": "namespace", "value": NS},
             *({"name": f"detail_{i}", "value": p.text} for i, p in enumerate(plants))]
    card = {"@type": "MessageCard", "@context": "http://schema.org/extensions", "themeColor": "8C1A1A",
            "summary": "[FIRING:1] KubeJobFailed", "title": "[FIRING:1] KubeJobFailed",
            "sections": [{"activityTitle": "KubeJobFailed", "facts": facts}]}
    return {"type": "message", "id": "1791280000111", "channelId": "msteams", "serviceUrl": "https://smba.example",
            "from": {"id": "28:alertmanager", "name": "Alertmanager"},
            "conversation": {"id": "19:leaks@thread.tacv2"}, "attachments": [
                {"contentType": "application/vnd.microsoft.teams.card.o365connector", "content": card}]}


# ---- the sinks -------------------------------------------------------------------------------------

def _json(obj) -> str:
    def default(o):
        if hasattr(o, "model_dump"):
            return o.model_dump(mode="json")
        if dataclasses.is_dataclass(o):
            return dataclasses.asdict(o)
        return str(o)

    return json.dumps(obj, default=default, ensure_ascii=False)


def _tables(factory) -> tuple[str, str]:
    """(every row of every table but the audit log, the audit log) as text."""
    rows, audit = [], []
    with factory() as s:
        for table in Base.metadata.sorted_tables:
            found = [dict(r._mapping) for r in s.execute(select(table))]
            (audit if table.name == AuditEntry.__tablename__ else rows).append(_json({table.name: found}))
    return "\n".join(rows), "\n".join(audit)


def leak_table(paths: dict[str, list[Plant]], sinks: dict[str, str]) -> list[dict]:
    """Per path: kinds planted, kinds whose carrier reached the model, and kinds leaked per sink."""
    rows = []
    for path, plants in paths.items():
        row = {"path": path, "planted": len(plants),
               "reached model": sum(p.marker in sinks["model requests"] for p in plants)}
        for sink, blob in sinks.items():
            row[sink] = sorted(p.kind for p in plants if any(f in blob for f in p.fragments()))
        rows.append(row)
    return rows


def render(rows: list[dict]) -> str:
    head = "| input path | kinds planted | reached the model (masked) | " + " | ".join(f"leaked to {s}" for s in SINKS) + " |"
    lines = [head, "| --- | ---: | ---: | " + " | ".join("---:" for _ in SINKS) + " |"]
    for r in rows:
        lines.append(f"| {r['path']} | {r['planted']} | {r['reached model']} | "
                     + " | ".join(str(len(r[s])) for s in SINKS) + " |")
    return "\n".join(lines)


# ---- the test --------------------------------------------------------------------------------------

@pytest.fixture
def factory(tmp_path):
    from bot import migrate
    from bot.db import make_engine, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'leaks.db'}")
    migrate.upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.mark.slow
async def test_no_planted_secret_reaches_a_model_a_table_the_audit_log_or_a_chat_post(factory, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    paths = {name: corpus(name) for name in BACKEND_PATHS + INTAKE_PATHS}
    assert all(len({p.kind for p in plants}) >= 40 for plants in paths.values())
    bundle = write_bundle(tmp_path / "leaks", logs=paths["log documents (OpenSearch)"], pod_logs=paths["pod logs"],
                          events=paths["events"], fields=paths["object fields"])
    teams = RecordingSurface(platform="teams")
    async with FakeAnthropic(default=scripted_model) as model:
        with FakeSlack() as slack, ScenarioBackends(load_scenario(bundle), use_prometheus=False) as backends:
            for channel in (ALERT_CHANNEL, OTHER_CHANNEL, WEBHOOK_CHANNEL):
                slack.add_channel(channel)

            async def sources():
                return backends.sources()

            engine = EngineSettings(engine="anthropic", api_key="sk-ant-api03-test", base_url=model.base_url,
                                    max_steps=4, retry_base_delay=0.001,
                                    max_tool_calls_per_turn=1 + 4 * GROUPS)  # the sweep asks every backend at once
            wf = Workflow(factory, {"slack": SlackSurface(make_client(DEFAULT_TOKEN, slack.url)), "teams": teams},
                          sources, engine, None, concurrency=2,
                          alert_channel={"slack": WEBHOOK_CHANNEL})
            client = TestClient(TestServer(build_app(settings(), wf), host="127.0.0.1"))
            await client.start_server()
            try:
                await _send_everything(client, slack, wf, paths)
                await wf.drain(180)
            finally:
                await client.close()
            posted = _json([{"method": c.method, "args": {k: v for k, v in c.args.items() if k != "token"}}
                            for c in slack.calls()] + [teams.posts, teams.ephemerals, teams.progress_updates])
    tables, audit = _tables(factory)
    sinks = {"model requests": "\n".join(model.bodies), "tables": tables, "audit log": audit, "chat posts": posted}
    rows = leak_table(paths, sinks)
    print("\n" + render(rows))  # the README's table: pytest -s tests/test_secret_leaks.py
    # The pipeline really ran: sessions reached the model, diagnoses were stored and posted.
    assert len(model.requests) >= 2 * (1 + 1 + 1 + len(_commands(paths["Slack /diagnose text"])) + 1)
    assert '"diagnoses": [{' in tables and "Diagnosis" in posted
    # Every carrier reached the model (masked), so "nothing leaked" is not "nothing arrived".
    assert [(path, p.kind) for path, plants in paths.items() for p in plants
            if p.marker not in sinks["model requests"]] == []
    assert [(r["path"], s, r[s]) for r in rows for s in SINKS if r[s]] == []


async def _send_everything(client, slack: FakeSlack, wf: Workflow, paths: dict[str, list[Plant]]) -> None:
    async def slash(text: str, n: int) -> None:
        body = _slash_body(text, n, slack.response_url(f"leak{n}"))
        resp = await client.post("/slack/events", data=body.encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert resp.status == 200, await resp.text()

    await slash(f"shop/checkout {SWEEP}", 0)  # the backend paths, read by the model's tools
    resp = await client.post("/alertmanager", data=_alertmanager_body(paths["alert labels"],
                                                                      paths["alert annotations"]),
                             headers={"Authorization": "Bearer am-secret-token"})
    assert resp.status == 200, await resp.text()
    event = _slack_alert_event(paths["Slack alert message"])
    resp = await client.post("/slack/events", data=event.encode(),
                             headers={"Content-Type": "application/json", **sign(event)})
    assert resp.status == 200, await resp.text()
    for n, text in enumerate(_commands(paths["Slack /diagnose text"]), start=1):
        await slash(text, n)
    group = parse_teams_activity(_teams_activity(paths["Teams alert message"]))
    assert isinstance(group, AlertGroup), group
    await wf.on_alert_group(group, platform="teams", channel="19:leaks@thread.tacv2", thread="1791280000111",
                            source="teams", actor="teams:Alertmanager")
