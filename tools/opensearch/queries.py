"""Query DSL builders for Fluent Bit-shaped Kubernetes log documents.

Kept free of I/O so the exact bodies the tools send can be asserted in tests and
evaluated by the fake server.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# Severity ladder: a level filter means "this level or worse", which is what an
# investigation wants ("show me warnings" should not hide the errors).
SEVERITY = ("debug", "info", "warn", "error", "fatal")
LEVEL_ALIASES: dict[str, tuple[str, ...]] = {
    "debug": ("debug", "trace", "dbg"),
    "info": ("info", "information", "notice"),
    "warn": ("warn", "warning"),
    "error": ("error", "err"),
    "fatal": ("fatal", "critical", "crit", "panic", "emerg", "alert"),
}
# Words searched in the message text of documents that carry no level field.
LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    "warn": ("warn", "warning"),
    "error": ("error", "err", "exception"),
    "fatal": ("fatal", "critical", "crit", "panic"),
}


@dataclass(frozen=True)
class LogFields:
    """Field names of the index mapping.

    Defaults match a Fluent Bit index whose kubernetes.* strings are mapped as keyword;
    with OpenSearch's dynamic mapping (text + .keyword subfield) pass
    e.g. namespace="kubernetes.namespace_name.keyword".
    """

    timestamp: str = "@timestamp"
    messages: tuple[str, ...] = ("log", "message")
    level: str = "level"
    namespace: str = "kubernetes.namespace_name"
    pod: str = "kubernetes.pod_name"
    container: str = "kubernetes.container_name"
    # Fluent Bit's Replace_Dots turns app.kubernetes.io/name into app_kubernetes_io/name.
    apps: tuple[str, ...] = ("kubernetes.labels.app", "kubernetes.labels.app_kubernetes_io/name")
    # Keyword subfields of the message fields, for terms aggregations on whole lines.
    message_keywords: tuple[str, ...] = ("log.keyword", "message.keyword")


def normalize_level(level: str) -> str:
    low = level.strip().lower()
    for canonical, aliases in LEVEL_ALIASES.items():
        if low in aliases:
            return canonical
    raise ValueError(f"unknown level {level!r}; use one of {', '.join(SEVERITY)}")


def level_query(level: str, fields: LogFields) -> dict[str, Any]:
    """Documents at `level` or worse: the level field when present, else words in the message."""
    canonical = normalize_level(level)
    at_or_above = SEVERITY[SEVERITY.index(canonical):]
    values: list[str] = []
    for lvl in at_or_above:
        for alias in LEVEL_ALIASES[lvl]:
            # Lowercase also matches a level mapped as analysed text; the others match keyword.
            values.extend(dict.fromkeys((alias, alias.upper(), alias.capitalize())))
    no_level_field: dict[str, Any] = {"must_not": [{"exists": {"field": fields.level}}]}
    words = [w for lvl in at_or_above for w in LEVEL_WORDS.get(lvl, ())]
    if words:
        no_level_field["should"] = [{"match": {f: {"query": " ".join(words)}}} for f in fields.messages]
        no_level_field["minimum_should_match"] = 1
    return {"bool": {"should": [{"terms": {fields.level: values}}, {"bool": no_level_field}],
                     "minimum_should_match": 1}}


def iso(ts: datetime) -> str:
    ts = ts.astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def resolve_window(now: datetime, start: str | None, end: str | None, minutes: float) -> tuple[datetime, datetime]:
    """Explicit bounds win; a missing end is now, a missing start is `minutes` before the end."""
    if minutes <= 0:
        raise ValueError("minutes must be positive")
    end_dt = parse_time(end) if end else now
    start_dt = parse_time(start) if start else end_dt - timedelta(minutes=minutes)
    if start_dt >= end_dt:
        raise ValueError(f"empty time window: start {iso(start_dt)} is not before end {iso(end_dt)}")
    return start_dt, end_dt


def filters(fields: LogFields, *, start: datetime, end: datetime, namespace: str | None = None,
            namespaces: tuple[str, ...] = (), pod: str | None = None, container: str | None = None,
            app: str | None = None, query: str | None = None, level: str | None = None) -> dict[str, Any]:
    """The bool query shared by search and aggregations (filter context: no scoring, cacheable)."""
    flt: list[dict[str, Any]] = [
        {"range": {fields.timestamp: {"gte": iso(start), "lte": iso(end), "format": "strict_date_optional_time"}}}
    ]
    if namespace:
        flt.append({"term": {fields.namespace: namespace}})
    elif namespaces:
        flt.append({"terms": {fields.namespace: list(namespaces)}})
    if pod:
        flt.append({"term": {fields.pod: pod}})
    if container:
        flt.append({"term": {fields.container: container}})
    if app:
        flt.append({"bool": {"should": [{"term": {f: app}} for f in fields.apps], "minimum_should_match": 1}})
    if level:
        flt.append(level_query(level, fields))
    if query and query.strip():
        flt.append({"simple_query_string": {"query": query.strip(), "fields": list(fields.messages),
                                            "default_operator": "and"}})
    return {"bool": {"filter": flt}}


def search_body(bool_query: dict[str, Any], fields: LogFields, limit: int) -> dict[str, Any]:
    return {
        "size": limit,
        "query": bool_query,
        "sort": [{fields.timestamp: {"order": "desc"}}],
        "track_total_hits": True,
        "_source": [fields.timestamp, *fields.messages, fields.level, fields.namespace.removesuffix(".keyword"),
                    fields.pod.removesuffix(".keyword"), fields.container.removesuffix(".keyword")],
    }


# Histogram steps that read well on a timeline.
_STEPS = (("1m", 60), ("2m", 120), ("5m", 300), ("10m", 600), ("15m", 900), ("30m", 1800), ("1h", 3600),
          ("3h", 10800), ("6h", 21600), ("12h", 43200), ("1d", 86400))


def histogram_interval(start: datetime, end: datetime, target_buckets: int = 20) -> tuple[str, int]:
    span = (end - start).total_seconds()
    for name, secs in _STEPS:
        if span / secs <= target_buckets:
            return name, secs
    return _STEPS[-1]


def aggregation_body(bool_query: dict[str, Any], fields: LogFields, *, start: datetime, end: datetime,
                     top: int, with_messages: bool = True) -> dict[str, Any]:
    interval, _ = histogram_interval(start, end)
    errors = level_query("error", fields)
    aggs: dict[str, Any] = {
        "by_pod": {"terms": {"field": fields.pod, "size": top}},
        "by_level": {"terms": {"field": fields.level, "size": 10}},
        "errors": {
            "filter": errors,
            "aggs": {
                "over_time": {"date_histogram": {
                    "field": fields.timestamp, "fixed_interval": interval, "min_doc_count": 0,
                    "extended_bounds": {"min": iso(start), "max": iso(end)}}},
                "by_pod": {"terms": {"field": fields.pod, "size": top}},
            },
        },
    }
    if with_messages:
        for i, kw in enumerate(fields.message_keywords):
            # Over-fetch: buckets differing only in ids are folded into templates afterwards.
            aggs[f"top_messages_{i}"] = {"terms": {"field": kw, "size": min(200, max(50, top * 5))}}
    return {"size": 0, "query": bool_query, "track_total_hits": True, "aggs": aggs}
