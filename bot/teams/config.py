"""The Teams settings as one checked value: app identity, auth endpoints, channels.

`teams_config(settings)` is None when Teams is off (no TEAMS_APP_ID and no emulator mode), and
raises TeamsConfigError naming the setting when the combination cannot work or would be unsafe:
whenever an app id is set, every inbound request must carry a Bot Framework token for it; the
unauthenticated mode exists only for the local Bot Framework Emulator, without an app id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_OPENID_METADATA = "https://login.botframework.com/v1/.well-known/openidconfiguration"
DEFAULT_LOGIN = "https://login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com"
MULTI_TENANT_AUTHORITY = "botframework.com"  # Bot Connector tokens of multi-tenant bots come from this tenant
APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")


class TeamsConfigError(ValueError):
    """The Teams settings cannot make a safe endpoint; the message names the setting."""


@dataclass(frozen=True)
class TeamsConfig:
    app_id: str
    password: str
    app_type: str
    tenant_id: str
    alert_channels: frozenset[str]
    alerts_channel: str
    openid_metadata_url: str = DEFAULT_OPENID_METADATA
    login_url: str = DEFAULT_LOGIN
    graph_url: str = DEFAULT_GRAPH
    allow_unauthenticated: bool = False

    @property
    def channel_tenant(self) -> str:
        """The tenant the bot's Bot Connector tokens are issued by."""
        return self.tenant_id if self.app_type != "MultiTenant" else MULTI_TENANT_AUTHORITY

    @property
    def custom_login(self) -> bool:
        """A proxy or test authority: Microsoft's instance discovery would not know it."""
        return self.login_url != DEFAULT_LOGIN


def _secret(value: Any) -> str:
    return value.get_secret_value().strip() if value is not None and value.get_secret_value() else ""


def _url(name: str, value: str | None, default: str) -> str:
    value = (value or "").strip().rstrip("/")
    if not value:
        return default
    if not value.startswith(("https://", "http://")):
        raise TeamsConfigError(f"{name} must be an http(s) URL, not {value[:80]!r}")
    return value


def teams_config(s: Any) -> TeamsConfig | None:  # s: bot.settings.Settings
    app_id = (s.teams_app_id or "").strip()
    password, tenant = _secret(s.teams_app_password), (s.teams_tenant_id or "").strip()
    channels = frozenset(c.strip() for c in s.teams_alert_channels if c.strip())
    alerts_channel = (s.teams_alerts_channel or "").strip()
    if not app_id and not s.teams_allow_unauthenticated:
        if channels or alerts_channel:
            raise TeamsConfigError("TEAMS_ALERT_CHANNELS or TEAMS_ALERTS_CHANNEL is set but TEAMS_APP_ID is not")
        return None
    if app_id and s.teams_allow_unauthenticated:
        raise TeamsConfigError("TEAMS_ALLOW_UNAUTHENTICATED is for the local Bot Framework Emulator without an app id; "
                               "with TEAMS_APP_ID set every request must carry a Bot Framework token")
    if app_id and s.teams_app_type != "UserAssignedMSI" and not password:
        raise TeamsConfigError(f"TEAMS_APP_PASSWORD is not set (TEAMS_APP_TYPE={s.teams_app_type} needs the client "
                               "secret of the bot's app registration)")
    if app_id and s.teams_app_type != "MultiTenant" and not tenant:
        raise TeamsConfigError(f"TEAMS_TENANT_ID is not set (TEAMS_APP_TYPE={s.teams_app_type} needs it)")
    return TeamsConfig(app_id=app_id, password=password, app_type=s.teams_app_type, tenant_id=tenant,
                       alert_channels=channels, alerts_channel=alerts_channel,
                       openid_metadata_url=_url("TEAMS_OPENID_METADATA_URL", s.teams_openid_metadata_url,
                                                DEFAULT_OPENID_METADATA),
                       login_url=_url("TEAMS_LOGIN_URL", s.teams_login_url, DEFAULT_LOGIN),
                       graph_url=_url("TEAMS_GRAPH_URL", s.teams_graph_url, DEFAULT_GRAPH),
                       allow_unauthenticated=bool(s.teams_allow_unauthenticated))
