"""JSON from the network, parsed with a bound on nesting depth.

`json.loads` recurses once per nesting level, so 100,000 `[` raise RecursionError (a 500 and a
traceback) instead of a clean refusal. The depth is measured first on the text with string
contents removed (a `[` inside a string is not nesting), which is linear and never recurses;
only then is the text parsed. Every failure is one `BadJSON` (a ValueError) with a short reason.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64  # Alertmanager groups and Slack payloads nest well under 20 levels

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)  # an unterminated string runs to the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class BadJSON(ValueError):
    """Not JSON, not decodable, or nested deeper than allowed."""


def nesting_depth(text: str) -> int:
    """Deepest array/object nesting in `text`, brackets inside strings skipped."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)  # C loops: ~30 ms per MiB


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` that refuses nesting deeper than `max_depth` before parsing."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode(json.detect_encoding(data))
        except UnicodeDecodeError as exc:
            raise BadJSON(f"body is not valid JSON: {exc}") from None
    if nesting_depth(data) > max_depth:
        raise BadJSON(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over-long integers
        raise BadJSON(f"body is not valid JSON: {exc}") from None
