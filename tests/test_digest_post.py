"""Posting the weekly digest: to Slack (Block Kit, then both charts uploaded into its thread) and
Teams (an Adaptive Card through the stored conversation reference, then the charts card in its
reply chain), once per week and channel: a second tick, a second worker, or two ticks at the same
moment post nothing more; a channel whose post fails (an error from the fake API) is retried on the
next tick and does not keep the others from being posted. SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from agents.session import EngineSettings
from bot import audit
from bot.db import transaction
from bot.digest.post import STALE_POSTING, Target, claim, rows
from bot.digest.service import DigestConfig, DigestService
from bot.digest.week import parse_week, zone
from bot.models import AuditEntry, Incident
from bot.remediation import Signer
from bot.slack.surface import SlackSurface, make_client
from tests.digest_support import AFTER_WEEK, WEEK, seed
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.teams_support import OPS, SIGNER_KEY, fake_teams, installed, teams_surface, texts  # noqa: F401

DIGEST, LEADS = "C0DIGEST", "C0LEADS"
CONFIG = DigestConfig(slack_channels=(DIGEST, LEADS), teams_channels=(OPS,), tz=zone("UTC"))


@pytest.fixture
def fake_slack():
    with FakeSlack() as fake:
        for c in (DIGEST, LEADS):
            fake.add_channel(c)
        yield fake


async def _surfaces(fake_slack, fake_teams, factory):  # noqa: F811
    from bot.teams.app import TeamsBot

    teams = teams_surface(fake_teams, factory, Signer(SIGNER_KEY))
    await TeamsBot(None, teams, None, frozenset()).remember(installed(OPS, service_url=fake_teams.url))
    return {"slack": SlackSurface(make_client(DEFAULT_TOKEN, fake_slack.url)), "teams": teams}


@pytest.fixture
async def world(migrated, fake_slack, fake_teams):  # noqa: F811
    _, factory = migrated
    seed(factory)
    surfaces = await _surfaces(fake_slack, fake_teams, factory)
    return factory, surfaces, fake_slack, fake_teams


def slack_digests(fake: FakeSlack, channel: str, week: str = WEEK) -> list[dict]:
    return [m for m in fake.messages(channel) if m.get("thread_ts", m["ts"]) == m["ts"] and not m.get("upload")
            and any(b.get("block_id") == "digest_header" and week in b["text"]["text"] for b in m.get("blocks") or [])]


def teams_digests(fake, week: str = WEEK) -> list:  # noqa: ANN001
    return [p for p in fake.posted(OPS) if p.id == p.root and f"Weekly digest · {week}" in texts(
        p.activity["attachments"][0]["content"])]


def _audit(factory, event: str) -> list[str]:
    with factory() as s:
        return list(s.execute(select(AuditEntry.subject).where(AuditEntry.event == event).order_by(AuditEntry.seq))
                    .scalars())


async def test_a_due_tick_posts_each_channel_once_with_its_charts(world):
    factory, surfaces, slack, teams = world
    service = DigestService(factory, surfaces, CONFIG)
    assert await service.tick(AFTER_WEEK - timedelta(minutes=1)) == {"week": None}  # not 09:00 yet
    assert slack.calls("chat.postMessage") == [] and teams.posted() == []

    result = await service.tick(AFTER_WEEK)
    assert result["posted"] == [f"slack:{DIGEST}", f"slack:{LEADS}", f"teams:{OPS}"] and not result["failed"]
    for channel in (DIGEST, LEADS):
        [msg] = slack_digests(slack, channel)
        uploads = [m for m in slack.thread(channel, msg["ts"]) if m.get("upload")]
        assert len(uploads) == 2  # both charts, in the digest's thread
        assert "Time to resolve" in " ".join(f["title"] for m in uploads for f in m["files"])
    [card] = teams_digests(teams)
    [charts] = [p for p in teams.thread(OPS, card.id) if p.id != card.id]
    images = [e for e in json.dumps(charts.activity).split('"type": "Image"')][1:]
    assert len(images) == 2 and "data:image/png;base64," in json.dumps(charts.activity)

    again = await service.tick(AFTER_WEEK + timedelta(minutes=1))
    assert again["posted"] == [] and len(again["skipped"]) == 3
    assert len(slack_digests(slack, DIGEST)) == 1 and len(teams_digests(teams)) == 1
    stored = rows(factory, WEEK)
    assert [(r.platform, r.channel, r.status, r.attempts) for r in stored] == [
        ("slack", DIGEST, "posted", 1), ("slack", LEADS, "posted", 1), ("teams", OPS, "posted", 1)]
    assert stored[0].content["incidents"] == 8 and stored[0].message_ref["ts"] == slack_digests(slack, DIGEST)[0]["ts"]
    assert _audit(factory, "digest.posted") == [f"digest/{WEEK}/slack:{DIGEST}", f"digest/{WEEK}/slack:{LEADS}",
                                                f"digest/{WEEK}/teams:{OPS}"]


async def test_a_failing_channel_is_retried_next_tick_without_blocking_the_others(world):
    factory, surfaces, slack, teams = world
    service = DigestService(factory, surfaces, CONFIG)
    slack.fail("chat.postMessage", error="channel_not_found", status=200, times=1)  # the first Slack channel
    teams.fail("connector.create", status=500, times=1)
    first = await service.tick(AFTER_WEEK)
    assert first["posted"] == [f"slack:{LEADS}"] and first["failed"] == [f"slack:{DIGEST}", f"teams:{OPS}"]
    assert slack_digests(slack, DIGEST) == [] and len(slack_digests(slack, LEADS)) == 1 and teams_digests(teams) == []
    failed = {r.channel: r for r in rows(factory, WEEK)}
    assert (failed[DIGEST].status, failed[DIGEST].attempts) == ("failed", 1)
    assert "channel_not_found" in failed[DIGEST].error and "500" in failed[OPS].error

    with transaction(factory) as s:  # the week's data changes before the retry: the retry posts what was computed
        s.get(Incident, "inc-a").service = "somewhere-else"
    assert (await service.tick(AFTER_WEEK + timedelta(seconds=30)))["skipped"]  # within the 1-minute backoff
    second = await service.tick(AFTER_WEEK + timedelta(minutes=1))  # the next tick
    assert second["posted"] == [f"slack:{DIGEST}", f"teams:{OPS}"] and not second["failed"]
    assert [(r.channel, r.status, r.attempts) for r in rows(factory, WEEK)] == [
        (DIGEST, "posted", 2), (LEADS, "posted", 1), (OPS, "posted", 2)]
    for channel in (DIGEST, LEADS):
        [msg] = slack_digests(slack, channel)
        assert "somewhere-else" not in json.dumps(msg["blocks"]) and "cart 3 (+2)" in json.dumps(msg["blocks"])
    assert len(teams_digests(teams)) == 1
    assert _audit(factory, "digest.failed") == [f"digest/{WEEK}/slack:{DIGEST}", f"digest/{WEEK}/teams:{OPS}"]


async def test_retries_back_off_and_stop_after_the_last_attempt(world):
    factory, surfaces, slack, _ = world
    service = DigestService(factory, surfaces, DigestConfig(slack_channels=(DIGEST,), tz=zone("UTC")))
    slack.fail("chat.postMessage", error="not_in_channel", status=200, times=None)
    minutes = [0, 1, 2, 3, 7, 15, 31, 63, 127, 1000]  # attempt k+1 may run 2^k - 1 minutes after the first
    tried = []
    for m in minutes:
        result = await service.tick(AFTER_WEEK + timedelta(minutes=m))
        tried.append(m) if result["failed"] else None
    assert tried == [0, 1, 3, 7, 15, 31, 63, 127]  # 8 attempts; 2 is inside the backoff, 1000 past the last
    [row] = rows(factory, WEEK)
    assert (row.status, row.attempts) == ("failed", 8)
    slack.clear_failures()
    forced = await service.post(parse_week(WEEK, zone("UTC")), AFTER_WEEK + timedelta(minutes=1001), force=True)
    assert forced["posted"] == [f"slack:{DIGEST}"]  # by hand (chatops digest --post) it is tried again


async def test_a_post_left_half_done_by_a_dead_process_is_taken_over_after_a_while(world):
    factory, surfaces, slack, _ = world
    service = DigestService(factory, surfaces, DigestConfig(slack_channels=(DIGEST,), tz=zone("UTC")))
    from bot.digest.post import ensure_rows

    ensure_rows(factory, WEEK, [Target("slack", DIGEST)], AFTER_WEEK)
    assert claim(factory, WEEK, Target("slack", DIGEST), AFTER_WEEK) is not None  # ...and then the process died
    assert claim(factory, WEEK, Target("slack", DIGEST), AFTER_WEEK) is None  # nobody else may post meanwhile
    assert (await service.tick(AFTER_WEEK + timedelta(minutes=5)))["skipped"] == [f"slack:{DIGEST}"]
    later = await service.tick(AFTER_WEEK + STALE_POSTING + timedelta(minutes=1))
    assert later["posted"] == [f"slack:{DIGEST}"] and len(slack_digests(slack, DIGEST)) == 1


async def test_ticks_at_the_same_moment_post_once_per_channel(world, fake_slack, fake_teams):  # noqa: F811
    """Two processes (own clients and surfaces, one database) tick the same period at once."""
    factory, surfaces, slack, teams = world
    other = await _surfaces(fake_slack, fake_teams, factory)
    results = await asyncio.gather(*(DigestService(factory, s, CONFIG).tick(AFTER_WEEK) for s in (surfaces, other)))
    posted = sorted(k for r in results for k in r["posted"])
    assert posted == sorted([f"slack:{DIGEST}", f"slack:{LEADS}", f"teams:{OPS}"])
    assert len(slack_digests(slack, DIGEST)) == 1 and len(slack_digests(slack, LEADS)) == 1
    assert len(teams_digests(teams)) == 1


async def test_two_workers_running_the_periodic_task_post_the_week_once(world, fake_slack, fake_teams,  # noqa: F811
                                                                       monkeypatch, tmp_path):
    """Two LocalRunner-driven workflows on one database, with the digest on their periodic schedule
    (as `chatops serve`/`worker` build it from DIGEST_* settings): each period runs once, and the week
    is posted once per channel whatever runs when."""
    from bot.jobs.setup import periodic_schedule
    from bot.settings import Settings, get_settings
    from bot.workflow.service import Workflow

    factory, surfaces, slack, teams = world
    monkeypatch.chdir(tmp_path)
    for key in ("ANTHROPIC_API_KEY", "AGENT_ENGINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DIGEST_SLACK_CHANNELS", f"{DIGEST},{LEADS}")
    monkeypatch.setenv("DIGEST_TEAMS_CHANNELS", OPS)
    monkeypatch.setenv("DIGEST_TIMEZONE", "UTC")
    get_settings.cache_clear()
    try:
        schedule = periodic_schedule(get_settings())
        assert schedule["digest"] == 60.0
        assert "digest" not in periodic_schedule(Settings(_env_file=None, digest_slack_channels=(),
                                                          digest_teams_channels=()))
        workers = [Workflow(factory, s, None, EngineSettings(engine="offline"), None, periodic={"digest": 60.0},
                            runner_options={"poll": 0.05})
                   for s in (surfaces, await _surfaces(fake_slack, fake_teams, factory))]
        made = await asyncio.gather(*(asyncio.to_thread(w.runner.schedule_periodic, AFTER_WEEK + timedelta(seconds=5))
                                      for w in workers))
        assert sum(map(len, made)) == 1  # one job for the period, whichever worker inserted it
        for w in workers:
            w.start()
        for _ in range(400):
            if _audit(factory, "periodic.ran"):
                break
            await asyncio.sleep(0.05)
        # and both workers' handlers for the same period at once (a period run twice would do this)
        handlers = [w.job_handlers()["digest"] for w in workers]
        args = {"period": int(AFTER_WEEK.timestamp() // 60), "seconds": 60.0}
        await asyncio.gather(*(h(args) for h in handlers))
        for w in workers:
            await w.stop(grace=5)
    finally:
        get_settings.cache_clear()
    assert len(slack_digests(slack, DIGEST)) == 1 and len(slack_digests(slack, LEADS)) == 1
    assert len(teams_digests(teams)) == 1
    with factory() as s:
        ran = [json.loads(p) for p in s.execute(select(AuditEntry.payload).where(AuditEntry.event == "periodic.ran"))
               .scalars()]
    week_runs = [r for r in ran if r["task"] == "digest" and r.get("week") == WEEK]
    assert sum(len(r["posted"]) for r in week_runs) == 3
    # whatever the real clock's own periods did, no week went twice to any channel
    for channel in (DIGEST, LEADS):
        weeks = [b["text"]["text"] for m in slack.messages(channel) for b in m.get("blocks") or []
                 if b.get("block_id") == "digest_header"]
        assert len(weeks) == len(set(weeks))
    with factory() as s:
        assert audit.verify(s).ok
