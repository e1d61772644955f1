"""Call durations written in ordinary log lines, across the common formats: `took=8.01s`,
`took 8.01 seconds`, `"duration_ms": 7631.6`, `duration=8.2s`, `200 in 41ms`, Postgres'
`duration: 7637.4 ms`, MySQL's `Query_time: 8.5`, ORM timings (Rails `User Load (812.3ms)`, Django
`(0.812) SELECT`, Sequelize `Elapsed time: 812ms`).

A number without a unit counts only when its key says it (`duration_ms`, `elapsed_seconds`), or the
format fixes it (pino's `responseTime` is milliseconds): a bare `duration: 12` is not guessed at.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT = r"(ms|msec|milliseconds?|s|sec|secs|seconds?|µs|us|ns|m|min)?"
_NUM = r"(\d+(?:\.\d+)?)"
_PATTERNS: tuple[tuple[re.Pattern[str], str | None], ...] = (
    # took=7.62s, took 8.01 seconds, took: 801ms
    (re.compile(rf"\btook[=: ]\s*{_NUM}\s*{_UNIT}\b", re.I), None),
    # "duration_ms": 7631.6, elapsed_seconds=3, request_time_s: 2
    (re.compile(rf"[\"']?(?:duration|dur|elapsed|latency|response_?time|request_?time)_?(ms|millis|s|sec|seconds)[\"']?"
                rf"\s*[=:]\s*[\"']?{_NUM}", re.I), "keyed"),
    # duration=8.2s, "latency": "812ms", elapsed: 3.1 s, elapsed 1234 ms, Postgres "duration: 7637.4 ms",
    # Rails "ActiveRecord: 812.3ms"
    (re.compile(rf"\b(?:duration|dur|elapsed|latency|response_?time|request_?time|activerecord|db_?time)[\"']?"
                rf"\s*[=:]?\s*[\"']?{_NUM}\s*"
                rf"(ms|msec|s|sec|secs|seconds?|µs|us)\b", re.I), None),
    # pino / morgan: "responseTime":812 (milliseconds by definition)
    (re.compile(rf"[\"']responseTime[\"']\s*:\s*{_NUM}"), "ms"),
    # MySQL slow log
    (re.compile(rf"Query_time:\s*{_NUM}"), "s"),
    # access logs and frameworks: "... 200 in 8012ms", "completed in 1.2 s" (not "retry in 5 seconds")
    (re.compile(rf"(?:\b[1-5]\d\d|completed|finished|served|processed|handled|responded|done|rendered|returned)"
                rf"\b[^.\n]{{0,20}}?\bin\s+{_NUM}\s*(ms|s|sec|seconds)\b", re.I), None),
    # ORMs: Rails "User Load (812.3ms)", Sequelize "Elapsed time: 812ms", Django "(0.812) SELECT"
    (re.compile(rf"\({_NUM}\s*(ms)\)\s", re.I), None),
    (re.compile(rf"Elapsed time:\s*{_NUM}\s*(ms|s)\b", re.I), None),
    (re.compile(rf"\({_NUM}\)\s+(?=SELECT|UPDATE|INSERT|DELETE|WITH)", re.I), "s"),
)
_SCALE = {"ms": 0.001, "msec": 0.001, "millis": 0.001, "millisecond": 0.001, "milliseconds": 0.001, "s": 1.0,
          "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "µs": 1e-6, "us": 1e-6, "ns": 1e-9,
          "m": 60.0, "min": 60.0}
SLOW_S = 1.0   # a call that takes a second or more is slow for a request or a statement


def durations(text: str) -> list[float]:
    """Every duration a line states, in seconds."""
    out: list[float] = []
    for rx, unit in _PATTERNS:
        for m in rx.finditer(text):
            if unit == "keyed":
                key_unit, value = m.group(1), m.group(2)
                out.append(float(value) * _SCALE.get(key_unit.lower(), 1.0))
            elif unit is not None:
                out.append(float(m.group(1)) * _SCALE[unit])
            else:
                value, u = m.group(1), (m.group(2) or "").lower()
                if u:
                    out.append(float(value) * _SCALE.get(u, 1.0))
    return out


@dataclass
class SlowCalls:
    count: int          # lines with a slow duration
    total: int          # lines with any duration
    slowest: float      # seconds
    typical: float      # median of the slow ones, seconds
    example: str        # a slow line, verbatim


def slow_calls(lines: list[str], threshold: float = SLOW_S) -> SlowCalls | None:
    timed = [(max(ds), ln) for ln in dict.fromkeys(lines) if (ds := durations(ln))]
    slow = sorted((d, ln) for d, ln in timed if d >= threshold)
    if not slow:
        return None
    mid = slow[len(slow) // 2]
    return SlowCalls(count=len(slow), total=len(timed), slowest=slow[-1][0], typical=mid[0], example=mid[1])
