"""`chatops digest --dry-run | --post [--week]`: the digest printed, and posted by hand through the
same once-per-week-and-channel path as the periodic task (against the loopback Slack fake)."""
from __future__ import annotations

import pytest

from bot import migrate
from bot.cli import main
from bot.db import make_engine, session_factory
from tests.digest_support import runbook_dir, seed
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack


@pytest.fixture
def seeded(cli_env, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'chatops.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    seed(session_factory(engine))
    engine.dispose()
    for key in ("ANTHROPIC_API_KEY", "AGENT_ENGINE", "SLACK_BOT_TOKEN", "TEAMS_APP_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(runbook_dir(tmp_path)))
    monkeypatch.setenv("DIGEST_TIMEZONE", "UTC")
    cli_env(url)
    return monkeypatch


def test_dry_run_prints_the_digest_and_where_it_would_go(seeded, capsys):
    seeded.setenv("DIGEST_SLACK_CHANNELS", "C0DIGEST")
    seeded.setenv("DIGEST_TEAMS_CHANNELS", "19:nowhere@thread.tacv2")
    assert main(["digest", "--dry-run", "--week", "2026-W49"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Weekly digest · 2026-W49 · Mon 30 Nov – Sun 6 Dec 2026 (UTC)\n")
    assert "8 incidents, 3 last week (+5)" in out and "NodeNotReady infra: 2 incidents" in out
    assert "2 runbooks added or changed: Crash loops, Disk full" in out  # KNOWLEDGE_DIR's, mtimes in W49
    assert "  slack C0DIGEST: not posted yet\n" in out
    assert "  teams 19:nowhere@thread.tacv2: cannot be posted: no stored conversation reference" in out


@pytest.mark.parametrize("argv,message", [
    (["--dry-run", "--week", "2026-W60"], "--week: '2026-W60' does not exist"),
    (["--dry-run", "--week", "last"], "is not an ISO week; write it as YYYY-Www"),
    (["--post"], "nowhere to post: set DIGEST_SLACK_CHANNELS and/or DIGEST_TEAMS_CHANNELS"),
])
def test_bad_usage_is_one_line_and_exit_2(seeded, capsys, argv, message):
    assert main(["digest", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_post_by_hand_posts_once_and_retries_a_failed_channel(seeded, capsys):
    with FakeSlack() as fake:
        fake.add_channel("C0DIGEST")
        fake.add_channel("C0LEADS")
        seeded.setenv("SLACK_BOT_TOKEN", DEFAULT_TOKEN)
        seeded.setenv("SLACK_API_URL", fake.url)
        seeded.setenv("DIGEST_SLACK_CHANNELS", "C0DIGEST,C0LEADS")
        fake.fail("chat.postMessage", error="not_in_channel", status=200, times=1)
        assert main(["digest", "--post", "--week", "2026-W49"]) == 1
        out = capsys.readouterr().out
        assert "slack C0DIGEST: failed after 1 attempt(s): SlackApiError not_in_channel" in out
        assert "slack C0LEADS: posted " in out
        assert main(["digest", "--post", "--week", "2026-W49"]) == 0  # by hand: no backoff wait
        out = capsys.readouterr().out
        assert "slack C0DIGEST: posted " in out and "(attempt 2)" in out
        assert main(["digest", "--post", "--week", "2026-W49"]) == 0  # nothing left to do
        posts = [c for c in fake.calls("chat.postMessage") if c.status == 200 and c.response.get("ok")]
        assert sorted(c.args["channel"] for c in posts) == ["C0DIGEST", "C0LEADS"]
        assert len(fake.calls("files.completeUploadExternal")) == 4  # two charts per posted digest


def test_post_without_the_platform_credentials_says_what_is_missing(seeded, capsys):
    seeded.setenv("DIGEST_SLACK_CHANNELS", "C0DIGEST")
    assert main(["digest", "--post", "--week", "2026-W49"]) == 1
    assert "slack C0DIGEST: not posted yet (SLACK_BOT_TOKEN is not set)" in capsys.readouterr().out
