"""Alert intake that loses nothing and blocks on nothing (issue 10, points 4-6), on SQLite and PostgreSQL:
every alert of a 500-alert group accounted for, Alertmanager's truncatedAlerts reported, values made
storable, one bad alert never blocking its group, incidents ageing out, replayed /diagnose deduplicated."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from agents.session import EngineSettings
from bot import audit
from bot.db import make_engine, session_factory
from bot.models import AuditEntry, Incident, Job
from bot.server import build_app
from bot.slack.surface import SlackSurface, make_client
from bot.workflow.ageing import AgeingRule
from bot.workflow.service import IntakeFailed, Workflow
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.slack_support import WEBHOOK_CHANNEL, settings
from tests.workflow_support import RecordingSurface
from tools.intake import Alert, parse_alertmanager

BEARER = {"Authorization": "Bearer am-secret-token"}


def workflow(factory, surfaces, **kw) -> Workflow:
    """A real Workflow whose investigations fail at once (no backends here): intake is what is tested,
    and an investigation that started is visible as a queue item and a failure note in its thread."""
    async def no_sources():
        raise RuntimeError("no data sources in this test")

    run_jobs = kw.pop("run_jobs", True)
    wf = Workflow(factory, surfaces, no_sources, EngineSettings(engine="offline"), None, concurrency=2, **kw)
    if not run_jobs:
        wf.runner = None  # jobs are enqueued (and counted) but nothing runs them
    return wf


def diagnose_jobs(factory) -> list[str]:
    """Incident ids with a queued or run diagnosis job."""
    with factory() as s:
        return [k.split(":", 1)[1] for k in s.scalars(select(Job.dedupe_key).where(Job.task == "diagnose"))]


def alert_obj(i: int, name: str = "KubePodCrashLooping", **labels: str) -> dict:
    return {"status": "firing", "labels": {"alertname": name, "namespace": "shop", "pod": f"cart-{i:04d}",
                                           "severity": "warning", **labels},
            "annotations": {"summary": f"cart-{i:04d} restarts"}, "startsAt": "2026-12-01T10:00:00Z"}


def group_body(alerts: list[dict], **extra) -> dict:
    return {"version": "4", "status": "firing", "receiver": "chatops", "groupKey": "{}:{alertname=\"x\"}",
            "alerts": alerts, "externalURL": "http://alertmanager:9093", **extra}


def count(factory, *where) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Incident).where(*where))


@pytest.fixture
def slack_wf(migrated):
    """(fake Slack, Workflow over it, factory). No diagnosis runs (jobs are only enqueued), so posts
    come in a fixed order."""
    _, factory = migrated
    with FakeSlack() as fake:
        fake.add_channel(WEBHOOK_CHANNEL)
        surface = SlackSurface(make_client(DEFAULT_TOKEN, fake.url))
        yield fake, workflow(factory, {"slack": surface}, run_jobs=False), factory


# ---- 4. every alert accounted for ---------------------------------------------------------------

async def test_500_alert_group_over_http_every_alert_accounted_for(slack_wf):
    fake, wf, factory = slack_wf
    client = TestClient(TestServer(build_app(settings(), wf, webhook_wait=120), host="127.0.0.1"))
    await client.start_server()
    try:
        body = json.dumps(group_body([alert_obj(i) for i in range(500)], truncatedAlerts=7))
        resp = await client.post("/alertmanager", data=body, headers=BEARER)
        assert resp.status == 200
        answer = await resp.json()
        results = answer["results"]
        assert answer["alerts"] == 500 and len(results) == 500  # one status per alert of the payload
        assert sum(r.startswith("new:") for r in results) == 200
        assert results[200:] == ["deferred"] * 300
        assert count(factory) == 200
        top = [m["text"] for m in fake.messages(WEBHOOK_CHANNEL) if not m.get("thread_ts")]
        [note] = [t for t in top if "deferred" in t]
        assert "300 new alert(s)" in note and "KubePodCrashLooping ×300" in note
        assert "7 more alert(s)" in note and "truncatedAlerts" in note

        # Deferral is real: the next delivery of the same group opens the next 200.
        again = await (await client.post("/alertmanager", data=body, headers=BEARER)).json()
        statuses = [r.split(":")[0] for r in again["results"]]
        assert statuses.count("repeat") == 200 and statuses.count("new") == 200
        assert statuses.count("deferred") == 100 and count(factory) == 400
    finally:
        await client.close()


async def test_truncated_alerts_reported_in_the_thread_of_a_chat_alert(migrated):
    _, factory = migrated
    surface = RecordingSurface()
    wf = workflow(factory, {"test": surface})
    group = parse_alertmanager(group_body([alert_obj(1)], truncatedAlerts=7))
    assert await wf.on_alert_group(group, platform="test", channel="C", thread="1700.1", source="slack") \
        == [f"new:{_only_incident(factory)}:queued"]
    await wf.drain(10)
    [note] = [t for t in surface.texts("1700.1") if "truncatedAlerts" in t]
    assert "7 more alert(s)" in note and "http://alertmanager:9093" in note


def _only_incident(factory) -> str:
    with factory() as s:
        return s.scalars(select(Incident.id)).one()


# ---- 4. values storable; one bad alert never blocks its group -----------------------------------

async def test_bad_alert_in_the_middle_is_stored_sanitised_and_the_rest_open(migrated):
    _, factory = migrated
    surface = RecordingSurface()
    wf = workflow(factory, {"test": surface})
    bad = alert_obj(2, name="Overlong" + "X" * 400, namespace="n" * 5000, pod="p\x00od" + "q" * 5000,
                    note="nul\x00here")
    bad["annotations"]["summary"] = "summary with \x00 NUL"
    group = parse_alertmanager(group_body([alert_obj(1), bad, alert_obj(3)]))
    statuses = await wf.on_alert_group(group, platform="test", channel="C", thread=None, source="alertmanager")
    assert [s.split(":")[0] for s in statuses] == ["new", "new", "new"]
    await wf.drain(10)
    with factory() as s:
        row = s.get(Incident, statuses[1].split(":")[1])
        assert len(row.namespace) == 200 and row.namespace.endswith("chars]")  # VARCHAR(200): a DataError before
        assert row.alert_name.startswith("OverlongXXX") and len(row.alert_name) == 200
        assert row.title == "summary with  NUL" and row.labels["note"] == "nulhere"
        assert row.labels["pod"].startswith("podqqq") and row.labels["pod"].endswith("…[+4017 chars]")
        assert audit.verify(s).ok


async def test_storage_removes_nul_even_from_an_alert_no_parser_cleaned(migrated):
    """Defence in depth: an Alert built by other code still becomes a storable row."""
    _, factory = migrated
    wf = workflow(factory, {"test": RecordingSurface()})
    alert = Alert(name="Raw\x00Alert", status="firing", severity="warning", fingerprint="fp\x00raw",
                  labels={"alertname": "Raw\x00Alert", "na\x00me": "x\x00y", "service": "s" * 300},
                  annotations={"summary": "a\x00b"}, source="alertmanager")
    group = parse_alertmanager(group_body([alert_obj(1)])).model_copy(update={"alerts": [alert]})
    [status] = await wf.on_alert_group(group, platform="test", channel="C", thread=None, source="alertmanager")
    assert status.startswith("new:")
    await wf.drain(10)
    with factory() as s:
        row = s.get(Incident, status.split(":")[1])
        assert (row.alert_name, row.alert_fingerprint, row.title) == ("RawAlert", "fpraw", "ab")
        assert row.labels["name"] == "xy" and len(row.service) == 200


async def test_one_failing_alert_is_reported_and_the_others_go_on(slack_wf, monkeypatch):
    import bot.workflow.service as service

    fake, wf, _ = slack_wf
    real = service.record_firing

    def first_one_breaks(factory, alert, **kw):
        if alert.labels.get("pod") == "cart-0000":
            raise ValueError("this alert cannot be stored")
        return real(factory, alert, **kw)

    monkeypatch.setattr(service, "record_firing", first_one_breaks)
    group = parse_alertmanager(group_body([alert_obj(i) for i in range(3)]))
    statuses = await wf.on_alert_group(group, platform="slack", channel=WEBHOOK_CHANNEL, thread=None,
                                       source="alertmanager")
    assert statuses[0] == "failed:ValueError"
    assert [s.split(":")[0] for s in statuses[1:]] == ["new", "new"]
    [note] = [m["text"] for m in fake.messages(WEBHOOK_CHANNEL) if "failed at intake" in m["text"]]
    assert "1 alert(s)" in note and "KubePodCrashLooping: ValueError" in note


async def test_database_down_fails_the_group_so_alertmanager_retries():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none", check=False)
    surface = RecordingSurface()
    wf = workflow(session_factory(engine), {"test": surface})
    group = parse_alertmanager(group_body([alert_obj(i) for i in range(3)]))
    with pytest.raises(IntakeFailed, match="database does not answer"):
        await wf.on_alert_group(group, platform="test", channel="C", thread=None, source="alertmanager")
    assert surface.posts == []  # nothing acknowledged, nothing half-posted
    engine.dispose()


# ---- 5. incidents age out ---------------------------------------------------------------------

def _set(factory, incident_id: str, **values) -> None:
    with factory() as s, s.begin():
        s.execute(update(Incident).where(Incident.id == incident_id).values(**values))


async def _fire(wf, i: int = 1, thread: str | None = None) -> str:
    [status] = await wf.on_alert_group(parse_alertmanager(group_body([alert_obj(i)])), platform="test",
                                       channel="C", thread=thread, source="alertmanager")
    return status


async def test_repeat_inside_stale_window_is_a_repeat_after_it_a_new_investigation(migrated):
    _, factory = migrated
    surface = RecordingSurface()
    wf = workflow(factory, {"test": surface}, ageing=AgeingRule(timedelta(minutes=240), timedelta(hours=24)))
    first = (await _fire(wf)).split(":")[1]
    await wf.drain(10)
    with factory() as s:
        old_thread = s.get(Incident, first).thread_ref
    _set(factory, first, last_seen_at=datetime.now(timezone.utc) - timedelta(minutes=200))
    assert await _fire(wf) == f"repeat:{first}"  # 200 min < 240: still the same incident
    _set(factory, first, last_seen_at=datetime.now(timezone.utc) - timedelta(minutes=239))
    assert await _fire(wf) == f"repeat:{first}"  # the repeat above moved last_seen; this one is inside too

    _set(factory, first, last_seen_at=datetime.now(timezone.utc) - timedelta(minutes=241))
    status = await _fire(wf)
    assert status.startswith("new:") and status.endswith(":queued")
    second = status.split(":")[1]
    assert second != first and second in diagnose_jobs(factory)  # a new investigation was started
    await wf.drain(10)
    with factory() as s:
        assert s.get(Incident, first).status == "expired" and s.get(Incident, first).resolved_at is None
        assert s.get(Incident, second).status == "open"
        [event] = s.scalars(select(AuditEntry).where(AuditEntry.event == "incident.expired")).all()
        assert event.subject == f"incident/{first}" and "no firing seen" in event.payload
        assert audit.verify(s).ok
    [note] = [t for t in surface.texts(old_thread) if "expired" in t]
    assert "no firing seen for 4h01" in note and second in note


async def test_max_age_expires_an_incident_that_keeps_firing(migrated):
    _, factory = migrated
    surface = RecordingSurface()
    wf = workflow(factory, {"test": surface}, ageing=AgeingRule(timedelta(minutes=240), timedelta(hours=24)))
    first = (await _fire(wf)).split(":")[1]
    now = datetime.now(timezone.utc)
    _set(factory, first, opened_at=now - timedelta(hours=23), last_seen_at=now - timedelta(minutes=5))
    assert await _fire(wf) == f"repeat:{first}"
    _set(factory, first, opened_at=now - timedelta(hours=25))  # seen a moment ago, but too old
    status = await _fire(wf)
    assert status.startswith("new:") and status.split(":")[1] != first
    await wf.drain(10)
    assert any("past the maximum age of 24h00" in t for t in surface.texts())


async def test_sweep_closes_aged_command_and_alert_incidents_and_says_so(migrated):
    _, factory = migrated
    surface = RecordingSurface()
    wf = workflow(factory, {"test": surface}, ageing=AgeingRule(timedelta(minutes=240), timedelta(hours=24)))
    assert await wf.on_command("shop/cart", platform="test", channel="C", user="U1") is None
    await _fire(wf, 1)
    await _fire(wf, 2)
    await wf.drain(10)
    with factory() as s:
        cmd = s.scalars(select(Incident.id).where(Incident.source == "command")).one()
        alert1, alert2 = s.scalars(select(Incident.id).where(Incident.source == "alertmanager")
                                   .order_by(Incident.opened_at)).all()
        cmd_thread = s.get(Incident, cmd).thread_ref
    past = datetime.now(timezone.utc) - timedelta(hours=5)
    _set(factory, cmd, opened_at=past, last_seen_at=past)
    _set(factory, alert1, opened_at=past, last_seen_at=past)
    assert sorted(await wf.age_incidents()) == sorted([cmd, alert1])
    assert await wf.age_incidents() == []  # idempotent
    assert count(factory, Incident.status == "expired") == 2 and count(factory, Incident.status == "open") == 1
    assert any("Closing this incident as expired" in t for t in surface.texts(cmd_thread))
    # The alert whose incident expired investigates again on its next firing.
    assert (await _fire(wf, 1)).startswith("new:")
    assert await _fire(wf, 2) == f"repeat:{alert2}"


# ---- 6. a replayed /diagnose opens one investigation ---------------------------------------------

async def test_replayed_command_opens_one_incident_across_workflows(migrated, db_url):
    _, factory = migrated
    other_engine = make_engine(db_url)  # a second "process": its own engine and connection pool
    s1, s2 = RecordingSurface(), RecordingSurface()
    wf1 = workflow(factory, {"slack": s1, "teams": s1})
    wf2 = workflow(session_factory(other_engine), {"slack": s2})
    try:
        replies = await asyncio.gather(*(wf.on_command("shop/cart", platform="slack", channel="C", user="U1",
                                                       request_id="13345224609.738474920.8088930838d88f00")
                                         for wf in (wf1, wf2, wf1)))
        assert replies == [None, None, None]
        assert count(factory) == 1
        await asyncio.gather(wf1.drain(20), wf2.drain(20))
        assert len([t for t in s1.texts() + s2.texts() if t.startswith("Investigating")]) == 1
        assert len(diagnose_jobs(factory)) == 1

        await wf2.on_command("shop/cart", platform="slack", channel="C", user="U1", request_id="another.trigger")
        await wf1.on_command("shop/cart", platform="teams", channel="C", user="U1",
                             request_id="13345224609.738474920.8088930838d88f00")  # another platform's id space
        await wf1.on_command("shop/cart", platform="slack", channel="C", user="U1")
        await wf1.on_command("shop/cart", platform="slack", channel="C", user="U1")  # no id: as before, no dedupe
        assert count(factory) == 5
        await wf1.drain(10)
        await wf2.drain(10)
    finally:
        other_engine.dispose()
