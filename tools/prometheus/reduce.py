"""Budget reducers: rank first, then keep what fits, saying how much was left out."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Callable

from tools.base import ToolResult

from .anomaly import clean, summarize
from .timeparse import iso, num, parse_time


def fit_list(result: ToolResult, key: str, budget: int) -> ToolResult:
    """Keep the longest prefix of data[key] that fits the budget (the list is pre-ranked)."""
    items = result.data.get(key) or []
    lo, hi = 0, len(items)
    while lo < hi:  # binary search on how many leading items fit
        mid = (lo + hi + 1) // 2
        result.data[key] = items[:mid]
        if result.size_bytes() + 40 <= budget:
            lo = mid
        else:
            hi = mid - 1
    result.data[key] = items[:max(lo, 1)] if items else items
    omitted = len(items) - len(result.data[key])
    if omitted:
        result.data[f"{key}_omitted"] = omitted
    return result


def _common_labels(rows: list[dict]) -> dict:
    if len(rows) < 2:
        return {}
    first = rows[0]["labels"]
    return {k: v for k, v in first.items() if all(r["labels"].get(k) == v for r in rows[1:])}


def _factor_common(data: dict, key: str) -> None:
    common = _common_labels(data[key])
    if common:
        data["common_labels"] = common
        for r in data[key]:
            r["labels"] = {k: v for k, v in r["labels"].items() if k not in common}


def reduce_vector(result: ToolResult, budget: int) -> ToolResult:
    rows = result.data["result"]
    rows.sort(key=lambda r: r["value"] if isinstance(r["value"], (int, float)) else -math.inf, reverse=True)
    _factor_common(result.data, "result")
    result.summary += " (sorted by value, largest first)"
    return fit_list(result, "result", budget)


def series_times(s: dict, step: float) -> list[float]:
    return [s["t0"] + i * step for i in range(len(s["values"]))]


def summary_row(labels: dict, times: list[float], values: list, window_start: float) -> dict:
    ts, vs = clean(times, values)
    a = summarize(ts, vs, window_start)
    row: dict[str, Any] = {"labels": labels}
    if a is None:
        return {**row, "points": 0}
    row.update(baseline=num(a.baseline_median), window=num(a.window_mean), min=num(min(vs)),
               max=num(max(vs)), last=num(vs[-1]), change_point=iso(a.change_at) if a.anomalous else None,
               anomaly=a.kind, z=num(a.z))
    row["_score"] = a.score
    return row


def reduce_matrix(result: ToolResult, budget: int) -> ToolResult:
    d = result.data
    window_start = parse_time(d["window_start"], datetime.now(timezone.utc)).timestamp()
    rows = [summary_row(s["labels"], series_times(s, d["step_s"]), s["values"], window_start) for s in d["series"]]
    rows.sort(key=lambda r: r.get("_score", -1), reverse=True)
    for r in rows:
        r.pop("_score", None)
    d["series"] = rows
    _factor_common(d, "series")
    d["note"] = ("each series reduced to: baseline = median before window_start, window = mean after it, "
                 "min/max/last over the range, change_point = when it left the baseline band; "
                 "most anomalous first")
    return fit_list(result, "series", budget)


def reduce_rows(key: str) -> Callable[[ToolResult, int], ToolResult]:
    return lambda result, budget: fit_list(result, key, budget)
