"""Anomaly summary of one time series around an alert: pure numeric code, no I/O.

The baseline is described by its mean/std (what people expect to read) but the band used
to decide "abnormal" is median ± k·σ with σ from the MAD: a baseline that already holds
the first minutes of an incident would otherwise inflate σ and hide the change.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import fmean, median, pstdev
from typing import Iterable, Sequence

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its σ
REL_SIGMA_FLOOR = 0.01  # a perfectly flat baseline still tolerates ±1 % wobble per σ
ABS_SIGMA_FLOOR = 1e-9


@dataclass
class AnomalySummary:
    points: int
    baseline_points: int
    window_points: int
    baseline_mean: float | None
    baseline_std: float | None
    baseline_median: float | None
    window_mean: float | None
    window_min: float | None
    window_max: float | None
    last: float | None
    z: float | None  # (window mean - baseline median) / band σ
    peak_z: float | None  # the most extreme window point, same scale
    anomalous: bool
    kind: str | None  # "shift", "spike", "new_series", "gone" or None
    direction: str | None  # "up" / "down"
    change_at: float | None  # epoch seconds the excursion began (may precede the window)
    recovered_at: float | None  # first point back inside the band, if it came back

    @property
    def score(self) -> float:
        """Ranking key: how interesting this series is next to its siblings."""
        if self.kind in ("new_series", "gone"):
            return 3.0
        return max(abs(self.z or 0.0), abs(self.peak_z or 0.0) / 2)

    def to_dict(self) -> dict:
        return asdict(self)


def clean(times: Iterable[float], values: Iterable[float]) -> tuple[list[float], list[float]]:
    """Drop NaN/±Inf samples (Prometheus returns them for 0/0 and missing denominators)."""
    ts: list[float] = []
    vs: list[float] = []
    for t, v in zip(times, values):
        try:
            t, v = float(t), float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(t) and math.isfinite(v):
            ts.append(t)
            vs.append(v)
    return ts, vs


def band_sigma(baseline: Sequence[float]) -> float:
    center = median(baseline)
    mad = median(abs(x - center) for x in baseline)
    if mad > 0:
        sigma = MAD_TO_SIGMA * mad
    else:
        # More than half the points are identical (quantised or idle series): MAD is 0,
        # so fall back to the std of the central 90 %, which ignores rare blips.
        ordered = sorted(baseline)
        cut = len(ordered) // 20
        core = ordered[cut:len(ordered) - cut] if cut else ordered
        sigma = pstdev(core) if len(core) > 1 else 0.0
    return max(sigma, REL_SIGMA_FLOOR * abs(center), ABS_SIGMA_FLOOR)


def excursion(times: Sequence[float], values: Sequence[float], center: float, sigma: float,
              from_index: int, k: float = 3.0, max_gap: int = 1,
              direction: int | None = None) -> tuple[int, int] | None:
    """The latest run of points outside center ± k·σ on one side that touches from_index..end.

    Single points back inside the band (up to max_gap in a row) do not end the run, so a
    noisy plateau counts as one excursion. direction (+1/-1) restricts the search to one
    side, so a stray noise point after a recovered spike is not taken for the change.
    Returns (first index, last index) or None.
    """
    side = [0 if abs(v - center) <= k * sigma else (1 if v > center else -1) for v in values]
    last = next((i for i in range(len(side) - 1, from_index - 1, -1)
                 if side[i] and (direction is None or side[i] == direction)), None)
    if last is None:
        return None
    direction = side[last]
    first, gap = last, 0
    for i in range(last - 1, -1, -1):
        if side[i] == direction:
            first, gap = i, 0
        elif side[i] == 0 and gap < max_gap:
            gap += 1
        else:
            break
    return first, last


def summarize(times: Sequence[float], values: Sequence[float], window_start: float,
              k: float = 3.0) -> AnomalySummary | None:
    """Compare the points at/after window_start with those before it. None when no data."""
    ts, vs = clean(times, values)
    if not vs:
        return None
    split = next((i for i, t in enumerate(ts) if t >= window_start), len(ts))
    base, win = vs[:split], vs[split:]
    s = AnomalySummary(points=len(vs), baseline_points=len(base), window_points=len(win),
                       baseline_mean=None, baseline_std=None, baseline_median=None,
                       window_mean=fmean(win) if win else None, window_min=min(win) if win else None,
                       window_max=max(win) if win else None, last=vs[-1], z=None, peak_z=None,
                       anomalous=False, kind=None, direction=None, change_at=None, recovered_at=None)
    if not base:
        # Nothing before the window: the series itself is new (a new pod, a new error code).
        s.anomalous, s.kind, s.change_at = True, "new_series", ts[0]
        return s
    s.baseline_mean, s.baseline_median = fmean(base), median(base)
    s.baseline_std = pstdev(base) if len(base) > 1 else 0.0
    if not win:
        s.anomalous, s.kind, s.change_at = True, "gone", ts[-1]
        return s
    center, sigma = s.baseline_median, band_sigma(base)
    s.z = (s.window_mean - center) / sigma
    peak = max(win, key=lambda v: abs(v - center))
    s.peak_z = (peak - center) / sigma
    if abs(s.z) >= k:
        # A few extreme points can drag the mean too: call it a shift only when a good
        # share of the window sits outside the band on the same side.
        up = s.z > 0
        outside = sum(1 for v in win if (v - center > k * sigma if up else center - v > k * sigma))
        s.kind = "shift" if outside >= 0.3 * len(win) else "spike"
        s.direction = "up" if up else "down"
    elif abs(s.peak_z) >= 2 * k:
        s.kind, s.direction = "spike", "up" if s.peak_z > 0 else "down"
    if s.kind is None:
        return s
    s.anomalous = True
    run = excursion(ts, vs, center, sigma, split, k, direction=1 if s.direction == "up" else -1)
    if run is not None:
        first, last = run
        s.change_at = ts[first]
        if last < len(ts) - 1:
            s.recovered_at = ts[last + 1]
    return s
