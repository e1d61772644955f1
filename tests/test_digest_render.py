"""Golden renders of the seeded week's digest on Slack (Block Kit), Teams (Adaptive Card) and the
console (text), plus the limits each platform imposes and text from outside shown literally.
UPDATE_GOLDENS=1 rewrites the goldens after an intended change (review the diff)."""
from __future__ import annotations

import io
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
from slack_sdk.models.blocks import Block

from bot.digest.compute import compute
from bot.digest.model import Digest, Gap, LearningItem
from bot.digest.render_slack import render_slack
from bot.digest.render_teams import charts_card, render_teams
from bot.digest.runbooks import snapshot
from bot.digest.summary import deterministic
from bot.digest.week import parse_week, zone
from bot.slack.blocks import MAX_BLOCKS, MAX_TEXT
from bot.teams.cards import MAX_CARD_BYTES, card_size
from tests.digest_support import WEEK, knowledge_base, seed
from tests.support import check_golden
from tests.teams_card_support import validate_card
from tests.teams_support import sqlite_factory, texts  # noqa: F401

GOLDEN = Path(__file__).parent / "golden" / "digest"


@pytest.fixture
def digest(sqlite_factory, tmp_path):  # noqa: F811
    seed(sqlite_factory)
    kb = knowledge_base(tmp_path)
    d = compute(sqlite_factory, parse_week(WEEK, zone("UTC")), snapshot(kb))
    kb.close()
    d.summary = deterministic(d)
    return d


def test_golden_slack(digest):
    text, blocks = render_slack(digest)
    for b in blocks:  # slack_sdk's own Block Kit checks
        Block.parse(b).validate_json()
    check_golden(GOLDEN / "slack.json", {"text": text, "blocks": blocks})


def test_golden_teams(digest):
    card = render_teams(digest)
    validate_card(card)  # the Adaptive Card 1.5 elements and properties Teams reads
    assert card_size(card) <= MAX_CARD_BYTES
    check_golden(GOLDEN / "teams.json", card)


async def test_golden_console(sqlite_factory, tmp_path, monkeypatch):  # noqa: F811
    """The console's /digest: the text render, posted in #ops like any bot message."""
    from bot.console.repl import Console
    from bot.console.surface import ConsoleSurface
    from bot.remediation import Identity
    from bot.settings import get_settings

    for key in ("ANTHROPIC_API_KEY", "AGENT_ENGINE", "DIGEST_TIMEZONE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    seed(sqlite_factory)
    kb = knowledge_base(tmp_path)
    out = io.StringIO()
    console = Console(SimpleNamespace(knowledge=kb), ConsoleSurface(out), sqlite_factory, None, None,
                      identity=Identity.parse("alice", default_platform="console"))
    try:
        for line in ("/digest 2026-W49", "/digest 2026-W60", "/digest"):
            await console.handle(line)
    finally:
        kb.close()
        get_settings.cache_clear()
    lines = out.getvalue().splitlines()
    check_golden(GOLDEN / "console.json", lines[:lines.index("/digest: '2026-W60' does not exist: ISO years have 52 or "
                                                             "53 weeks") + 1])
    assert [ln for ln in lines if ln.startswith("[2] #ops · chatops: Weekly digest · ")]  # the last full week


def test_the_deterministic_summary_states_the_figures(digest):
    assert digest.summary == (
        "8 incidents this week (3 the week before), most of them for cart (3). Median time to resolve was 40m "
        "(p90 1h 30m). Of 8 diagnoses, 2 were confirmed right and 2 marked wrong (50% of those judged); 1 confirmed "
        "by an action that resolved the alert. 2 actions ran: 1 succeeded, 1 failed. To do: tune "
        "KubePodCrashLooping; write a runbook for NodeNotReady; review 2 diagnoses marked wrong.")


def _hostile(d: Digest, n: int) -> Digest:
    """The digest with `n` learning-queue entries and gaps full of markup and pings."""
    evil = "<!channel> <https://evil.example|Slack SSO> [click](https://evil.example) *bold* {{DATE(x)}} "
    d = d.model_copy(deep=True)
    d.summary = evil * 3
    d.learning_queue = [LearningItem(incident_id=f"inc-{i}", diagnosis_id=f"d-{i}", title=evil + str(i) * 300,
                                     diagnosed="bad_deploy", notes=[evil * 5], by=["slack:U1"]) for i in range(n)]
    d.gaps = [Gap(category="unknown", diagnoses=n, weak=n, alerts=[evil + str(i) for i in range(n)])]
    return d


def test_slack_escapes_outside_text_and_stays_within_block_kit_limits(digest):
    text, blocks = render_slack(_hostile(digest, 200))
    for b in blocks:
        Block.parse(b).validate_json()
    raw = json.dumps(blocks)
    assert "<!channel>" not in raw and "<https://evil" not in raw and "&lt;!channel&gt;" in raw
    assert len(blocks) <= MAX_BLOCKS and "<!channel>" not in text
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids))
    assert all(len(b["text"]["text"]) <= MAX_TEXT for b in blocks if b["type"] == "section")
    assert "more" in raw  # what did not fit is counted


def test_teams_card_stays_within_budget_and_shows_outside_text_literally(digest):
    card = render_teams(_hostile(digest, 300))
    validate_card(card)
    assert card_size(card) <= MAX_CARD_BYTES
    shown = texts(card)
    assert "[click](https://evil.example)" in shown  # shown as written, not a link
    assert "](https://evil" not in json.dumps(card, ensure_ascii=False)  # a word joiner breaks every link form
    assert "…and" in shown  # lines left out are counted


def test_teams_charts_card_leaves_out_what_does_not_fit():
    small = "data:image/png;base64," + "A" * 4_000
    huge = "data:image/png;base64," + "".join(random.Random(3).choices("ABCD", k=30_000))
    card = charts_card("2026-W49", [("per day", small), ("trend", huge)])
    validate_card(card)
    assert card_size(card) <= MAX_CARD_BYTES
    urls = [e["url"] for e in json.loads(json.dumps(card))["body"][1]["items"] if e.get("type") == "Image"]
    assert urls == [small] and "Left out, too large for a Teams message: trend" in texts(card)
