"""Prometheus tools for the agent: raw PromQL, discovery, the named catalog, anomalies.

Every time defaults to ctx.now(): scenarios replay a past incident, so "now" is the
alert's time, never the wall clock. Results over budget are reduced to per-series
summaries ranked by how anomalous they are, not cut blindly.
"""
from __future__ import annotations

import functools
import json
import math
import re
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable

from tools.base import Tool, ToolContext, ToolResult

from .anomaly import AnomalySummary, clean, summarize
from .catalog import CATALOG, CLUSTER_SCOPED, ENTRIES, Entry, FilterError, Filters, allowlist_matcher
from .client import PromClient, PromError
from .guard import QueryRejected, check_query, check_series_match
from .reduce import fit_list, reduce_matrix, reduce_rows, reduce_vector, series_times, summary_row
from .timeparse import ArgError, distinct_labels, fmt_labels, iso, nice_step, num, parse_duration, parse_time

SOURCE = "prometheus"
NOT_CONFIGURED = "Prometheus source not configured"
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------- factory

def prometheus_tools(url: str | None, ctx: ToolContext, headers: dict | None = None) -> list[Tool]:
    client = PromClient(url, ctx.timeout, headers) if url else None
    allowed = ctx.namespace_allowed

    def guarded(fn: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
        @functools.wraps(fn)
        async def wrapper(**kwargs: Any) -> ToolResult:
            call = f"{fn.__name__}({json.dumps(kwargs, default=str, sort_keys=True)})"
            if client is None:
                return ToolResult.fail(call, NOT_CONFIGURED, SOURCE)
            try:
                return await fn(**kwargs)
            except (ArgError, FilterError) as exc:
                return ToolResult.fail(call, f"invalid arguments: {exc}", SOURCE)
            except QueryRejected as exc:  # raised before any request: nothing was sent
                return ToolResult.fail(exc.query, str(exc), SOURCE)
        return wrapper

    def confined(promql: str, cluster_metrics: frozenset[str] = frozenset()) -> str:
        """promql, once guard.py accepts it; rows are still filtered by `visible` as a second layer."""
        check_query(promql, ctx.namespace_allowlist, cluster_metrics)
        return promql

    def visible(labels: dict) -> bool:
        ns = labels.get("namespace")
        return ns is None or allowed(ns)

    def fail(query: str, exc: Exception) -> ToolResult:
        return ToolResult.fail(query, str(exc), SOURCE)

    # ------------------------------------------------------------ raw PromQL
    @guarded
    async def prom_query(query: str, time: Any = None) -> ToolResult:
        confined(query)
        at = parse_time(time, ctx.now())
        try:
            raw = await client.query(query, at)
        except PromError as exc:
            return fail(query, exc)
        rows = _vector_rows(raw)
        shown = [r for r in rows if visible(r["labels"])]
        data: dict[str, Any] = {"time": iso(at), "count": len(shown), "result": shown}
        if len(shown) < len(rows):
            data["hidden_outside_allowed_namespaces"] = len(rows) - len(shown)
        if not shown:
            return ToolResult("no_data", data, f"no series for the query at {iso(at)}", query=query, source=SOURCE)
        top = sorted(shown, key=lambda r: r["value"] if isinstance(r["value"], float) else -math.inf, reverse=True)
        names = distinct_labels([r["labels"] for r in top])
        text = "; ".join(f"{fmt_labels(n)} = {r['value']}" for n, r in zip(names[:3], top))
        return ToolResult("ok", data, f"{len(shown)} series at {iso(at)}: {text}", query=query, source=SOURCE)

    @guarded
    async def prom_range(query: str, start: Any = None, end: Any = None, step: Any = None,
                         minutes: float = 60) -> ToolResult:
        confined(query)
        now = ctx.now()
        end_dt = parse_time(end, now)
        start_dt = parse_time(start, now) if start not in (None, "") else end_dt - timedelta(minutes=float(minutes))
        span = (end_dt - start_dt).total_seconds()
        if span <= 0:
            raise ArgError(f"start {iso(start_dt)} is not before end {iso(end_dt)}")
        step_s = parse_duration(step) if step not in (None, "") else nice_step(span, 240)
        try:
            raw = await client.query_range(query, start_dt, end_dt, step_s)
        except PromError as exc:
            return fail(query, exc)
        series = [_grid(r, step_s) for r in raw if isinstance(r, dict) and visible(r.get("metric", {}))]
        series = [s for s in series if s["values"]]
        window_start = end_dt - timedelta(seconds=max(step_s, min(900.0, span / 4)))
        data = {"start": iso(start_dt), "end": iso(end_dt), "step_s": step_s, "window_start": iso(window_start),
                "series": series}
        if not series:
            return ToolResult("no_data", data, f"no series between {iso(start_dt)} and {iso(end_dt)}",
                              query=query, source=SOURCE)
        rows = [summary_row(s["labels"], series_times(s, step_s), s["values"], window_start.timestamp())
                for s in series]
        for r, name in zip(rows, distinct_labels([r["labels"] for r in rows])):
            r["name"] = fmt_labels(name)
        notable = sorted((r for r in rows if r.get("anomaly")), key=lambda r: -r["_score"])
        text = f"{len(series)} series from {iso(start_dt)} to {iso(end_dt)} (step {step_s:g}s)"
        if notable:
            text += "; changes: " + "; ".join(
                f"{r['name']} {r['anomaly']} {r['baseline']} -> {r['window']}"
                + (f" from {r['change_point']}" if r["change_point"] else "") for r in notable[:3])
        else:
            text += "; no series left its baseline"
        return ToolResult("ok", data, text, query=query, source=SOURCE)

    # ------------------------------------------------------------ discovery
    @guarded
    async def prom_series(match: str, minutes: float = 60) -> ToolResult:
        check_series_match(match, ctx.namespace_allowlist)
        now = ctx.now()
        start = now - timedelta(minutes=float(minutes))
        try:
            raw = await client.series(match, start, now)
        except PromError as exc:
            return fail(f"series match[]={match}", exc)
        series = [s for s in raw if isinstance(s, dict) and visible(s)]
        by_metric: dict[str, int] = {}
        for s in series:
            by_metric[s.get("__name__", "")] = by_metric.get(s.get("__name__", ""), 0) + 1
        data = {"count": len(series), "by_metric": by_metric, "series": series}
        if not series:
            return ToolResult("no_data", data, f"no series match {match} in the last {minutes:g}m",
                              query=match, source=SOURCE)
        text = ", ".join(f"{k} ({v})" for k, v in sorted(by_metric.items(), key=lambda kv: -kv[1])[:8])
        return ToolResult("ok", data, f"{len(series)} series: {text}", query=match, source=SOURCE)

    @guarded
    async def prom_labels(label: str | None = None, minutes: float = 60) -> ToolResult:
        now = ctx.now()
        start = now - timedelta(minutes=float(minutes))
        if label is not None and not _LABEL_NAME.match(label):
            raise ArgError(f"bad label name {label!r}")
        what = f"label values of {label}" if label else "label names"
        match = None
        if ctx.namespace_allowlist:
            # Unmatched, names and values come from every namespace (pod names, services...).
            match = "{" + allowlist_matcher(ctx.namespace_allowlist) + "}"
            check_series_match(match, ctx.namespace_allowlist)
            what += f" of series {match}"
        try:
            values = await (client.label_values(label, start, now, match) if label
                            else client.label_names(start, now, match))
        except PromError as exc:
            return fail(what, exc)
        if label == "namespace":
            values = [v for v in values if allowed(v)]
        data = {"label": label, "values": sorted(values)} if label else {"labels": sorted(values)}
        key = "values" if label else "labels"
        if not values:
            return ToolResult("no_data", data, f"no {what} in the last {minutes:g}m", query=what, source=SOURCE)
        shown = ", ".join(data[key][:20])
        return ToolResult("ok", data, f"{len(values)} {what}: {shown}{' ...' if len(values) > 20 else ''}",
                          query=what, source=SOURCE)

    # ------------------------------------------------------------ catalog
    @guarded
    async def prom_catalog() -> ToolResult:
        entries = [{"name": e.name, "description": e.description, "abnormal": e.abnormal_text,
                    "filters": list(e.filters), "mode": e.mode} for e in ENTRIES]
        return ToolResult("ok", {"entries": entries}, f"{len(entries)} named queries: "
                          + ", ".join(e.name for e in ENTRIES), query="prom_catalog()", source=SOURCE)

    @guarded
    async def prom_named(name: str, namespace: str | None = None, service: str | None = None,
                         pod: str | None = None, container: str | None = None, deployment: str | None = None,
                         node: str | None = None, minutes: float = 60) -> ToolResult:
        entry = CATALOG.get(name)
        if entry is None:
            raise ArgError(f"unknown named query {name!r}; known: {', '.join(CATALOG)}")
        given = {"namespace": namespace, "service": service, "pod": pod, "container": container,
                 "deployment": deployment, "node": node}
        filters = Filters.parse(given, ctx.namespace_allowlist)
        ignored = [k for k in filters.values if k not in entry.filters]
        minutes = float(minutes)
        if minutes <= 0:
            raise ArgError("minutes must be positive")
        lookback = f"{max(1, round(minutes))}m"
        # Every query this entry may send passes the same guard as raw PromQL before the first
        # request, so a catalog bug cannot leak another namespace; cluster-scoped metrics aside.
        promql = confined(entry.build(filters, lookback), CLUSTER_SCOPED)
        part_queries = {part: confined(build(filters, lookback), CLUSTER_SCOPED)
                        for part, build in entry.parts.items()}
        population_query = (confined(entry.population(filters, lookback), CLUSTER_SCOPED)
                            if entry.population is not None else None)
        now = ctx.now()
        try:
            rows = await (_named_range(client, entry, promql, now, minutes) if entry.mode == "range"
                          else _named_instant(client, entry, promql, now))
            rows = [r for r in rows if visible(r["labels"])]
            for part, part_query in part_queries.items():
                values = await _part_values(client, entry, part_query, now)
                for r in rows:
                    r[part] = values.get(_row_key(entry, r["labels"]))
            population = None
            if not rows and population_query is not None:
                pop = _vector_rows(await client.query(population_query, now))
                population = int(pop[0]["value"]) if pop and isinstance(pop[0]["value"], float) else 0
        except PromError as exc:
            return fail(promql, exc)
        for r in rows:
            r["text"] = _phrase(entry, r)
        rows.sort(key=lambda r: (_STATE_RANK[r["state"]], _severity(entry, r)))
        data: dict[str, Any] = {"name": entry.name, "description": entry.description,
                                "abnormal_when": entry.abnormal_text, "evaluated_at": iso(now),
                                "window_minutes": minutes, "rows": rows}
        note = f" (ignored filters not applicable to {entry.name}: {', '.join(ignored)})" if ignored else ""
        if ignored:
            data["ignored_filters"] = ignored
        if not rows:
            if population:
                data["examined"] = population
                return ToolResult("ok", data, f"{entry.name}: nothing abnormal among {population} examined "
                                  f"at {iso(now)} ({entry.abnormal_text}){note}", query=promql, source=SOURCE)
            return ToolResult("no_data", data, f"{entry.name}: no series at {iso(now)} (metrics absent or filters "
                              f"match nothing){note}", query=promql, source=SOURCE)
        bad = [r for r in rows if r["state"] != "normal"]
        head = bad[:3] or rows[:2]
        text = (f"{entry.name}: {sum(r['state'] == 'abnormal' for r in rows)} of {len(rows)} abnormal "
                f"at {iso(now)}: " + "; ".join(_row_line(entry, r) for r in head) + note)
        return ToolResult("ok", data, text, query=promql, source=SOURCE)

    # ------------------------------------------------------------ anomaly
    @guarded
    async def prom_anomaly(query: str, at: Any = None, baseline_minutes: float = 60,
                           window_minutes: float = 15) -> ToolResult:
        confined(query)
        at_dt = parse_time(at, ctx.now())
        if float(baseline_minutes) <= 0 or float(window_minutes) <= 0:
            raise ArgError("baseline_minutes and window_minutes must be positive")
        window_start = at_dt - timedelta(minutes=float(window_minutes))
        start = window_start - timedelta(minutes=float(baseline_minutes))
        span = (at_dt - start).total_seconds()
        step = nice_step(span, 240)
        try:
            raw = await client.query_range(query, start, at_dt, step)
        except PromError as exc:
            return fail(query, exc)
        rows = []
        for r in raw:
            if not isinstance(r, dict) or not visible(r.get("metric", {})):
                continue
            ts, vs = clean(*zip(*r.get("values", []))) if r.get("values") else ([], [])
            a = summarize(ts, vs, window_start.timestamp())
            if a is not None:
                rows.append((a, _anomaly_row(r.get("metric", {}), a)))
        rows.sort(key=lambda x: -x[0].score)
        data = {"at": iso(at_dt), "baseline": [iso(start), iso(window_start)], "window": [iso(window_start), iso(at_dt)],
                "step_s": step, "series": [row for _, row in rows]}
        if not rows:
            return ToolResult("no_data", data, f"no data for the query between {iso(start)} and {iso(at_dt)}",
                              query=query, source=SOURCE)
        names = [fmt_labels(n) for n in distinct_labels([row["labels"] for _, row in rows])]
        anomalous = [(name, row) for name, (a, row) in zip(names, rows) if a.anomalous]
        text = f"{len(anomalous)} of {len(rows)} series anomalous around {iso(at_dt)}"
        if anomalous:
            text += ": " + "; ".join(_anomaly_line(name, row) for name, row in anomalous[:3])
        else:
            text += f" (largest |z| {abs(rows[0][0].z or 0):.1f}: {names[0]})"
        return ToolResult("ok", data, text, query=query, source=SOURCE)

    # ------------------------------------------------------------ definitions
    time_desc = "ISO 8601, epoch seconds or now-15m; default: the incident's now"
    filt = {k: {"type": "string", "description": f"{k} filter (exact; prefix with ~ for a regex)"}
            for k in ("namespace", "service", "pod", "container", "deployment", "node")}
    return [
        Tool("prom_query", "Instant PromQL query evaluated at `time`. Returns each series' labels and value.",
             {"type": "object", "properties": {"query": {"type": "string", "description": "PromQL"},
                                               "time": {"type": "string", "description": time_desc}},
              "required": ["query"]}, prom_query, source=SOURCE, reducer=reduce_vector),
        Tool("prom_range", "Range PromQL query. Over budget, each series is summarised (baseline, window mean, "
             "min/max/last, change point) instead of raw points.",
             {"type": "object", "properties": {
                 "query": {"type": "string", "description": "PromQL"},
                 "start": {"type": "string", "description": time_desc + " (default end - minutes)"},
                 "end": {"type": "string", "description": time_desc},
                 "step": {"type": "string", "description": "e.g. 30s, 1m; default ~240 points"},
                 "minutes": {"type": "number", "description": "range length when start is omitted", "default": 60}},
              "required": ["query"]}, prom_range, source=SOURCE, reducer=reduce_matrix),
        Tool("prom_series", "Find series matching a selector (e.g. {namespace=\"shop\"} or kube_pod_.*) "
             "seen in the last `minutes`; counts per metric name.",
             {"type": "object", "properties": {"match": {"type": "string", "description": "series selector"},
                                               "minutes": {"type": "number", "default": 60}},
              "required": ["match"]}, prom_series, source=SOURCE, reducer=reduce_rows("series")),
        Tool("prom_labels", "List label names, or the values of one label (e.g. namespace, pod, job).",
             {"type": "object", "properties": {"label": {"type": "string"},
                                               "minutes": {"type": "number", "default": 60}}},
             prom_labels, source=SOURCE, reducer=lambda r, b: fit_list(r, "values" if r.data.get("label") else
                                                                       "labels", b)),
        Tool("prom_catalog", "List the named queries available to prom_named, with what counts as abnormal.",
             {"type": "object", "properties": {}}, prom_catalog, source=SOURCE, budget_bytes=8000),
        Tool("prom_named", "Run a named, pre-built query over standard Kubernetes exporters and judge each "
             "series against its threshold, e.g. memory_vs_limit, container_restarts, error_ratio, "
             "replicas_available_vs_desired. Names: " + ", ".join(CATALOG) + ".",
             {"type": "object", "properties": {
                 "name": {"type": "string", "enum": list(CATALOG)}, **filt,
                 "minutes": {"type": "number", "description": "lookback window", "default": 60}},
              "required": ["name"]}, prom_named, source=SOURCE, reducer=reduce_rows("rows")),
        Tool("prom_anomaly", "Compare a query's series in the window before `at` with the baseline before that: "
             "baseline mean/std, window mean, z-score, and when the change began.",
             {"type": "object", "properties": {
                 "query": {"type": "string", "description": "PromQL"},
                 "at": {"type": "string", "description": time_desc},
                 "baseline_minutes": {"type": "number", "default": 60},
                 "window_minutes": {"type": "number", "default": 15}},
              "required": ["query"]}, prom_anomaly, source=SOURCE, reducer=reduce_rows("series")),
    ]


# ---------------------------------------------------------------- helpers

def _vector_rows(raw: Any) -> list[dict]:
    """Instant results: a vector is a list of {metric, value}; a scalar is [ts, "v"]."""
    if isinstance(raw, list) and len(raw) == 2 and not isinstance(raw[0], dict):
        return [{"labels": {}, "value": num(raw[1])}]
    rows = []
    for r in raw or []:
        if isinstance(r, dict) and "value" in r:
            rows.append({"labels": r.get("metric", {}), "value": num(r["value"][1])})
    return rows


def _grid(r: dict, step: float) -> dict:
    """Range points on the step grid as a compact list with null gaps."""
    pts = [(float(t), v) for t, v in r.get("values", [])]
    if not pts:
        return {"labels": r.get("metric", {}), "t0": None, "values": []}
    t0 = pts[0][0]
    values: list = [None] * (round((pts[-1][0] - t0) / step) + 1)
    for t, v in pts:
        f = num(v)
        values[round((t - t0) / step)] = f if isinstance(f, float) else None
    return {"labels": r.get("metric", {}), "t0": t0, "values": values}


_STATE_RANK = {"abnormal": 0, "recovered": 1, "normal": 2}


def _row_key(entry: Entry, labels: dict) -> tuple:
    return tuple(labels.get(k) for k in entry.by if k in labels)


def _keep(entry: Entry, labels: dict) -> dict:
    return {k: labels[k] for k in entry.by if labels.get(k)}


async def _named_instant(client: PromClient, entry: Entry, promql: str, now: datetime) -> list[dict]:
    rows = []
    for r in _vector_rows(await client.query(promql, now)):
        v = r["value"]
        if not isinstance(v, float):
            continue
        rows.append({"labels": _keep(entry, r["labels"]), "value": v,
                     "state": "abnormal" if entry.is_abnormal(v, r["labels"]) else "normal"})
    return rows


async def _named_range(client: PromClient, entry: Entry, promql: str, now: datetime, minutes: float) -> list[dict]:
    span = minutes * 60
    step = nice_step(span, 120)
    raw = await client.query_range(promql, now - timedelta(seconds=span), now, step)
    rows = []
    for r in raw:
        labels = r.get("metric", {})
        ts, vs = clean(*zip(*r["values"])) if r.get("values") else ([], [])
        if not vs:
            continue
        flags = [entry.is_abnormal(v, labels) for v in vs]
        pick = max if entry.worse == "high" else min
        worst_i = pick(range(len(vs)), key=lambda i: vs[i])
        row: dict[str, Any] = {"labels": _keep(entry, labels), "value": num(vs[-1]),
                               "peak": num(vs[worst_i]), "peak_at": iso(ts[worst_i])}
        if flags[-1]:
            i = len(flags) - 1
            while i > 0 and flags[i - 1]:
                i -= 1
            row["state"] = "abnormal"
            if i > 0:
                row["abnormal_since"] = iso(ts[i])
            else:  # abnormal at every point: the start lies before the window
                row["abnormal_throughout"] = True
        elif any(flags):
            row["state"] = "recovered"
        else:
            row["state"] = "normal"
        if ts[-1] < now.timestamp() - 2 * step:
            row["last_seen"] = iso(ts[-1])  # the series stopped: pod gone, target down
        rows.append(row)
    return rows


async def _part_values(client: PromClient, entry: Entry, promql: str, now: datetime) -> dict[tuple, Any]:
    return {_row_key(entry, r["labels"]): r["value"] for r in _vector_rows(await client.query(promql, now))}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _fmt_part(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else ("?" if v is None else str(v))


def _phrase(entry: Entry, row: dict) -> str:
    fields = _Blank({k: _fmt_part(v) for k, v in row.items() if k not in ("labels", "value")})
    fields.update(row["labels"])
    fields["v"] = entry.fmt(row["value"]) if isinstance(row["value"], float) else str(row["value"])
    text = entry.phrase.format_map(fields)
    if "peak" in row and row["peak"] != row["value"] and isinstance(row["peak"], float):
        text += f", {'peak' if entry.worse == 'high' else 'low'} {entry.fmt(row['peak'])} at {row['peak_at']}"
    return text


def _severity(entry: Entry, row: dict) -> float:
    v = row.get("peak", row["value"])
    v = v if isinstance(v, float) else 0.0
    return -v if entry.worse == "high" else v


def _row_line(entry: Entry, row: dict) -> str:
    who = "/".join(str(v) for v in row["labels"].values()) or "all"
    when = (f" since {row['abnormal_since']}" if row.get("abnormal_since")
            else " for the whole window" if row.get("abnormal_throughout") else "")
    state = "" if row["state"] == "abnormal" else f" [{row['state']}]"
    return f"{who}: {row['text']} ({entry.abnormal_text}){when}{state}"


def _anomaly_row(labels: dict, a: AnomalySummary) -> dict:
    return {"labels": labels, "anomalous": a.anomalous, "kind": a.kind, "direction": a.direction,
            "baseline_mean": num(a.baseline_mean), "baseline_std": num(a.baseline_std),
            "baseline_median": num(a.baseline_median), "window_mean": num(a.window_mean),
            "window_min": num(a.window_min), "window_max": num(a.window_max), "last": num(a.last),
            "z": num(a.z), "peak_z": num(a.peak_z), "change_at": iso(a.change_at),
            "recovered_at": iso(a.recovered_at), "points": a.points}


def _anomaly_line(who: str, row: dict) -> str:
    if row["kind"] in ("new_series", "gone"):
        return f"{who} {row['kind'].replace('_', ' ')} at {row['change_at']}"
    began = f", began {row['change_at']}" if row["change_at"] else ""
    back = f", back to baseline {row['recovered_at']}" if row["recovered_at"] else ""
    return (f"{who} {row['kind']} {row['direction']}: window mean {row['window_mean']} vs baseline "
            f"{row['baseline_mean']}±{row['baseline_std']} (z={row['z']}){began}{back}")
