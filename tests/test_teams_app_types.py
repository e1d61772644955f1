"""The bot's own tokens for each Azure Bot app type, fetched by the SDK's credentials (MSAL) from the
fake Entra / managed-identity endpoint: multi-tenant from botframework.com, single-tenant from its
tenant, a user-assigned managed identity from the App Service identity endpoint; one token serves
many posts (kept per process, refreshed off the event loop), and a wrong secret fails loudly."""
from __future__ import annotations

import pytest

from bot.teams.adapter import ConnectorError, TeamsAdapter
from bot.teams.config import teams_config
from tests.teams_support import APP_ID, PERSONAL, TENANT, fake_teams, settings  # noqa: F401

REFERENCE = {"bot": {"id": f"28:{APP_ID}", "name": "chatops"}, "user": {"id": "29:1AliceTeamsId"},
             "conversation": {"id": PERSONAL, "conversationType": "personal"}, "channelId": "msteams"}


async def _send_twice(fake, **over) -> list:
    adapter = TeamsAdapter(teams_config(settings(fake, **over)))
    ref = {**REFERENCE, "serviceUrl": fake.url}
    for text in ("one", "two"):
        await adapter.send(ref, PERSONAL, {"type": "message", "text": text})
    assert [c.status for c in fake.calls("connector")] == [201, 201]
    return [c for c in fake.calls() if c.kind in ("token", "msi")]


@pytest.mark.parametrize("over, tenant", [({}, "botframework.com"),
                                          ({"teams_app_type": "SingleTenant", "teams_tenant_id": TENANT}, TENANT)])
async def test_password_app_types_get_one_token_from_their_tenant(fake_teams, over, tenant):  # noqa: F811
    calls = await _send_twice(fake_teams, **over)
    [token] = [c for c in calls if c.path.endswith("/oauth2/v2.0/token")]
    assert token.path == f"/{tenant}/oauth2/v2.0/token"
    assert token.body["client_id"] == APP_ID and token.body["scope"] == "https://api.botframework.com/.default"


async def test_managed_identity_gets_its_token_from_the_identity_endpoint(fake_teams, monkeypatch):  # noqa: F811
    monkeypatch.setenv("IDENTITY_ENDPOINT", fake_teams.msi_url)
    monkeypatch.setenv("IDENTITY_HEADER", fake_teams.msi_header)
    calls = await _send_twice(fake_teams, teams_app_type="UserAssignedMSI", teams_app_password=None,
                              teams_tenant_id=TENANT)
    assert [c.kind for c in calls] == ["msi"]  # no client secret anywhere
    assert all(c.headers["Authorization"].startswith("Bearer fake-at-") for c in fake_teams.calls("connector"))


async def test_a_wrong_secret_fails_the_post_with_the_entra_error(fake_teams):  # noqa: F811
    adapter = TeamsAdapter(teams_config(settings(fake_teams, teams_app_password="wrong")))
    with pytest.raises(PermissionError, match="invalid_client"):
        await adapter.send({**REFERENCE, "serviceUrl": fake_teams.url}, PERSONAL, {"type": "message", "text": "x"})
    assert fake_teams.calls("connector") == []


async def test_a_connector_refusal_is_a_connector_error(fake_teams):  # noqa: F811
    adapter = TeamsAdapter(teams_config(settings(fake_teams)))
    fake_teams.fail("connector.send", 403)
    with pytest.raises(ConnectorError) as err:
        await adapter.send({**REFERENCE, "serviceUrl": fake_teams.url}, PERSONAL, {"type": "message", "text": "x"})
    assert err.value.status == 403
