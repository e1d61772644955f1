"""The digest's two PNG charts: incidents per day by severity, and the resolve-time trend (median
and p90 per week, the digest's week last). Drawn with matplotlib's object API on the Agg canvas,
as bot/charts.py does (headless, thread-safe); callers render them in a worker thread."""
from __future__ import annotations

import io
import math
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.digest.model import Digest  # noqa: E402

SEVERITY_COLORS = {"critical": "tab:red", "error": "tab:red", "warning": "tab:orange", "info": "tab:blue",
                   "none": "tab:gray"}
SEVERITY_ORDER = ("critical", "error", "warning", "info", "none")
Size = tuple[float, float, int]  # width, height (inches), dpi: bot.digest.post picks one per platform


def _figure(size: Size) -> tuple[Figure, object]:
    width, height, dpi = size
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, axis="y", alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _png(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def incidents_per_day(d: Digest, size: Size) -> bytes:
    fig, ax = _figure(size)
    labels = [f"{date.fromisoformat(day.day):%a %d}" for day in d.per_day]
    seen = {s for day in d.per_day for s in day.by_severity}
    order = [s for s in SEVERITY_ORDER if s in seen] + sorted(seen - set(SEVERITY_ORDER))
    bottom = [0] * len(d.per_day)
    for sev in order:
        counts = [day.by_severity.get(sev, 0) for day in d.per_day]
        ax.bar(labels, counts, bottom=bottom, label=sev, color=SEVERITY_COLORS.get(sev), width=0.7)
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_ylim(0, max(bottom + [1]) * 1.15)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Incidents per day by severity — {d.week} ({d.timezone})", fontsize=10, loc="left")
    if order:
        ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=len(order))
    else:
        ax.text(0.5, 0.5, "no incidents", transform=ax.transAxes, ha="center", va="center", color="gray")
    return _png(fig, size[2])


def resolve_trend(d: Digest, size: Size) -> bytes:
    fig, ax = _figure(size)
    weeks = list(range(len(d.resolve_trend)))  # positions: weeks without a resolve keep their place
    peak = max([w.p90_s or 0 for w in d.resolve_trend] + [0])
    div, unit = (3600, "h") if peak >= 2 * 3600 else (60, "min")
    for key, name, style in (("median_s", "median", "-"), ("p90_s", "p90", "--")):
        values = [getattr(w, key) / div if getattr(w, key) is not None else math.nan for w in d.resolve_trend]
        ax.plot(weeks, values, style, marker="o", markersize=4, linewidth=1.4, label=name)
    for x, w in enumerate(d.resolve_trend):
        if w.n:
            ax.annotate(f"n={w.n}", (x, (w.p90_s or 0) / div), textcoords="offset points", xytext=(0, 5),
                        ha="center", fontsize=7, color="gray")
    ax.set_xticks(weeks, [w.week.split("-")[1] for w in d.resolve_trend])
    ax.set_xlim(-0.5, len(weeks) - 0.5)
    ax.set_ylim(0, (peak / div) * 1.25 if peak else 1)
    ax.set_ylabel(f"time to resolve ({unit})", fontsize=8)
    ax.set_title(f"Time to resolve by week, median and p90 — up to {d.week}", fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return _png(fig, size[2])


def render_charts(d: Digest, size: Size) -> list[tuple[str, bytes]]:
    """[(title, PNG)] of both charts."""
    return [(f"Incidents per day by severity, {d.week}", incidents_per_day(d, size)),
            (f"Time to resolve by week, up to {d.week}", resolve_trend(d, size))]
