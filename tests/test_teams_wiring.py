"""How processes pick Teams up from the settings: `chatops serve` and `chatops worker` refuse an
unsafe or incomplete Teams configuration in one line, a worker gets a Teams surface (it posts
proactively from the stored references), and a Teams-only server needs no Slack setting."""
from __future__ import annotations

from bot.commands.worker_cmd import surfaces_from_settings
from bot.server import ConfigError, check_settings
from bot.settings import Settings
from bot.teams.surface import TeamsSurface
from tests.support import run_chatops
from tests.teams_support import APP_ID, SECRET


def test_serve_and_worker_refuse_an_incomplete_teams_setup(tmp_path):
    for command in ("serve", "worker"):
        r = run_chatops(tmp_path, command, TEAMS_APP_ID=APP_ID)
        assert r.returncode == 2 and "TEAMS_APP_PASSWORD is not set" in r.stderr and "Traceback" not in r.stderr


def test_a_worker_gets_a_teams_surface(cli_env):
    cli_env(None)  # this test's own DATA_DIR (the signing key) and database settings
    surfaces = surfaces_from_settings(Settings(_env_file=None, teams_app_id=APP_ID, teams_app_password=SECRET))
    assert set(surfaces) == {"teams"} and isinstance(surfaces["teams"], TeamsSurface)
    assert surfaces_from_settings(Settings(_env_file=None)) == {}


def test_teams_only_needs_no_slack_but_slack_settings_still_count():
    teams = dict(teams_app_id=APP_ID, teams_app_password=SECRET)
    assert check_settings(Settings(_env_file=None, **teams))[1] == {}
    try:
        check_settings(Settings(_env_file=None, slack_signing_secret="s", **teams))
    except ConfigError as exc:
        assert str(exc) == "SLACK_BOT_TOKEN is not set"
    else:
        raise AssertionError("a half-configured Slack app must still be refused")


def test_only_the_adapter_imports_the_bot_framework_sdk():
    """Moving to the Microsoft 365 Agents SDK must touch one module (see README, Microsoft Teams)."""
    import ast

    from tests.support import REPO

    importers = set()
    for path in (REPO / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] in ("botbuilder", "botframework", "msrest") for n in names):
                importers.add(path.relative_to(REPO).as_posix())
    assert importers == {"bot/teams/adapter.py"}
