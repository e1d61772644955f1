"""TeamsSurface details: the chart rides in the diagnosis card as a palette-PNG data URI within Teams'
message limit (the fake answers 413 above it, as Teams does), an unfittable chart is left out with a
note, and a conversation the bot was never installed in is a clear error, not a lost post."""
from __future__ import annotations

import base64
import io
import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from agents.diagnosis import Diagnosis
from bot.charts import render_series_png
from bot.remediation import Signer
from bot.teams.surface import NoConversation, chart_data_uri
from bot.workflow.surface import DiagnosisPost
from tests.fake_teams import MAX_ACTIVITY
from tests.teams_support import (OPS, SIGNER_KEY, card_of, fake_teams, installed, sqlite_factory,  # noqa: F401
                                 teams_surface, texts)


def _chart() -> bytes:
    now = datetime.now(timezone.utc)
    t0 = now.timestamp()
    series = [{"metric": {"pod": f"cart-{i}"}, "values": [[t0 - 5400 + 30 * k, str(300 + 80 * math.sin(k / 7 + i) + k)]
                                                          for k in range(180)]} for i in range(4)]
    return render_series_png(series, "cart memory working set", now - timedelta(minutes=30), now, unit="bytes")


def _post(png: bytes) -> DiagnosisPost:
    d = Diagnosis(category="oom_killed", component="cart", summary="cart is OOM killed at its 512Mi limit.",
                  confidence=0.9)
    return DiagnosisPost("inc-1", "sess-1", d, chart_png=png, chart_title="cart memory working set")


async def _surface(fake, factory):
    from bot.teams.app import TeamsBot  # the install goes through the bot's reference handling

    surface = teams_surface(fake, factory, Signer(SIGNER_KEY))
    await TeamsBot(None, surface, None, frozenset()).remember(installed(OPS, service_url=fake.url))
    return surface


def test_chart_data_uri_is_a_smaller_png_that_decodes():
    from PIL import Image

    png = _chart()
    uri = chart_data_uri(png)
    data = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    assert uri.startswith("data:image/png;base64,") and len(data) < len(png) / 2
    assert Image.open(io.BytesIO(data)).size == Image.open(io.BytesIO(png)).size


async def test_the_chart_is_inside_the_diagnosis_card_within_the_limit(fake_teams, sqlite_factory):  # noqa: F811
    surface = await _surface(fake_teams, sqlite_factory)
    ref = await surface.post_diagnosis(OPS, None, _post(_chart()))
    [call] = fake_teams.calls("connector.create")
    assert call.status == 201 and call.size <= MAX_ACTIVITY
    images = [el for el in card_of(fake_teams.activity(ref.ts))["body"] if el.get("id") == "diagnosis_chart"]
    assert images and images[0]["items"][1]["url"].startswith("data:image/png;base64,")
    await surface.upload_chart(OPS, None, b"png", "title")  # nothing more to send
    assert len(fake_teams.calls("connector")) == 1


async def test_a_chart_too_large_for_teams_is_left_out_with_a_note(fake_teams, sqlite_factory):  # noqa: F811
    from PIL import Image

    noise = Image.frombytes("RGB", (800, 320), random.Random(7).randbytes(800 * 320 * 3))  # incompressible
    out = io.BytesIO()
    noise.save(out, "PNG")
    surface = await _surface(fake_teams, sqlite_factory)
    ref = await surface.post_diagnosis(OPS, None, _post(out.getvalue()))
    card = card_of(fake_teams.activity(ref.ts))
    assert "Chart left out" in texts(card) and "data:image" not in str(card)


async def test_posting_where_the_bot_was_never_installed_says_so(fake_teams, sqlite_factory):  # noqa: F811
    surface = teams_surface(fake_teams, sqlite_factory, Signer(SIGNER_KEY))
    with pytest.raises(NoConversation, match="install the app there"):
        await surface.post_text("19:unknown@thread.tacv2", "hello")
    assert fake_teams.calls("connector") == []
