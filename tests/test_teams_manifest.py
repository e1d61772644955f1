"""The Teams app manifest template and icons: what Teams requires to sideload the app, the bot's
scopes and commands, placeholders that the packaging script fills (and refuses to leave empty)."""
from __future__ import annotations

import json
import re
import zipfile

import pytest
from PIL import Image

from tests.support import REPO

HERE = REPO / "deploy" / "teams"
GUID = "5a0c6e0e-6a3b-4c59-9d2e-0b07c4a1b0e1"


def _manifest() -> dict:
    return json.loads((HERE / "manifest.json").read_text())


def test_manifest_has_what_teams_requires():
    m = _manifest()
    for key in ("$schema", "manifestVersion", "version", "id", "developer", "name", "description", "icons",
                "accentColor", "bots", "validDomains"):
        assert key in m, key
    assert tuple(int(x) for x in m["manifestVersion"].split(".")) >= (1, 17)
    assert f"v{m['manifestVersion']}/MicrosoftTeams.schema.json" in m["$schema"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", m["version"])
    assert all(m["developer"][k].startswith("https://") for k in ("websiteUrl", "privacyUrl", "termsOfUseUrl"))
    assert len(m["name"]["short"]) <= 30 and len(m["name"]["full"]) <= 100
    assert len(m["description"]["short"]) <= 80 and len(m["description"]["full"]) <= 4000
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}", m["accentColor"])
    assert m["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_bot_scopes_commands_and_placeholders():
    m = _manifest()
    [bot] = m["bots"]
    assert bot["botId"] == m["id"] == "${{TEAMS_APP_ID}}"
    assert set(bot["scopes"]) == {"team", "groupChat", "personal"} and bot["isNotificationOnly"] is False
    [commands] = bot["commandLists"]
    assert {c["title"] for c in commands["commands"]} == {"diagnose", "help"}
    assert set(commands["scopes"]) == set(bot["scopes"])
    assert m["validDomains"] == ["${{BOT_DOMAIN}}"]
    # Alert posts by other bots reach ours without a mention only with these resource-specific permissions.
    rsc = {p["name"] for p in m["authorization"]["permissions"]["resourceSpecific"]}
    assert {"ChannelMessage.Read.Group", "ChatMessage.Read.Chat"} <= rsc
    assert m["webApplicationInfo"]["id"] == "${{TEAMS_APP_ID}}"


def test_icons_have_the_sizes_teams_requires():
    color, outline = Image.open(HERE / "color.png"), Image.open(HERE / "outline.png")
    assert color.size == (192, 192) and outline.size == (32, 32)
    raw = outline.convert("RGBA").tobytes()
    pixels = [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]
    assert any(a == 0 for *_, a in pixels), "outline needs a transparent background"
    assert all((r, g, b) == (255, 255, 255) for r, g, b, a in pixels if a), "outline must be white"


def test_package_fills_every_placeholder(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("teams_package", HERE / "package.py")
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    out = package.package({"TEAMS_APP_ID": GUID, "BOT_DOMAIN": "bot.example.com", "DEVELOPER_NAME": "Example"},
                          tmp_path / "app.zip")
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]
        m = json.loads(z.read("manifest.json"))
    assert m["id"] == m["bots"][0]["botId"] == GUID and m["validDomains"] == ["bot.example.com"]
    assert "${{" not in json.dumps(m)
    with pytest.raises(SystemExit, match="BOT_DOMAIN"):
        package.package({"TEAMS_APP_ID": GUID, "BOT_DOMAIN": "", "DEVELOPER_NAME": "x"}, tmp_path / "bad.zip")
