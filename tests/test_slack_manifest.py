"""The Slack app manifests (HTTP and Socket Mode) hold what the bot needs, within Slack's limits."""
from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest
import yaml

from tests.support import REPO

HTTP = REPO / "deploy" / "slack" / "manifest.yaml"
SOCKET = REPO / "deploy" / "slack" / "manifest-socket-mode.yaml"
SCOPES = {"commands", "chat:write", "chat:write.public", "channels:history", "groups:history", "channels:read",
          "groups:read", "files:write", "users:read", "usergroups:read", "app_mentions:read", "channels:join"}
# Scope each subscribed event needs (Slack refuses the manifest otherwise).
EVENT_SCOPE = {"app_mention": "app_mentions:read", "message.channels": "channels:history",
               "message.groups": "groups:history"}


def load(path) -> dict:
    return yaml.safe_load(path.read_text())


def urls(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k.endswith("url") and isinstance(v, str):
                yield f"{path}.{k}", v
            yield from urls(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from urls(v, f"{path}[{i}]")


def without_urls(node: Any) -> Any:
    node = copy.deepcopy(node)
    if isinstance(node, dict):
        return {k: without_urls(v) for k, v in node.items() if not (k.endswith("url") and isinstance(v, str))}
    if isinstance(node, list):
        return [without_urls(v) for v in node]
    return node


@pytest.mark.parametrize("path", [HTTP, SOCKET], ids=["http", "socket"])
def test_manifest_has_what_the_bot_needs(path):
    m = load(path)
    assert m["_metadata"] == {"major_version": 1, "minor_version": 1}
    info = m["display_information"]
    assert 0 < len(info["name"]) <= 35 and 0 < len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    bot = m["features"]["bot_user"]
    assert bot["always_online"] is True and 0 < len(bot["display_name"]) <= 80
    (cmd,) = [c for c in m["features"]["slash_commands"] if c["command"] == "/diagnose"]
    assert cmd["description"] and cmd["usage_hint"] == "<service | namespace/pod | alert text>"
    assert cmd["should_escape"] is False
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert SCOPES <= scopes
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    assert {"message.channels", "message.groups", "app_mention"} <= events
    assert all(EVENT_SCOPE[e] in scopes for e in events)
    s = m["settings"]
    assert s["interactivity"]["is_enabled"] is True
    assert s["org_deploy_enabled"] is False and s["token_rotation_enabled"] is False


def test_http_manifest_points_everything_at_slack_events():
    m = load(HTTP)
    assert m["settings"]["socket_mode_enabled"] is False
    found = dict(urls(m))
    assert {".features.slash_commands[0].url", ".settings.event_subscriptions.request_url",
            ".settings.interactivity.request_url"} <= set(found)
    assert set(found.values()) == {"https://YOUR_HOST/slack/events"}


def test_socket_mode_manifest_is_the_same_app_without_urls():
    http, sock = load(HTTP), load(SOCKET)
    assert sock["settings"]["socket_mode_enabled"] is True
    assert list(urls(sock)) == []
    http_rest = without_urls(http)
    http_rest["settings"]["socket_mode_enabled"] = True
    assert without_urls(sock) == http_rest  # the two cannot drift apart
