"""bot/server.py: the Alertmanager webhook (auth, limits, errors), health and readiness, and the
configurations it refuses."""
from __future__ import annotations

import base64
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.server import MAX_BODY, ConfigError, build_app
from tests.fake_slack import FakeSlack
from tests.slack_support import fake, h  # noqa: F401  (shared fixtures)
from tests.slack_support import WEBHOOK_CHANNEL, RecordingWorkflow, settings, start_harness
from tests.support import dataset, free_port

TOKEN = "am-secret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def am_payload() -> bytes:
    return dataset("alertmanager", "prometheus-msteams", "alert", "testdata", "prom_post_request_2_alerts.json") \
        .read_bytes()


async def test_webhook_auth_none_wrong_right(h):
    body = am_payload()
    assert (await h.client.post("/alertmanager", data=body)).status == 401
    wrong = await h.client.post("/alertmanager", data=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    basic = base64.b64encode(f"x:{TOKEN}".encode()).decode()
    assert (await h.client.post("/alertmanager", data=body, headers={"Authorization": f"Basic {basic}"})).status \
        == 401  # basic auth is not configured here; the bearer token is not a password
    assert not h.workflow.alerts
    ok = await h.client.post("/alertmanager", data=body, headers=BEARER)
    assert ok.status == 200
    answer = await ok.json()
    assert answer == {"status": "ok", "alerts": 2, "results": ["new:INC1:queued"]}
    [call] = h.workflow.alerts
    assert call["channel"] == WEBHOOK_CHANNEL and call["thread"] is None and call["source"] == "alertmanager"
    assert call["platform"] == "slack" and len(call["group"].alerts) == 2


async def test_webhook_basic_auth(fake):
    h = await start_harness(fake, settings_kw={"alertmanager_webhook_token": None, "alertmanager_webhook_user": "am",
                                               "alertmanager_webhook_password": "pa:ss"})
    try:
        def basic(user, pw):
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}
        assert (await h.client.post("/alertmanager", data=am_payload(), headers=basic("am", "wrong"))).status == 401
        assert (await h.client.post("/alertmanager", data=am_payload(),
                                    headers={"Authorization": "Basic !!notbase64"})).status == 401
        assert (await h.client.post("/alertmanager", data=am_payload(), headers=basic("am", "pa:ss"))).status == 200
    finally:
        await h.client.close()


async def test_webhook_413_400_422(h):
    big = b'{"alerts": [' + b'"x",' * (MAX_BODY // 4) + b'"x"]}'
    resp = await h.client.post("/alertmanager", data=big, headers=BEARER)
    assert resp.status == 413 and "limit" in (await resp.json())["error"]
    resp = await h.client.post("/alertmanager", data=b'{"alerts": [', headers=BEARER)
    assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]
    resp = await h.client.post("/alertmanager", data=b"\xff\xfe", headers=BEARER)
    assert resp.status == 400
    resp = await h.client.post("/alertmanager", data=json.dumps({"text": "hello"}), headers=BEARER)
    err = (await resp.json())["error"]
    assert resp.status == 422 and err.startswith("not an Alertmanager alert group: ") and len(err) > 40
    assert not h.workflow.alerts


async def test_slow_intake_is_accepted_with_202_and_finishes_in_background(fake):
    h = await start_harness(fake, workflow_kw={"delay": 1.0}, webhook_wait=0.1)
    try:
        resp = await h.client.post("/alertmanager", data=am_payload(), headers=BEARER)
        assert resp.status == 202 and (await resp.json())["status"] == "accepted"
        assert h.workflow.alerts  # the intake started; it completes after the answer
    finally:
        await h.client.close()


async def test_intake_failure_is_a_500_so_alertmanager_retries(fake):
    h = await start_harness(fake, workflow_kw={"fail": RuntimeError("database is locked")})
    try:
        resp = await h.client.post("/alertmanager", data=am_payload(), headers=BEARER)
        assert resp.status == 500 and "RuntimeError" in (await resp.json())["error"]
    finally:
        await h.client.close()


async def test_unauthenticated_webhook_only_when_explicitly_allowed(fake):
    s = settings(alertmanager_webhook_token=None)
    with pytest.raises(ConfigError, match="ALERTMANAGER_WEBHOOK_TOKEN"):
        build_app(s, RecordingWorkflow({}))
    h = await start_harness(fake, settings_kw={"alertmanager_webhook_token": None,
                                               "alertmanager_webhook_allow_unauthenticated": True})
    try:
        assert (await h.client.post("/alertmanager", data=am_payload())).status == 200
    finally:
        await h.client.close()


def test_refused_configurations():
    wf = RecordingWorkflow({})
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_app(settings(slack_bot_token=None), wf)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET.*SLACK_APP_TOKEN"):
        build_app(settings(slack_signing_secret=None), wf)
    with pytest.raises(ConfigError, match="must be set together"):
        build_app(settings(alertmanager_webhook_user="am"), wf)
    with pytest.raises(ConfigError, match="SLACK_ALERTS_CHANNEL is not"):
        build_app(settings(slack_alerts_channel=None), wf)


async def test_webhook_disabled_without_alerts_channel(fake):
    h = await start_harness(fake, settings_kw={"slack_alerts_channel": None, "alertmanager_webhook_token": None})
    try:
        resp = await h.client.post("/alertmanager", data=am_payload(), headers=BEARER)
        assert resp.status == 503 and "SLACK_ALERTS_CHANNEL" in (await resp.json())["error"]
    finally:
        await h.client.close()


async def _get(app, path):
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get(path)
        return resp.status, await resp.json()


async def test_healthz_and_readyz(migrated, tmp_path, fake):
    from bot.db import make_engine

    engine, _ = migrated
    wf = RecordingWorkflow({})
    s = settings(slack_api_url=fake.url)
    assert await _get(build_app(s, wf, engine=engine), "/healthz") == (200, {"status": "ok"})
    assert await _get(build_app(s, wf, engine=engine), "/readyz") == (200, {"ready": True})

    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    status, body = await _get(build_app(s, wf, engine=empty), "/readyz")
    assert status == 503 and "schema at empty" in body["reason"] and "chatops db upgrade" in body["reason"]

    down = make_engine(f"postgresql://u:p@127.0.0.1:{free_port()}/x", check=False)
    status, body = await _get(build_app(s, wf, engine=down), "/readyz")
    assert status == 503 and body["reason"].startswith("database unreachable: OperationalError")
    assert await _get(build_app(s, wf, engine=down), "/healthz") == (200, {"status": "ok"})


async def test_slack_route_absent_in_socket_mode_only(fake):
    s = settings(slack_api_url=fake.url, slack_signing_secret=None, slack_app_token="xapp-1-test")
    app = build_app(s, RecordingWorkflow({}))
    assert "/slack/events" not in {r.resource.canonical for r in app.router.routes()}
    http = build_app(settings(), RecordingWorkflow({}))
    assert "/slack/events" in {r.resource.canonical for r in http.router.routes()}


async def test_readyz_during_an_upgrade(migrated, tmp_path, fake):
    """Behind the code: not ready (run the migration). Ahead of it (the next release's pre-deploy
    migration ran first): still ready, so the old pods keep serving through the rollout."""
    from sqlalchemy import text

    from bot import migrate

    engine, _ = migrated
    wf = RecordingWorkflow({})
    s = settings(slack_api_url=fake.url)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999_from_a_later_release'"))
    assert await _get(build_app(s, wf, engine=engine), "/readyz") == (200, {"ready": True})
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0003_scope'"))
    status, body = await _get(build_app(s, wf, engine=engine), "/readyz")
    assert status == 503 and "schema at 0003_scope" in body["reason"] and migrate.head_revision() in body["reason"]
