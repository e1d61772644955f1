"""Argument parsing and value formatting shared by the Prometheus tools.

Relative times are relative to the injected "now" (a scenario's alert time), never
the wall clock.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_NICE_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


class ArgError(ValueError):
    """A tool argument the model got wrong; reported back as an error result."""


def parse_duration(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value).strip().lower())
        if not m:
            raise ArgError(f"bad duration {value!r}; use e.g. 30s, 5m, 1h")
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise ArgError(f"duration must be positive, got {value!r}")
    return seconds


def parse_time(value: Any, now: datetime) -> datetime:
    """None/"now", "now-30m", "-30m", epoch seconds, or ISO 8601 (naive means UTC)."""
    if value is None or value == "":
        return now
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), timezone.utc)
    text = str(value).strip()
    rel = re.match(r"^(?:now)?\s*(?:([-+])\s*(.+))?$", text, re.I)
    if rel and (text.lower().startswith("now") or rel.group(1)):
        if not rel.group(1):
            return now
        delta = timedelta(seconds=parse_duration(rel.group(2)))
        return now - delta if rel.group(1) == "-" else now + delta
    try:
        return datetime.fromtimestamp(float(text), timezone.utc)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ArgError(f"bad time {value!r}; use ISO 8601, epoch seconds, or now-15m") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iso(t: datetime | float | None) -> str | None:
    if t is None:
        return None
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def num(v: Any) -> float | str | None:
    """Six significant digits; NaN/Inf stay strings so the JSON stays valid."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return str(v)
    return float(f"{f:.6g}")


def nice_step(span_s: float, max_points: int) -> int:
    return next((s for s in _NICE_STEPS if span_s / s <= max_points), _NICE_STEPS[-1])


def distinct_labels(label_sets: list[dict]) -> list[dict]:
    """Drop labels shared by every series, so summaries name series by what differs."""
    if len(label_sets) < 2:
        return label_sets
    common = {k for k, v in label_sets[0].items() if all(ls.get(k) == v for ls in label_sets[1:])}
    common.discard("__name__")
    return [{k: v for k, v in ls.items() if k not in common} for ls in label_sets]


def fmt_labels(labels: dict) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}" if inner or not name else name
