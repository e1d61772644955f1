"""Stream log lines into Drain3 templates with counts, time range, level and examples.

Agents read templates, not raw lines: 100k lines of a crash loop become a handful of
``connect to <IP> failed after <DURATION>`` entries with counts and three examples.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from tools.logs.drain import MaskAwareDrain, merge_families
from tools.logs.levels import LEVELS, detect_level, normalize_level
from tools.logs.masking import MASK_PREFIX, MASK_SUFFIX, make_masker
from tools.textclip import clip_middle

# Order of templates for an agent: errors first, then warnings, then lines whose level
# is unknown (they may be errors we could not classify), then known-benign INFO/DEBUG.
_RANK = {"ERROR": 0, "WARN": 1, "UNKNOWN": 2, "INFO": 3, "DEBUG": 4}

# Similarity is computed over constant tokens only (see tools/logs/drain.py), so the
# threshold is much higher than stock Drain's 0.4. On Loghub-2k (bench/logparse.py) the
# average GA is 0.856 at 0.7, 0.944 at 0.8, 0.959 at 0.85 and 0.958 at 0.9.
DEFAULT_SIM_TH = 0.85
DEFAULT_DEPTH = 4
# A slot with this many distinct words across sibling clusters is a parameter.
MIN_FAMILY = 5
MAX_EXAMPLE_CHARS = 2000
MODEL_EXAMPLE_CHARS = 1000

_WILDCARD = MASK_PREFIX + "*" + MASK_SUFFIX
_ISO_PREFIX = re.compile(r"^\s*\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
_JSON_MSG_KEYS = ("msg", "message", "log", "MESSAGE", "text")
_JSON_ERR_KEYS = ("error", "err", "exception", "stacktrace")
_JSON_TS_KEYS = ("ts", "time", "timestamp", "@timestamp", "t")


@dataclass
class LogTemplate:
    template: str
    count: int
    level: str
    first_seen: datetime | None
    last_seen: datetime | None
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "count": self.count,
            "level": self.level,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "examples": list(self.examples),
        }

    def to_model_dict(self, example_chars: int = MODEL_EXAMPLE_CHARS) -> dict[str, Any]:
        """What a reader (model, engine, chat) gets: the template and one verbatim example line with
        its variables (a mistyped command or a missing variable's name lives in the variables), long
        lines kept at both ends; no empty fields."""
        d: dict[str, Any] = {"template": self.template, "count": self.count, "level": self.level}
        if self.first_seen:
            d["first_seen"] = self.first_seen.isoformat()
        if self.last_seen and self.last_seen != self.first_seen:
            d["last_seen"] = self.last_seen.isoformat()
        if self.examples and self.examples[0] != self.template:
            d["example"] = clip_middle(self.examples[0], example_chars)
        return d


@dataclass
class _Stats:
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    examples: list[str] = field(default_factory=list)


def _parse_iso(text: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text.replace(",", ".", 1) if "," in text else text)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _parse_ts_value(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = value / 1000 if value > 1e11 else value  # epoch millis vs seconds
        try:
            return datetime.fromtimestamp(secs, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        return _parse_iso(value.strip())
    return None


def _json_fields(line: str) -> tuple[str, str | None, datetime | None] | None:
    """Message, level and time of a structured (JSON) log line, or None if not JSON."""
    stripped = line.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return None
    try:
        obj = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    msg = next((obj[k] for k in _JSON_MSG_KEYS if isinstance(obj.get(k), str)), None)
    if msg is None:
        return None
    parts = [msg.strip()]
    parts += [f"{k}={obj[k]}" for k in _JSON_ERR_KEYS if isinstance(obj.get(k), str)]
    level = next((obj[k] for k in ("level", "lvl", "severity", "levelname", "loglevel")
                  if isinstance(obj.get(k), str)), None)
    ts = next((t for k in _JSON_TS_KEYS if (t := _parse_ts_value(obj.get(k))) is not None), None)
    return " ".join(parts), level, ts


def _rank_key(t: LogTemplate) -> tuple[int, int, str]:
    return (_RANK.get(t.level, 2), -t.count, t.template)


class LogTemplateMiner:
    """Drain3 with cloud-native masking; statistics kept per (cluster, level).

    Levels are never merged away: Drain clusters on text alone (so lines differing only
    in their level word still share a template), but counts, examples and time ranges are
    keyed by (cluster, level). An INFO and an ERROR line with the same template therefore
    come out as two entries, and the ERROR one sorts first — nothing hides an error.
    """

    def __init__(self, max_examples: int = 3, sim_th: float | None = None, depth: int | None = None):
        # Drain3's Drain, fed directly: its TemplateMiner wrapper would mask through a chain of
        # instruction objects and build a result dict per line, a third of the time on Loghub.
        self._mask = make_masker()
        self._drain = MaskAwareDrain(
            sim_th=DEFAULT_SIM_TH if sim_th is None else sim_th, depth=DEFAULT_DEPTH if depth is None else depth,
            max_children=100, max_clusters=None, extra_delimiters=(), param_str=_WILDCARD,
            parametrize_numeric_tokens=True)
        self._stats: dict[tuple[int, str], _Stats] = {}
        self.max_examples = max_examples
        self.lines = 0
        self._merged_cache: dict[int, str] | None = None
        self._merged_at = -1

    def add(self, line: str, ts: datetime | None = None, level: str | None = None) -> int:
        """Add one raw line. Returns the Drain cluster id (used by the benchmark)."""
        line = line.rstrip("\r\n")
        content = line
        parsed = _json_fields(line)
        if parsed is not None:
            content, json_level, json_ts = parsed
            level = level or json_level
            ts = ts or json_ts
        lvl = normalize_level(level) if level else detect_level(line)
        if ts is None:
            m = _ISO_PREFIX.match(line)
            ts = _parse_iso(m.group(1)) if m else None
        elif ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        cluster_id = self._drain.add_log_message(self._mask(content))[0].cluster_id
        stats = self._stats.get((cluster_id, lvl))
        if stats is None:
            stats = self._stats[(cluster_id, lvl)] = _Stats()
        stats.count += 1
        if ts is not None:
            if stats.first_seen is None or ts < stats.first_seen:
                stats.first_seen = ts
            if stats.last_seen is None or ts > stats.last_seen:
                stats.last_seen = ts
        if len(stats.examples) < self.max_examples:
            example = clip_middle(line, MAX_EXAMPLE_CHARS)  # head and tail kept: the error is often last
            if example not in stats.examples:
                stats.examples.append(example)
        self.lines += 1
        return cluster_id

    def _merged(self) -> dict[int, str]:
        drain = self._drain
        if self._merged_cache is None or self._merged_at != self.lines:
            raw = {c.cluster_id: c.log_template_tokens for c in drain.clusters}
            merged = merge_families(raw, drain.param_str, MIN_FAMILY)
            self._merged_cache = {cid: " ".join(toks) for cid, toks in merged.items()}
            self._merged_at = self.lines
        return self._merged_cache

    def group_of(self, cluster_id: int) -> str:
        """Final template of a Drain cluster (clusters with equal templates are one event)."""
        return self._merged().get(cluster_id, f"cluster-{cluster_id}")

    def templates(self) -> list[LogTemplate]:
        merged: dict[tuple[str, str], LogTemplate] = {}
        for (cluster_id, level), st in self._stats.items():
            key = (self.group_of(cluster_id), level)
            t = merged.get(key)
            if t is None:
                merged[key] = LogTemplate(key[0], st.count, level, st.first_seen, st.last_seen,
                                          list(st.examples))
                continue
            t.count += st.count
            t.first_seen = _min(t.first_seen, st.first_seen)
            t.last_seen = _max(t.last_seen, st.last_seen)
            for ex in st.examples:
                if len(t.examples) < self.max_examples and ex not in t.examples:
                    t.examples.append(ex)
        return sorted(merged.values(), key=_rank_key)


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def mine_templates(lines: Iterable[str | tuple[datetime | None, str]],
                   limit: int | None = None) -> list[LogTemplate]:
    """Mine templates from raw lines or (timestamp, line) pairs; errors and warnings first."""
    miner = LogTemplateMiner()
    for item in lines:
        if isinstance(item, tuple):
            ts, line = item
            miner.add(line, ts=ts)
        else:
            miner.add(item)
    out = miner.templates()
    return out if limit is None else out[:limit]


def compact_payload(templates: Iterable[LogTemplate]) -> list[dict[str, Any]]:
    """The reduced form of a log stream handed toward a model: every template, in rank order
    (errors and warnings first), each with one verbatim example."""
    return [t.to_model_dict() for t in templates]


__all__ = ["LEVELS", "LogTemplate", "LogTemplateMiner", "compact_payload", "detect_level", "mine_templates"]
