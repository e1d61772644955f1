"""PNG charts of Prometheus range-query results for chat threads, and the key query per
diagnosis category.

Rendering uses matplotlib's object API (Figure + the Agg canvas) instead of pyplot: no
display, no global figure registry, so it is headless and safe from several threads at once.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot; harmless if it never does

import matplotlib.dates as mdates  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from tools.prometheus.catalog import APP_DB, CATALOG, POD, Filters, promql_string  # noqa: E402

MAX_LINES = 6
# Labels that tell series apart, most specific first; the legend uses the first that differ.
_LEGEND_KEYS = ("pod", "container", "service", "deployment", "persistentvolumeclaim", "instance", "mountpoint",
                "node", "pool", "state", "reason", "rcode", "name", "namespace", "job")
_POD_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?-[a-z0-9]{1,10}-[a-z0-9]{5}$")


class EmptyChartError(ValueError):
    """No series, or no finite sample in any series: there is nothing to draw."""


def _utc(dt: datetime) -> datetime:
    # Naive datetimes are taken as UTC, the timezone of everything the tools return.
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _num(value: Any) -> float:
    """A Prometheus sample value ("1.5", "NaN", "+Inf") as a plottable float; non-finite -> NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


@dataclass
class _Line:
    source: dict
    labels: dict[str, str]
    ts: list[float]
    vals: list[float]

    @property
    def finite(self) -> list[float]:
        return [v for v in self.vals if not math.isnan(v)]


def _points(raw: Any) -> list[tuple[float, float]]:
    pts = []
    for p in raw or []:
        try:
            t = float(p[0])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(t) and len(p) >= 2:
            pts.append((t, _num(p[1])))
    return sorted(pts)


def _parse(series: list[dict]) -> list[_Line]:
    lines = []
    for s in series:
        # An instant vector ("value") slipped in is drawn as one point.
        pts = _points(s.get("values")) or _points([s["value"]] if s.get("value") else [])
        line = _Line(s, dict(s.get("labels") or s.get("metric") or {}), [p[0] for p in pts], [p[1] for p in pts])
        if line.finite:
            lines.append(line)
    return lines


def _select(lines: list[_Line], limit: int) -> list[_Line]:
    """The `limit` most anomalous lines: farthest from the median of all samples, in units of
    the overall spread. Catches the one disk near empty among full-looking ones as well as the
    one pod near its limit, without knowing which direction is bad."""
    if len(lines) <= limit:
        return lines
    every = sorted(v for ln in lines for v in ln.finite)
    median = every[len(every) // 2]
    spread = (every[-1] - every[0]) or 1.0
    score = lambda ln: (max(abs(v - median) for v in ln.finite) / spread, max(ln.finite))  # noqa: E731
    return sorted(lines, key=score, reverse=True)[:limit]


def _shorten(text: str, n: int = 42) -> str:
    return text if len(text) <= n else text[: n // 2 - 1] + "…" + text[-(n // 2) + 1:]


def top_series(series: list[dict], limit: int = MAX_LINES) -> list[dict]:
    """The input series a chart would draw: those with a finite sample, the most anomalous first
    when there are more than `limit`."""
    return [ln.source for ln in _select(_parse(series), limit)]


def legend_labels(series: list[dict]) -> list[str]:
    """Legend text per series: the values of the (at most two) most specific labels that differ."""
    return _legend_labels([_Line(s, dict(s.get("labels") or s.get("metric") or {}), [], []) for s in series])


def _legend_labels(lines: list[_Line]) -> list[str]:
    keys = sorted({k for ln in lines for k in ln.labels if k != "__name__"},
                  key=lambda k: (_LEGEND_KEYS.index(k) if k in _LEGEND_KEYS else len(_LEGEND_KEYS), k))
    differing = [k for k in keys if len({ln.labels.get(k) for ln in lines}) > 1]
    chosen = differing[:2] or keys[:1]
    out = []
    for ln in lines:
        parts = [ln.labels[k] for k in chosen if ln.labels.get(k)]
        out.append(_shorten(" / ".join(parts) or ln.labels.get("__name__", "value")))
    return out


_BINARY = (("TiB", 2.0 ** 40), ("GiB", 2.0 ** 30), ("MiB", 2.0 ** 20), ("KiB", 2.0 ** 10))


def _scale(unit: str | None, peak: float) -> tuple[float, str, str | None]:
    """(divisor, tick suffix, axis label) for the unit at the largest value shown. Values are
    plotted already divided, so the default locator lands on round numbers (1.5 GiB, not 1.397)."""
    if unit == "bytes":
        name, div = next(((n, d) for n, d in _BINARY if peak >= d), ("B", 1.0))
        return div, f" {name}", None
    if unit == "ratio":
        return 0.01, "%", None
    if unit == "percent":
        return 1.0, "%", None
    if unit == "seconds":
        return (0.001, " ms", None) if peak < 1 else (1.0, " s", None)
    if unit == "per_second":
        return 1.0, "/s", None
    if unit == "days":
        return 1.0, " d", None
    return 1.0, "", unit if unit not in (None, "count", "bool", "info") else None


def render_series_png(series: list[dict], title: str, alert_time: datetime | None, now: datetime,
                      unit: str | None = None, width: float = 8, height: float = 3.2, *,
                      change_point: datetime | None = None, threshold: float | None = None,
                      dpi: int = 100, max_lines: int = MAX_LINES) -> bytes:
    """A PNG (width*dpi x height*dpi pixels) of Prometheus matrix series
    `[{"labels"|"metric": {...}, "values": [[unix_ts, "value"], ...]}, ...]`.

    Shows at most `max_lines` lines (the most anomalous ones), a dashed marker at `alert_time`,
    the window from `change_point` to `now` shaded, an optional dotted `threshold` line, UTC
    time axis and unit-aware values (bytes, ratio, seconds, per_second, days).
    "NaN"/"+Inf" samples become gaps; a line with one finite sample is drawn as a dot.
    Raises EmptyChartError (a ValueError) when no series holds a single finite sample.
    """
    lines = _parse(series)
    if not lines:
        raise EmptyChartError(f"nothing to plot for {title!r}: {len(series)} series, no finite samples")
    total = len(lines)
    lines = _select(lines, max_lines)
    now = _utc(now)
    peak = max(abs(v) for ln in lines for v in ln.finite)
    div, suffix, ylabel = _scale(unit, peak)

    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles = []
    for ln, label in zip(lines, _legend_labels(lines)):
        xs = [datetime.fromtimestamp(t, timezone.utc) for t in ln.ts]
        single = len(ln.finite) == 1
        (h,) = ax.plot(xs, [v / div for v in ln.vals], linewidth=1.4, label=label,
                       marker="o" if single else None, markersize=4)
        handles.append(h)

    first = datetime.fromtimestamp(min(ln.ts[0] for ln in lines), timezone.utc)
    last = datetime.fromtimestamp(max(ln.ts[-1] for ln in lines), timezone.utc)
    left, right = first, max(last, now)
    if alert_time is not None:
        alert = _utc(alert_time)
        left, right = min(left, alert), max(right, alert)
        handles.append(ax.axvline(alert, color="black", linestyle="--", linewidth=1,
                                  label=f"alert {alert:%H:%M} UTC"))
    if change_point is not None:
        cp = _utc(change_point)
        left = min(left, cp)
        handles.append(ax.axvspan(cp, right, color="tab:orange", alpha=0.12, linewidth=0,
                                  label=f"anomaly since {cp:%H:%M}"))
    if threshold is not None:
        handles.append(ax.axhline(threshold / div, color="tab:red", linestyle=":", linewidth=1, label="threshold"))
    span = (right - left).total_seconds()
    if span < 120:  # one instant: give the axis some width
        pad = (120 - span) / 2
        left, right = (datetime.fromtimestamp(left.timestamp() - pad, timezone.utc),
                       datetime.fromtimestamp(right.timestamp() + pad, timezone.utc))
    ax.set_xlim(left, right)

    values = [v / div for ln in lines for v in ln.finite] + ([threshold / div] if threshold is not None else [])
    lo, hi = min(values), max(values)
    if lo >= 0:
        top = hi * 1.08 if hi > 0 else 1.0
        ax.set_ylim(0, top)
    elif lo == hi:
        ax.set_ylim(lo - abs(lo) * 0.1 - 1e-9, hi + abs(hi) * 0.1 + 1e-9)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4g}{suffix}"))
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)

    locator = mdates.AutoDateLocator(tz=timezone.utc, minticks=4, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    # The offset text (the date under the axis) carries the timezone: ticks are UTC.
    dates = mdates.ConciseDateFormatter(locator, tz=timezone.utc, offset_formats=[
        "UTC", "%Y UTC", "%Y-%m UTC", "%Y-%m-%d UTC", "%Y-%m-%d UTC", "%Y-%m-%d %H:%M UTC"])
    ax.xaxis.set_major_formatter(dates)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    shown = f"  (top {len(lines)} of {total})" if total > len(lines) else ""
    ax.set_title(_shorten(title, 90) + shown, fontsize=10, loc="left")
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=7,
               frameon=False)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


# --- which series to show for a diagnosis ---------------------------------------------------

@dataclass(frozen=True)
class ChartSpec:
    query: str
    title: str
    unit: str | None
    threshold: float | None = None


def _filters(component: str | None, namespace: str | None, key: str) -> Filters:
    values = {"namespace": namespace}
    if component:
        values[key] = component
    return Filters.parse(values)


def _pod_key(component: str | None) -> str:
    # "checkout-7d9f8c6b5-x2x4q" is one pod; "checkout" is the Deployment owning several.
    return "pod" if component and _POD_NAME.match(component) else "deployment"


def _tagged(query: str, label: str, value: str) -> str:
    return f'label_replace({query}, "{label}", "{value}", "", "")'


def _catalog(name: str, f: Filters, title: str, unit: str | None = None, threshold: float | None = None) -> ChartSpec:
    entry = CATALOG[name]
    return ChartSpec(entry.build(f, "1h"), title, unit or entry.unit, threshold)


def chart_spec(category: str, component: str | None, namespace: str | None) -> ChartSpec:
    """The key series for a root-cause category, scoped to the component (a Deployment, a pod,
    a service or a node, as the category implies) and namespace.
    Raises FilterError (a ValueError) when a name holds regex metacharacters (prefix "~" for a regex)."""
    where = "/".join(p for p in (namespace, component) if p) or "all namespaces"
    pod = lambda: _filters(component, namespace, _pod_key(component))  # noqa: E731
    http = lambda: _filters(component, namespace, "service")  # noqa: E731
    if category == "oom_killed":
        return _catalog("memory_vs_limit", pod(), f"Memory working set / limit — {where}", threshold=1.0)
    if category == "cpu_throttling":
        return _catalog("cpu_throttling_ratio", pod(), f"CPU throttled periods — {where}",
                        threshold=CATALOG["cpu_throttling_ratio"].threshold)
    if category == "traffic_spike":
        return _catalog("request_rate", http(), f"HTTP request rate — {where}")
    if category in ("bad_deploy", "dependency_unavailable"):
        return _catalog("error_ratio", http(), f"HTTP 5xx ratio — {where}",
                        threshold=CATALOG["error_ratio"].threshold)
    if category == "slow_query":
        return _catalog("latency_p99", http(), f"HTTP p99 latency — {where}")
    if category in ("connection_pool_exhausted", "connection_pool"):
        f = _filters(component, namespace, _pod_key(component))
        parts = [_tagged(f"sum by (namespace, pool) ({f.sel(f'hikaricp_connections_{s}', on=APP_DB)})", "state", s)
                 for s in ("pending", "active", "max")]
        return ChartSpec(" or ".join(parts), f"Connection pool: pending / active / max — {where}", "count")
    if category == "disk_full":
        return _catalog("filesystem_free", Filters.parse({"namespace": namespace}),
                        f"Free space (volumes, filesystems) — {namespace or 'cluster'}",
                        threshold=CATALOG["filesystem_free"].threshold)
    if category == "node_pressure":
        # All nodes: the component may name a workload or a node, and the chart keeps the
        # most anomalous lines anyway, which is the node under pressure.
        q = ("min by (instance) (node_memory_MemAvailable_bytes)"
             " / min by (instance) (node_memory_MemTotal_bytes)")
        return ChartSpec(q, "Node memory available (all nodes)", "ratio", 0.1)
    if category == "certificate_expired":
        return _catalog("certificate_expiry", _filters(None, namespace, "namespace"),
                        f"Days until certificate expiry — {namespace or 'cluster'}",
                        threshold=CATALOG["certificate_expiry"].threshold)
    if category == "dns_failure":
        return _catalog("dns_errors", Filters.parse({}), "CoreDNS error responses by rcode")
    if category == "unschedulable":
        f = pod()
        q = f"sum by (namespace) ({f.sel('kube_pod_status_phase', 'phase=' + promql_string('Pending'), on=POD)})"
        return ChartSpec(q, f"Pending pods — {where}", "count")
    # Crash loops, image pulls, config errors, probes, unknown: restarts tell the story.
    return ChartSpec(CATALOG["container_restarts"].parts["restarts_total"](pod(), "1h"),
                     f"Container restarts (cumulative) — {where}", "count")


def pick_chart_query(category: str, component: str | None, namespace: str | None) -> tuple[str, str, str | None]:
    """(PromQL, title, unit) of the key series for a diagnosis category; see chart_spec."""
    spec = chart_spec(category, component, namespace)
    return spec.query, spec.title, spec.unit
