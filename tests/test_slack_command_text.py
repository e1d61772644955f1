"""A /diagnose whose text contains the word "payload" reaches the workflow intact (bolt's form
parser takes any such body for an interactivity payload and would lose the command)."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.slack_support import OTHER_CHANNEL, eventually, fake, h, sign  # noqa: F401  (shared fixtures)


def _command(text: str, response_url: str) -> str:
    return urlencode({"token": "legacy", "team_id": "T0FAKE001", "channel_id": OTHER_CHANNEL, "user_id": "U0ALICE",
                      "user_name": "alice", "command": "/diagnose", "text": text, "trigger_id": f"tr-{text}",
                      "response_url": response_url})


@pytest.mark.parametrize("text", ["payments/payload-api", "why does payload-worker crash", "shop/cart"])
async def test_command_text_arrives_whatever_it_says(h, fake, text):  # noqa: F811
    body = _command(text, fake.response_url("k"))
    resp = await h.form(body, headers=sign(body))
    assert resp.status == 200
    assert await eventually(lambda: len(h.workflow.commands) == 1)
    assert h.workflow.commands[0]["text"] == text


async def test_a_reencoded_body_still_needs_a_valid_signature(h, fake):  # noqa: F811
    body = _command("payments/payload-api", fake.response_url("k"))
    resp = await h.form(body, headers=sign(body, secret="wrong"))
    assert resp.status == 401
    assert h.workflow.commands == []
