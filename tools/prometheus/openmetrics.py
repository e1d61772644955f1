"""Write OpenMetrics text with timestamps, the input `promtool tsdb create-blocks-from
openmetrics` backfills. Used to build scenario data and test fixtures.

OpenMetrics needs every sample of a family contiguous under one # TYPE line and each
series in increasing time order; the writer collects samples and orders them on write.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

_TYPES = ("gauge", "counter", "histogram", "summary", "stateset", "info", "gaugehistogram", "unknown")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_value(v: float) -> str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class OpenMetricsWriter:
    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str]] = {}  # family -> (type, help)
        # family -> series key -> (sample name, labels, [(t, v)])
        self._series: dict[str, dict[tuple, tuple[str, dict, list[tuple[float, float]]]]] = {}

    def family(self, name: str, type_: str, help_: str = "") -> None:
        if type_ not in _TYPES:
            raise ValueError(f"unknown OpenMetrics type {type_!r}")
        known = self._families.get(name)
        if known and known[0] != type_:
            raise ValueError(f"family {name} already declared as {known[0]}")
        self._families[name] = (type_, help_ or (known[1] if known else ""))
        self._series.setdefault(name, {})

    def sample(self, family: str, sample_name: str, labels: Mapping[str, str], t: float, v: float) -> None:
        if family not in self._families:
            raise ValueError(f"declare family {family} first")
        key = (sample_name, tuple(sorted(labels.items())))
        entry = self._series[family].setdefault(key, (sample_name, dict(labels), []))
        entry[2].append((float(t), float(v)))

    def gauge(self, name: str, labels: Mapping[str, str], points: Iterable[tuple[float, float]], help_: str = "") -> None:
        self.family(name, "gauge", help_)
        for t, v in points:
            self.sample(name, name, labels, t, v)

    def counter(self, name: str, labels: Mapping[str, str], points: Iterable[tuple[float, float]],
                help_: str = "") -> None:
        """name may end in _total; the family drops it, the samples carry it (OpenMetrics rule)."""
        family = name[: -len("_total")] if name.endswith("_total") else name
        self.family(family, "counter", help_)
        for t, v in points:
            self.sample(family, f"{family}_total", labels, t, v)

    def histogram(self, name: str, labels: Mapping[str, str],
                  points: Iterable[tuple[float, Mapping[float, float], float]], help_: str = "") -> None:
        """points: (t, {upper bound: cumulative count}, sum); the +Inf bucket is the count."""
        self.family(name, "histogram", help_)
        for t, buckets, total in points:
            for le, c in sorted(buckets.items()):
                self.sample(name, f"{name}_bucket", {**labels, "le": _fmt_value(le)}, t, c)
            count = buckets[max(buckets)] if buckets else 0
            self.sample(name, f"{name}_count", labels, t, count)
            self.sample(name, f"{name}_sum", labels, t, total)

    def text(self) -> str:
        lines: list[str] = []
        for family, (type_, help_) in self._families.items():
            lines.append(f"# TYPE {family} {type_}")
            if help_:
                lines.append(f"# HELP {family} {_escape(help_)}")
            for sample_name, labels, points in self._series[family].values():
                lab = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
                head = f"{sample_name}{{{lab}}}" if lab else sample_name
                for t, v in sorted(points):
                    lines.append(f"{head} {_fmt_value(v)} {_fmt_value(round(t, 3))}")
        lines.append("# EOF")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text())
        return path
