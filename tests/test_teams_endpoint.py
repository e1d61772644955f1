"""POST /api/messages: Bot Framework JWTs checked by the real botbuilder SDK against the fake's
OpenID metadata and JWKS (local RSA key), refusals in one log line, malformed activities 400,
the endpoint off without TEAMS_APP_ID, and the settings that cannot be safe refused."""
from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from bot.models import Conversation
from bot.server import ConfigError, build_app
from tests.fake_teams import FakeTeams, _key
from tests.teams_support import (APP_ID, OPS, activity, fake_teams, installed, settings,  # noqa: F401
                                 sqlite_factory, start, workflow)


@pytest.fixture
async def h(fake_teams, sqlite_factory):  # noqa: F811
    harness = await start(fake_teams, workflow(fake_teams, sqlite_factory))
    yield harness
    await harness.client.close()


def _stored(factory) -> list[str]:
    with factory() as s:
        return list(s.execute(select(Conversation.channel_id)).scalars())


async def test_valid_token_is_accepted_and_the_conversation_remembered(h, sqlite_factory):  # noqa: F811
    resp = await h.post(installed(OPS, service_url=h.fake.url))
    assert resp.status == 200
    await h.settle()
    assert _stored(sqlite_factory) == [OPS]
    assert [c.path for c in h.fake.calls("openid")] == ["/openid/.well-known/openidconfiguration", "/openid/keys"]


@pytest.mark.parametrize("case", ["other key", "expired", "wrong audience", "wrong issuer", "wrong serviceurl",
                                  "no header", "not bearer", "garbage"])
async def test_bad_tokens_are_refused_before_anything_happens(h, sqlite_factory, caplog, case):  # noqa: F811
    act = installed(OPS, service_url=h.fake.url)
    url = h.fake.url
    token = {"other key": h.fake.token_for(APP_ID, url, key=_key()),
             "expired": h.fake.token_for(APP_ID, url, expires_in=-600),  # beyond the SDK's 5 min leeway
             "wrong audience": h.fake.token_for("another-bot-app-id", url),
             "wrong issuer": h.fake.token_for(APP_ID, url, issuer="https://sts.windows.net/attacker/"),
             "wrong serviceurl": h.fake.token_for(APP_ID, "https://evil.example/"),
             "no header": None, "not bearer": None, "garbage": "not.a.jwt"}[case]
    caplog.set_level(logging.WARNING)
    if case == "not bearer":
        resp = await h.client.post("/api/messages", data=json.dumps(act),
                                   headers={"Authorization": "Basic " + h.fake.token_for(APP_ID, url)})
    else:
        resp = await h.post(act, token=token)
    assert resp.status == 401, await resp.text()
    await h.settle()
    assert _stored(sqlite_factory) == [] and h.fake.calls("connector") == []
    lines = [r for r in caplog.records if "/api/messages" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "401" in lines[0].getMessage()


@pytest.mark.parametrize("raw, why", [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "not an object"),
    (b"[" * 100_000, "nested deeper"),
    (json.dumps({"type": "poke", "serviceUrl": "x"}).encode(), "not one this bot handles"),
])
async def test_malformed_bodies_are_400(h, caplog, raw, why):
    caplog.set_level(logging.WARNING)
    resp = await h.post({"serviceUrl": h.fake.url}, raw=raw)
    assert resp.status in (400, 401)
    if resp.status == 400:  # a body that is not even an object is refused before any token check
        assert why in (await resp.json())["error"]
    lines = [r for r in caplog.records if "/api/messages" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None


@pytest.mark.parametrize("change, why", [
    (lambda a: a.pop("conversation"), "conversation is not an object with an id"),
    (lambda a: a.update(text=["a"]), "text is not a string"),
    (lambda a: a.update(attachments=[1]), "attachments is not a list of objects"),
    (lambda a: a["from"].update(aadObjectId=7), "from.aadObjectId is not a string"),
    (lambda a: a.update(type="invoke", name="task/fetch"), "invoke 'task/fetch'"),
    (lambda a: a["conversation"].update(id="19:" + "x" * 400), "longer than 300"),
])
async def test_signed_but_malformed_activities_are_400(h, sqlite_factory, change, why):  # noqa: F811
    act = activity(OPS, service_url=h.fake.url, text="help", mention=True)
    change(act)
    resp = await h.post(act)
    assert resp.status == 400 and why in (await resp.json())["error"]
    await h.settle()
    assert _stored(sqlite_factory) == [] and h.fake.calls("connector") == []


async def test_oversized_body_is_413(h):
    resp = await h.post({}, raw=b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    assert resp.status == 413


async def test_endpoint_is_off_without_an_app_id(fake_teams):  # noqa: F811
    from aiohttp.test_utils import TestClient, TestServer

    from tests.slack_support import RecordingWorkflow
    from tests.slack_support import settings as slack_settings

    app = build_app(slack_settings(), RecordingWorkflow({}))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        resp = await client.post("/api/messages", json=installed(OPS, service_url=fake_teams.url))
        assert resp.status == 503 and "TEAMS_APP_ID" in (await resp.json())["error"]
    finally:
        await client.close()


@pytest.mark.parametrize("over, named", [
    ({"teams_allow_unauthenticated": True}, "TEAMS_ALLOW_UNAUTHENTICATED"),
    ({"teams_app_password": None}, "TEAMS_APP_PASSWORD"),
    ({"teams_app_type": "SingleTenant"}, "TEAMS_TENANT_ID"),
    ({"teams_app_type": "UserAssignedMSI", "teams_app_password": None}, "TEAMS_TENANT_ID"),
    ({"teams_app_id": None}, "TEAMS_APP_ID"),  # alert channels without an app
    ({"teams_alerts_channel": OPS}, "ALERTMANAGER_WEBHOOK_TOKEN"),
    ({"teams_login_url": "ftp://x"}, "TEAMS_LOGIN_URL"),
])
async def test_unsafe_or_incomplete_settings_are_refused(fake_teams, sqlite_factory, over, named):  # noqa: F811
    with pytest.raises(ConfigError, match=named):
        build_app(settings(fake_teams, **over), workflow(fake_teams, sqlite_factory))


async def test_emulator_mode_without_app_id_accepts_unsigned_requests(monkeypatch, sqlite_factory, caplog):  # noqa: F811
    """TEAMS_ALLOW_UNAUTHENTICATED (no app id): the Bot Framework Emulator's unsigned requests work,
    outbound calls carry no token, and the server says so loudly at start."""
    caplog.set_level(logging.WARNING)
    with FakeTeams(require_auth=False) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_path))
        over = dict(teams_app_id=None, teams_app_password=None, teams_alert_channels="", teams_allow_unauthenticated=True)
        h = await start(fake, _emulator_workflow(fake, sqlite_factory, over), **over)
        try:
            assert any("UNAUTHENTICATED" in r.getMessage() for r in caplog.records)
            resp = await h.post(activity(OPS, service_url=fake.url, text="help", mention=True), token=None)
            assert resp.status == 200
            await h.settle()
            [sent] = fake.calls("connector")
            assert "Authorization" not in sent.headers and "diagnose" in json.dumps(sent.body)
        finally:
            await h.client.close()


def _emulator_workflow(fake, factory, over):
    from agents.session import EngineSettings
    from bot.remediation import ApprovalPolicy, Signer
    from bot.teams.adapter import TeamsAdapter
    from bot.teams.config import teams_config
    from bot.teams.surface import TeamsSurface
    from bot.workflow.service import Workflow
    from tests.teams_support import SIGNER_KEY, no_sources

    signer = Signer(SIGNER_KEY)
    surface = TeamsSurface(TeamsAdapter(teams_config(settings(fake, **over))), factory, signer)
    return Workflow(factory, {"teams": surface}, no_sources(), EngineSettings(engine="offline"), None,
                    policy=ApprovalPolicy.build(), signer=signer)
