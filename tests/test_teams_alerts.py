"""Alert posts in TEAMS_ALERT_CHANNELS by other bots (a Workflows / Power Automate Adaptive Card,
prometheus-msteams' connector card, Grafana's HTML message) are diagnosed in their reply chain with
the same intake and fingerprint deduplication as Slack; Alertmanager groups routed to a Teams
channel start a new thread there, proactively, and with a Slack channel also set each platform
gets its own incidents."""
from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select

from bot.models import Incident
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.teams_support import (ALERTS, ALICE, OPS, WORKFLOWS, activity, card_of, fake_teams,  # noqa: F401
                                 installed, sqlite_factory, start, texts, workflow)
from tests.test_intake_teams import message_card, workflow_card
from tools.intake import parse_alertmanager

ALERT = {"status": "firing", "startsAt": "2026-01-07T06:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus:9090/graph?g0.expr=kube_pod_container_status_restarts_total",
         "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-7d9f8c6b5-x2kqz",
                    "container": "cart", "severity": "critical"},
         "annotations": {"summary": "Pod shop/cart-7d9f8c6b5-x2kqz is crash looping",
                         "description": "cart restarted 6 times in 10 minutes"}}


def group(status: str = "firing", **labels: str) -> dict:
    alert = copy.deepcopy(ALERT)
    alert["status"] = status
    alert["labels"].update(labels)
    return {"version": "4", "status": status, "receiver": "teams", "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
            "externalURL": "http://alertmanager:9093", "groupLabels": {"alertname": "KubePodCrashLooping"},
            "commonLabels": dict(alert["labels"]), "commonAnnotations": dict(alert["annotations"]),
            "truncatedAlerts": 0, "alerts": [alert]}


def workflows_post(service_url: str, payload: dict, **kw) -> dict:
    """What Teams delivers when a Workflows (Power Automate) flow posts prometheus-msteams' Adaptive Card."""
    return activity(ALERTS, service_url=service_url, sender=WORKFLOWS,
                    attachments=workflow_card(payload)["attachments"], **kw)


def connector_post(service_url: str, payload: dict) -> dict:
    """prometheus-msteams' MessageCard as Teams delivers an Office 365 connector post."""
    return activity(ALERTS, service_url=service_url, sender={"id": "28:connector-prometheus", "name": "Prometheus"},
                    attachments=[{"contentType": "application/vnd.microsoft.teams.card.o365connector",
                                  "content": message_card(payload)}])


def grafana_post(service_url: str) -> dict:
    text = ("<p><strong>[FIRING:1] KubePodCrashLooping</strong> (shop critical)</p><p>Labels:<br>"
            " - alertname = KubePodCrashLooping<br> - namespace = shop<br> - pod = cart-7d9f8c6b5-x2kqz<br>"
            " - severity = critical</p><p>Annotations:<br> - summary = Pod is crash looping</p>")
    return activity(ALERTS, service_url=service_url, sender={"id": "28:grafana-oncall", "name": "Grafana"},
                    text=text, textFormat="xml")


@pytest.fixture
async def h(fake_teams, sqlite_factory):  # noqa: F811
    harness = await start(fake_teams, workflow(fake_teams, sqlite_factory), alertmanager_webhook_token="am-token",
                          teams_alerts_channel=ALERTS)
    await harness.post(installed(ALERTS, service_url=fake_teams.url))
    await harness.settle()  # the install is handled in the background: its reference is stored before any alert
    yield harness
    await harness.client.close()


def _incidents(h) -> list[Incident]:
    with h.workflow.factory() as s:
        return list(s.execute(select(Incident).order_by(Incident.opened_at)).scalars())


def _diagnosed(h, root: str) -> bool:
    return any("Diagnosis:" in texts(card_of(p)) for p in h.fake.thread(ALERTS, root))


@pytest.mark.parametrize("make", [lambda url: workflows_post(url, group()), lambda url: connector_post(url, group()),
                                  grafana_post], ids=["workflows-card", "prometheus-msteams", "grafana"])
async def test_alert_post_is_diagnosed_in_its_reply_chain(h, make):
    post = make(h.fake.url)
    assert (await h.post(post)).status == 200
    await h.settle()
    [inc] = _incidents(h)
    assert (inc.source, inc.platform, inc.channel, inc.thread_ref) == ("teams", "teams", ALERTS, post["id"])
    assert inc.alert_name == "KubePodCrashLooping" and inc.namespace == "shop"
    assert _diagnosed(h, post["id"]) and h.fake.calls("connector.create") == []


async def test_same_fingerprint_twice_is_one_incident_and_a_still_firing_note(h):
    first, second = workflows_post(h.fake.url, group()), workflows_post(h.fake.url, group())
    await h.post(first)
    await h.settle()
    await h.post(second)
    await h.settle()
    [inc] = _incidents(h)
    webhook = parse_alertmanager(group()).alerts[0]
    assert inc.alert_fingerprint == webhook.fingerprint  # the same alert as Alertmanager's own webhook copy
    notes = [texts(card_of(p)) for p in h.fake.thread(ALERTS, first["id"])]
    assert any("Still firing: KubePodCrashLooping" in n for n in notes)
    assert h.fake.thread(ALERTS, second["id"]) == []
    assert sum("Diagnosis:" in n for n in notes) == 1


async def test_resolved_edit_closes_the_incident(h):
    post = workflows_post(h.fake.url, group())
    await h.post(post)
    await h.settle()
    edited = workflows_post(h.fake.url, group("resolved"), id=post["id"])
    edited["type"] = "messageUpdate"
    edited["channelData"]["eventType"] = "editMessage"
    await h.post(edited)
    await h.settle()
    [inc] = _incidents(h)
    assert inc.status == "resolved"
    assert any("Resolved: KubePodCrashLooping" in texts(card_of(p)) for p in h.fake.thread(ALERTS, post["id"]))


async def test_humans_and_other_channels_are_not_auto_diagnosed(h):
    human = workflows_post(h.fake.url, group())
    human["from"] = dict(ALICE)  # a person pasting the alert card
    elsewhere = workflows_post(h.fake.url, group())
    elsewhere["conversation"]["id"] = f"{OPS};messageid={elsewhere['id']}"
    for act in (human, elsewhere, activity(ALERTS, service_url=h.fake.url, sender=WORKFLOWS, text="Deploy finished")):
        assert (await h.post(act)).status == 200
    await h.settle()
    assert _incidents(h) == [] and h.fake.posted() == []


async def test_alertmanager_group_starts_a_thread_in_the_teams_channel(h):
    resp = await h.client.post("/alertmanager", data=json.dumps(group()),
                               headers={"Authorization": "Bearer am-token"})
    assert resp.status == 200 and (await resp.json())["results"][0].startswith("new:")
    await h.settle()
    [created] = h.fake.calls("connector.create")
    assert created.body["channelData"]["channel"]["id"] == ALERTS and created.body["isGroup"] is True
    root = h.fake.posted(ALERTS)[0]
    assert "KubePodCrashLooping" in texts(card_of(root)) and _diagnosed(h, root.id)
    [inc] = _incidents(h)
    assert (inc.source, inc.channel, inc.thread_ref) == ("alertmanager", ALERTS, root.id)


async def test_alertmanager_group_goes_to_slack_and_teams_as_separate_incidents(fake_teams, sqlite_factory):  # noqa: F811
    from bot.slack.surface import SlackSurface, make_client

    with FakeSlack() as slack:
        slack.add_channel("C0ALERTS")
        wf = workflow(fake_teams, sqlite_factory, surfaces={"slack": SlackSurface(make_client(DEFAULT_TOKEN, slack.url))})
        h = await start(fake_teams, wf, teams_alerts_channel=ALERTS, alertmanager_webhook_token="am-token",
                        slack_bot_token=DEFAULT_TOKEN, slack_signing_secret="s3", slack_alerts_channel="C0ALERTS",
                        slack_api_url=slack.url)
        try:
            await h.post(installed(ALERTS, service_url=fake_teams.url))
            await h.settle()
            resp = await h.client.post("/alertmanager", data=json.dumps(group()),
                                       headers={"Authorization": "Bearer am-token"})
            body = await resp.json()
            assert resp.status == 200 and set(body["platforms"]) == {"slack", "teams"}
            assert all(r[0].startswith("new:") for r in body["platforms"].values())
            await h.settle()
            incidents = _incidents(h)
            assert sorted((i.platform, i.channel) for i in incidents) == [("slack", "C0ALERTS"), ("teams", ALERTS)]
            assert len({i.alert_fingerprint for i in incidents}) == 1
            assert any(m.get("blocks") and m["blocks"][0]["type"] == "header" for m in slack.messages("C0ALERTS"))
            assert _diagnosed(h, h.fake.posted(ALERTS)[0].id)
        finally:
            await h.client.close()


async def test_prometheus_msteams_payloads_from_the_datasets(h):
    """prometheus-msteams' own test payloads (shared datasets), as connector cards in the alert channel:
    every firing alert becomes an incident with the fingerprint Alertmanager's webhook would give."""
    from tests.test_intake_teams import _am_payloads

    expected = set()
    for _, payload in _am_payloads():
        await h.post(connector_post(h.fake.url, payload))
        expected |= {a.fingerprint for a in parse_alertmanager(payload).alerts if a.status == "firing"}
    await h.settle()
    assert expected and {i.alert_fingerprint for i in _incidents(h)} == expected
