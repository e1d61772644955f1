"""Strict reading of OpenMetrics text as used for Prometheus backfill.

Checks what `promtool tsdb create-blocks-from openmetrics` needs and a bit more that real
exporters guarantee: a `# TYPE` before a family's samples, families not interleaved, every
sample timestamped, per-series time order, counters that never decrease, consistent histograms,
and `# EOF` as the last line.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
}
# Sample names whose values may never go down within a series.
MONOTONIC = {"counter": ("_total", ""), "histogram": ("_bucket", "_count"), "summary": ("_count",)}
MAX_REPORTED = 5  # per kind of problem; the rest are counted


@dataclass
class MetricsSummary:
    families: dict[str, str] = field(default_factory=dict)        # family -> type
    series: int = 0
    samples: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    step: float | None = None
    label_values: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    problems: list[str] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def problem(self, kind: str, text: str) -> None:
        self._counts[kind] += 1
        if self._counts[kind] <= MAX_REPORTED:
            self.problems.append(text)

    def finish(self) -> None:
        for kind, n in self._counts.items():
            if n > MAX_REPORTED:
                self.problems.append(f"... and {n - MAX_REPORTED} more {kind} problems")


def parse_labels(text: str) -> dict[str, str]:
    """Parse `a="x",b="y\\"z"` (the inside of braces). Raises ValueError."""
    labels: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        m = LABEL_NAME_RE.match(text, i)
        if not m:
            raise ValueError(f"bad label name at {text[i:i + 20]!r}")
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ValueError(f"expected =\" after label {name}")
        i += 2
        val = []
        while True:
            if i >= n:
                raise ValueError(f"unterminated value for label {name}")
            ch = text[i]
            if ch == "\\":
                nxt = text[i + 1:i + 2]
                val.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
                i += 2
            elif ch == '"':
                i += 1
                break
            else:
                val.append(ch)
                i += 1
        if name in labels:
            raise ValueError(f"duplicate label {name}")
        labels[name] = "".join(val)
        if i < n:
            if text[i] != ",":
                raise ValueError(f"expected ',' after label {name}")
            i += 1
    return labels


def parse_float(s: str) -> float:
    if s in ("+Inf", "Inf", "+inf", "inf"):
        return math.inf
    if s in ("-Inf", "-inf"):
        return -math.inf
    if s in ("NaN", "nan"):
        return math.nan
    return float(s)


def split_sample(line: str) -> tuple[str, dict[str, str], str, str | None]:
    """name, labels, value text, timestamp text (None if absent). Exemplars are dropped."""
    m = NAME_RE.match(line)
    if not m:
        raise ValueError("no metric name")
    name, rest = m.group(0), line[m.end():]
    labels: dict[str, str] = {}
    if rest.startswith("{"):
        depth_end = _closing_brace(rest)
        labels = parse_labels(rest[1:depth_end])
        rest = rest[depth_end + 1:]
    if not rest.startswith(" "):
        raise ValueError("expected a space before the value")
    rest = rest.split(" # ", 1)[0]  # exemplar
    parts = rest.split()
    if len(parts) not in (1, 2):
        raise ValueError(f"expected 'value [timestamp]', got {rest.strip()!r}")
    return name, labels, parts[0], parts[1] if len(parts) == 2 else None


def _closing_brace(s: str) -> int:
    in_str, i = False, 1
    while i < len(s):
        ch = s[i]
        if in_str and ch == "\\":
            i += 2
            continue
        if ch == '"':
            in_str = not in_str
        elif ch == "}" and not in_str:
            return i
        i += 1
    raise ValueError("unterminated label set")


def _family_of(name: str, families: dict[str, str]) -> tuple[str, str] | None:
    if name in families:
        return name, ""
    for fam_type, suffixes in SUFFIXES.items():
        for suf in suffixes:
            if name.endswith(suf) and families.get(name[: -len(suf)]) == fam_type:
                return name[: -len(suf)], suf
    return None


def check_openmetrics(lines, max_ts: float | None = None, where: str = "metrics.om") -> MetricsSummary:
    """Validate OpenMetrics text given as an iterable of lines (without newlines required)."""
    s = MetricsSummary()
    declared_order: list[str] = []
    closed: set[str] = set()
    current: str | None = None
    last_point: dict[tuple, tuple[float, float]] = {}
    hist: dict[tuple, dict] = defaultdict(dict)
    eof_at = None
    steps: dict[float, int] = defaultdict(int)
    lineno = 0
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if eof_at is not None:
            if line.strip():
                s.problem("after-eof", f"{where}:{lineno}: content after # EOF")
            continue
        if line == "# EOF":
            eof_at = lineno
            continue
        if not line.strip():
            s.problem("blank", f"{where}:{lineno}: blank line (not allowed in OpenMetrics)")
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) < 3 or parts[1] not in ("TYPE", "HELP", "UNIT"):
                s.problem("comment", f"{where}:{lineno}: unknown comment line {line[:60]!r}")
                continue
            kind, fam = parts[1], parts[2]
            if kind == "TYPE":
                typ = parts[3].strip() if len(parts) > 3 else ""
                if typ not in TYPES:
                    s.problem("type", f"{where}:{lineno}: unknown metric type {typ!r} for {fam}")
                    continue
                if fam in s.families:
                    s.problem("interleave", f"{where}:{lineno}: family {fam} declared twice (families must not be interleaved)")
                s.families[fam] = typ
                declared_order.append(fam)
            if current is not None and fam != current:
                closed.add(current)
            current = fam
            continue
        try:
            name, labels, vtext, ttext = split_sample(line)
            value = parse_float(vtext)
        except ValueError as exc:
            s.problem("syntax", f"{where}:{lineno}: invalid sample: {exc}: {line[:80]!r}")
            continue
        resolved = _family_of(name, s.families)
        if resolved is None:
            s.problem("undeclared", f"{where}:{lineno}: sample {name} has no preceding # TYPE")
            continue
        fam, suffix = resolved
        if fam != current:
            if fam in closed:
                s.problem("interleave", f"{where}:{lineno}: samples of {fam} appear again after another family")
            elif current is not None:
                closed.add(current)
            current = fam
        if ttext is None:
            s.problem("timestamp", f"{where}:{lineno}: sample without timestamp (backfill needs one)")
            continue
        try:
            ts = float(ttext)
        except ValueError:
            s.problem("timestamp", f"{where}:{lineno}: bad timestamp {ttext!r}")
            continue
        if ts > 1e11:
            s.problem("timestamp", f"{where}:{lineno}: timestamp {ttext} looks like milliseconds (OpenMetrics uses seconds)")
            continue
        if max_ts is not None and ts > max_ts:
            s.problem("future", f"{where}:{lineno}: timestamp {ttext} is after the scenario's now + 5m")
        typ = s.families[fam]
        key = (name, tuple(sorted(labels.items())))
        prev = last_point.get(key)
        if prev is None:
            s.series += 1
        else:
            pts, pv = prev
            if ts <= pts:
                s.problem("order", f"{where}:{lineno}: {name} timestamps not increasing ({ttext} after {pts:g})")
            elif ts - pts < 3600:
                steps[round(ts - pts, 3)] += 1
            if suffix in MONOTONIC.get(typ, ()) and not math.isnan(value) and not math.isnan(pv) and value < pv:
                s.problem("counter", f"{where}:{lineno}: counter {name}{_fmt_labels(labels)} decreased "
                                     f"from {pv:g} to {value:g}")
        last_point[key] = (ts, value)
        if typ == "histogram" and suffix in ("_bucket", "_count"):
            base = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            slot = hist[(fam, base, ts)]
            if suffix == "_bucket":
                try:
                    slot.setdefault("b", []).append((parse_float(labels.get("le", "")), value))
                except ValueError:
                    s.problem("histogram", f"{where}:{lineno}: bucket without a numeric le label")
            else:
                slot["count"] = value
        s.samples += 1
        s.first_ts = ts if s.first_ts is None else min(s.first_ts, ts)
        s.last_ts = ts if s.last_ts is None else max(s.last_ts, ts)
        for k, v in labels.items():
            if k != "le" and len(s.label_values[k]) < 5000:
                s.label_values[k].add(v)
    if eof_at is None:
        s.problem("eof", f"{where}: does not end with '# EOF'")
    for (fam, base, ts), slot in hist.items():
        buckets = sorted(slot.get("b", []))
        if not buckets or buckets[-1][0] != math.inf:
            s.problem("histogram", f"{where}: histogram {fam}{_fmt_labels(dict(base))} at {ts:g} has no +Inf bucket")
            continue
        if any(b[1] < a[1] for a, b in zip(buckets, buckets[1:])):
            s.problem("histogram", f"{where}: histogram {fam}{_fmt_labels(dict(base))} at {ts:g}: bucket counts "
                                   "decrease as le grows")
        if "count" in slot and slot["count"] != buckets[-1][1]:
            s.problem("histogram", f"{where}: histogram {fam}{_fmt_labels(dict(base))} at {ts:g}: _count "
                                   f"{slot['count']:g} != +Inf bucket {buckets[-1][1]:g}")
    if steps:
        s.step = max(steps.items(), key=lambda kv: kv[1])[0]
    s.finish()
    return s


def _fmt_labels(labels: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
