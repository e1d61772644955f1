"""PNG rendering of range-query series, and the key PromQL per diagnosis category."""
from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image, ImageChops

from bot.charts import (MAX_LINES, EmptyChartError, _scale, chart_spec, legend_labels, pick_chart_query,
                        render_series_png, top_series)
from tests.support import require_binary
from tools.prometheus import PrometheusServer
from tools.prometheus.catalog import FilterError
from tools.prometheus.openmetrics import OpenMetricsWriter
from tools.taxonomy import CATEGORIES

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=timezone.utc)
ALERT = NOW - timedelta(minutes=15)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def series(n: int, points: int = 60, bump: int | None = None, **labels: str) -> list[dict]:
    start = NOW.timestamp() - points * 60
    out = []
    for i in range(n):
        vals = [[start + j * 60, str(100.0 + i + (500 if i == bump and j > points // 2 else 0))] for j in range(points)]
        out.append({"labels": {"namespace": "shop", "pod": f"web-5d8f7c9b4-{i:05d}", **labels}, "values": vals})
    return out


def image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_MAGIC)
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def test_png_magic_and_dimensions():
    img = image(render_series_png(series(2), "two pods", ALERT, NOW))
    assert img.format == "PNG" and img.size == (800, 320)
    img = image(render_series_png(series(1), "small", None, NOW, width=5, height=2, dpi=80))
    assert img.size == (400, 160)


def test_many_series_keep_the_anomalous_ones():
    data = series(10, bump=7)
    picked = top_series(data)
    assert len(picked) == MAX_LINES and data[7] in picked
    assert picked[0] is data[7]
    # A low outlier (a disk nearly empty among full ones) is picked just as well.
    low = [{"labels": {"mountpoint": f"/d{i}"}, "values": [[1, "0.8"], [2, "0.8"]]} for i in range(9)]
    low[4]["values"][1][1] = "0.02"
    assert low[4] in top_series(low, 3)
    png = render_series_png(data, "ten pods", ALERT, NOW, unit="bytes")
    assert image(png).size == (800, 320)


def test_legend_uses_distinguishing_labels():
    assert legend_labels(series(2, container="app")) == ["web-5d8f7c9b4-00000", "web-5d8f7c9b4-00001"]
    two = [{"labels": {"namespace": "a", "pod": "p", "container": c}} for c in ("app", "sidecar")]
    assert legend_labels(two) == ["app", "sidecar"]
    assert legend_labels([{"labels": {"service": "checkout", "namespace": "shop"}}]) == ["checkout"]


def test_nan_inf_and_garbage_values_are_gaps():
    data = series(2)
    for j in (3, 4, 5):
        data[0]["values"][j][1] = "NaN"
    data[0]["values"][6][1] = "+Inf"
    data[1]["values"][7][1] = "-Inf"
    data[1]["values"][8] = ["not-a-time", "1"]
    data[1]["values"][9][1] = None
    assert image(render_series_png(data, "gaps", ALERT, NOW, unit="seconds")).size == (800, 320)
    all_nan = [{"labels": {"pod": "x"}, "values": [[NOW.timestamp(), "NaN"], [NOW.timestamp() + 60, "+Inf"]]}]
    for empty in ([], [{"labels": {}, "values": []}], all_nan):
        with pytest.raises(EmptyChartError):
            render_series_png(empty, "nothing", ALERT, NOW)
    assert issubclass(EmptyChartError, ValueError)


def test_single_point_naive_datetimes_and_instant_vector():
    one = [{"metric": {"service": "api"}, "value": [NOW.timestamp() - 60, "0.25"]}]
    naive = NOW.replace(tzinfo=None)
    assert image(render_series_png(one, "one point", naive - timedelta(minutes=1), naive, unit="ratio"))


def test_markers_change_the_picture():
    data = series(2)
    plain = image(render_series_png(data, "t", None, NOW)).convert("RGB")
    marked = image(render_series_png(data, "t", ALERT, NOW, change_point=ALERT - timedelta(minutes=5),
                                     threshold=150)).convert("RGB")
    diff = ImageChops.difference(plain, marked).getbbox()
    assert diff is not None
    # The shaded window is right of the change point: the rightmost plot area changed colour.
    x, y = 760, 150
    assert plain.getpixel((x, y)) != marked.getpixel((x, y))


def test_unit_scaling():
    assert _scale("bytes", 3 * 2 ** 30)[:2] == (2 ** 30, " GiB")
    assert _scale("bytes", 200 * 2 ** 20)[:2] == (2 ** 20, " MiB")
    assert _scale("bytes", 12)[:2] == (1.0, " B")
    assert _scale("ratio", 0.5)[:2] == (0.01, "%")
    assert _scale("seconds", 0.25)[:2] == (0.001, " ms")
    assert _scale("seconds", 4)[:2] == (1.0, " s")


def test_render_is_fast():
    data = series(6, points=240)
    render_series_png(data, "warm-up", ALERT, NOW, unit="bytes")
    t0 = time.perf_counter()
    for _ in range(3):
        render_series_png(data, "timed", ALERT, NOW, unit="bytes", change_point=ALERT)
    per_chart = (time.perf_counter() - t0) / 3
    assert per_chart < 1.0, f"{per_chart:.2f}s per chart"  # ~0.2s here; slack for slow CI runners


# --- chart queries -----------------------------------------------------------------------------

UNITS = {"ratio", "per_second", "seconds", "count", "days", "bytes"}


@pytest.mark.parametrize("category", [*CATEGORIES, "connection_pool", "something_new"])
def test_pick_chart_query_shape(category):
    query, title, unit = pick_chart_query(category, "checkout", "shop")
    assert title and unit in UNITS
    assert query.count("(") == query.count(")") and query.count("{") == query.count("}")
    assert query.count('"') % 2 == 0
    # Scoped wherever the metric family has a namespace, and never to another namespace.
    if 'namespace="' in query:
        assert 'namespace="shop"' in query and query.count('namespace="') == query.count('namespace="shop"')


def test_pick_chart_query_scopes_by_component_kind():
    oom, _, unit = pick_chart_query("oom_killed", "checkout", "shop")
    assert "container_memory_working_set_bytes" in oom and "kube_pod_container_resource_limits" in oom
    assert 'pod=~"(?:checkout)-' in oom and unit == "ratio"
    one_pod, _, _ = pick_chart_query("oom_killed", "checkout-5d8f7c9b4-x2x4q", "shop")
    assert 'pod="checkout-5d8f7c9b4-x2x4q"' in one_pod
    http, _, _ = pick_chart_query("traffic_spike", "checkout", "shop")
    assert 'service="checkout"' in http
    pool, _, _ = pick_chart_query("connection_pool_exhausted", "inventory", "wh")
    assert all(f"hikaricp_connections_{s}" in pool for s in ("pending", "active"))
    assert chart_spec("oom_killed", None, None).threshold == 1.0


def test_pick_chart_query_escapes_and_refuses_regex():
    query, _, _ = pick_chart_query("bad_deploy", None, 'we"ird')
    assert 'namespace="we\\"ird"' in query
    with pytest.raises(FilterError):
        pick_chart_query("oom_killed", "check.*", "shop")
    assert issubclass(FilterError, ValueError)
    query, _, _ = pick_chart_query("oom_killed", "~check.*", "shop")  # explicit regex
    assert "(?:check.*)" in query


def test_every_chart_query_parses_with_promtool(tmp_path):
    promtool = require_binary("promtool")
    rules = [{"record": f"chart:{i}", "expr": pick_chart_query(c, comp, ns)[0]}
             for i, (c, comp, ns) in enumerate((c, comp, ns) for c in CATEGORIES
                                               for comp, ns in (("checkout", "shop"), (None, None)))]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "charts", "rules": rules}]}))  # JSON is YAML
    res = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_oom_query_evaluates_on_prometheus_and_renders(tmp_path):
    require_binary("prometheus")
    require_binary("promtool")
    t0 = int(time.time()) - 86400
    w = OpenMetricsWriter()
    limit = 512 * 2 ** 20
    for i, pod in enumerate(("checkout-5d8f7c9b4-aaaaa", "checkout-5d8f7c9b4-bbbbb", "payments-6c7d8e9f0-ccccc")):
        base = {"namespace": "shop", "pod": pod, "container": "app"}
        grow = i == 0
        w.gauge("container_memory_working_set_bytes", base,
                [(t0 + j * 60, limit * (0.5 + (0.45 * j / 59 if grow else 0))) for j in range(60)])
        w.gauge("kube_pod_container_resource_limits", {**base, "resource": "memory", "unit": "byte"},
                [(t0 + j * 60, limit) for j in range(60)])
    om = w.write(tmp_path / "mem.om")
    query, title, unit = pick_chart_query("oom_killed", "checkout", "shop")
    with PrometheusServer(tmp_path / "prom", [om]) as prom:
        params = urllib.parse.urlencode({"query": query, "start": t0 + 600, "end": t0 + 3540, "step": 60})
        body = json.load(urllib.request.urlopen(f"{prom.url}/api/v1/query_range?{params}", timeout=30))
    result = body["data"]["result"]
    assert sorted(r["metric"]["pod"] for r in result) == ["checkout-5d8f7c9b4-aaaaa", "checkout-5d8f7c9b4-bbbbb"]
    growing = next(r for r in result if r["metric"]["pod"].endswith("aaaaa"))
    assert float(growing["values"][-1][1]) == pytest.approx(0.95, abs=0.02)
    end = datetime.fromtimestamp(t0 + 3540, timezone.utc)
    png = render_series_png(result, title, end - timedelta(minutes=5), end, unit=unit, threshold=1.0)
    assert image(png).size == (800, 320)
