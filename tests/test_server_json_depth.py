"""Deeply nested JSON is refused with a 400 before json.loads can recurse (bot.bounded_json)."""
from __future__ import annotations

import logging
import time

import pytest

from bot.bounded_json import MAX_DEPTH, BadJSON, loads, nesting_depth
from tests.slack_support import fake, h  # noqa: F401  (shared fixtures)

BEARER = {"Authorization": "Bearer am-secret-token"}


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000],
                         ids=["open arrays", "open objects", "closed arrays"])
async def test_alertmanager_refuses_100k_deep_json_with_400_and_one_line(h, caplog, body):
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    resp = await h.client.post("/alertmanager", data=body, headers=BEARER)
    assert resp.status == 400, await resp.text()
    assert f"deeper than {MAX_DEPTH}" in (await resp.json())["error"]
    assert time.monotonic() - started < 2.0
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["bot.server"]
    assert not [r for r in caplog.records if r.exc_info]
    assert not h.workflow.alerts


def test_depth_ignores_brackets_inside_strings_and_counts_real_nesting():
    assert nesting_depth('{"a": "[[[[{{{{", "b": "\\"]]]["}') == 1
    assert nesting_depth('[[1, [2]], {"x": [{}]}]') == 4
    assert loads('{"msg": "' + "[" * 1000 + '"}') == {"msg": "[" * 1000}  # deep-looking text is fine
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(nested) is not None
    with pytest.raises(BadJSON, match="deeper than"):
        loads("[" + nested + "]")
    with pytest.raises(BadJSON, match="not valid JSON"):
        loads(b"\xff\xfe{")
    with pytest.raises(BadJSON, match="not valid JSON"):
        loads('{"unterminated": "[[[[')
