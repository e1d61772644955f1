"""Anomaly summary on synthetic series: pure numeric code, no server."""
from __future__ import annotations

import math
import random

import pytest

from tools.prometheus.anomaly import band_sigma, clean, excursion, summarize

T0 = 1_700_000_000.0
STEP = 30.0


def grid(n: int) -> list[float]:
    return [T0 + i * STEP for i in range(n)]


def noisy(n: int, mean: float, sd: float, seed: int) -> list[float]:
    rnd = random.Random(seed)
    return [rnd.gauss(mean, sd) for _ in range(n)]


def test_step_change_found_at_planted_time():
    ts = grid(150)  # 120 baseline points, 30 window points; step at index 110 (before the window)
    vs = noisy(110, 100, 2, seed=1) + noisy(40, 160, 2, seed=2)
    s = summarize(ts, vs, window_start=ts[120])
    assert s.anomalous and s.kind == "shift" and s.direction == "up"
    assert s.z > 10
    assert s.change_at == ts[110]  # the change began before the window opened
    assert s.recovered_at is None
    assert 95 < s.baseline_median < 105 and 155 < s.window_mean < 165


def test_step_down_direction():
    ts = grid(100)
    vs = [50.0] * 80 + [5.0] * 20
    s = summarize(ts, vs, window_start=ts[85])
    assert s.anomalous and s.direction == "down" and s.change_at == ts[80]


def test_spike_that_recovered():
    ts = grid(120)
    vs = noisy(120, 10, 0.5, seed=3)
    vs[105] = vs[106] = 40.0  # two-point spike inside the window, then back to normal
    s = summarize(ts, vs, window_start=ts[90])
    assert s.anomalous and s.kind == "spike" and s.direction == "up"
    assert s.peak_z > 30  # two extreme points, the rest of the window stayed in the band
    assert s.change_at == ts[105] and s.recovered_at == ts[107]


def test_flat_series_no_anomaly():
    ts = grid(60)
    s = summarize(ts, [42.0] * 60, window_start=ts[45])
    assert not s.anomalous and s.kind is None and s.change_at is None
    assert s.z == 0 and s.baseline_std == 0


def test_flat_with_tiny_wobble_is_not_anomalous():
    # σ floor: a perfectly flat baseline must not turn a 0.5 % wobble into z = ∞.
    ts = grid(60)
    s = summarize(ts, [200.0] * 45 + [201.0] * 15, window_start=ts[45])
    assert not s.anomalous and abs(s.z) < 1


@pytest.mark.parametrize("seed", range(8))
def test_noisy_without_change_is_not_anomalous(seed):
    ts = grid(200)
    s = summarize(ts, noisy(200, 500, 25, seed=seed), window_start=ts[170])
    assert not s.anomalous, s
    assert abs(s.z) < 3


def test_zero_baseline_then_errors_appear():
    ts = grid(80)
    s = summarize(ts, [0.0] * 70 + [0.3] * 10, window_start=ts[70])
    assert s.anomalous and s.kind == "shift" and s.change_at == ts[70]


def test_nan_and_inf_are_ignored():
    ts = grid(60)
    vs = [1.0] * 40 + [float("nan")] * 5 + [9.0] * 15
    vs[3] = float("inf")
    s = summarize(ts, vs, window_start=ts[45])
    assert s.points == 54 and s.anomalous and s.change_at == ts[45]
    assert all(math.isfinite(x) for x in (s.baseline_mean, s.window_mean, s.z))


def test_empty_and_all_nan_give_none():
    assert summarize([], [], window_start=T0) is None
    assert summarize(grid(5), [float("nan")] * 5, window_start=T0) is None
    assert clean(["x", 1.0], ["1", "NaN"]) == ([], [])


def test_new_series_and_gone_series():
    ts = grid(40)
    new = summarize(ts[30:], [1.0] * 10, window_start=ts[30])
    assert new.anomalous and new.kind == "new_series" and new.change_at == ts[30]
    gone = summarize(ts[:20], [1.0] * 20, window_start=ts[30])
    assert gone.anomalous and gone.kind == "gone" and gone.change_at == ts[19]


def test_excursion_tolerates_single_gap_but_not_two():
    vals = [0, 0, 0, 9, 9, 0, 9, 9, 0, 0, 9, 9]
    run = excursion(grid(len(vals)), vals, center=0, sigma=1, from_index=8)
    assert run == (10, 11)  # two points back inside the band end the earlier run
    vals2 = [0, 0, 0, 9, 9, 0, 9, 9]
    assert excursion(grid(len(vals2)), vals2, center=0, sigma=1, from_index=6) == (3, 7)


def test_band_sigma_uses_mad_not_outliers():
    base = [10.0] * 50 + [1000.0] * 3 + [10.5, 9.5] * 10
    assert band_sigma(base) < 1.0  # three outliers do not widen the band
