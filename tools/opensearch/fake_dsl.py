"""In-memory evaluation of the OpenSearch query DSL subset our log tools emit.

Anything outside the subset raises DslError, which the fake server turns into a
real-shaped 400: a scenario must fail loudly rather than get a silently wrong answer.
Fields are treated as keyword (exact) for term/terms/aggregations and as analysed
text for match/match_phrase/simple_query_string, except the configured text fields
(log/message), which behave like OpenSearch's dynamic mapping: text with a .keyword
subfield, so term queries see tokens and terms aggregations on them fail with the
real fielddata error.
"""
from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

_TOKEN = re.compile(r"\w+(?:[.']\w+)*", re.UNICODE)
_MISSING = object()


class DslError(Exception):
    def __init__(self, reason: str, type_: str = "parsing_exception", status: int = 400):
        super().__init__(reason)
        self.reason, self.type, self.status = reason, type_, status

    def body(self) -> dict[str, Any]:
        cause = {"type": self.type, "reason": self.reason}
        if self.type == "illegal_argument_exception":
            # Aggregation failures surface wrapped, as in a real multi-shard search.
            return {"error": {"root_cause": [cause], "type": "search_phase_execution_exception",
                              "reason": "all shards failed", "phase": "query", "grouped": True,
                              "failed_shards": [{"shard": 0, "index": "", "reason": cause}],
                              "caused_by": cause}, "status": self.status}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def analyze(text: Any) -> list[str]:
    """Roughly the standard analyzer: word tokens, lowercased."""
    return list(_analyze(str(text)))


# Every query re-reads the same stored documents (a diagnosis runs dozens over one index), so a
# document's tokens and timestamps are worked out once, not once per query and clause.
@functools.lru_cache(maxsize=1 << 16)
def _analyze(text: str) -> tuple[str, ...]:
    return tuple(t.lower() for t in _TOKEN.findall(text))


@functools.lru_cache(maxsize=1 << 16)
def _analyzed(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The tokens in order (phrases, prefixes) and as a set (word lookups)."""
    toks = _analyze(text)
    return toks, frozenset(toks)


def parse_ts(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    if not isinstance(value, str):
        return None
    return _parse_ts(value)


@functools.lru_cache(maxsize=1 << 16)
def _parse_ts(value: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def iso_ms(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Mapping:
    text_fields: frozenset[str] = frozenset({"log", "message"})

    def resolve(self, field: str) -> tuple[str, bool]:
        """(source path, is analysed text) for a field name as written in a query."""
        if field.endswith(".keyword"):
            return field[: -len(".keyword")], False
        return field, field in self.text_fields


def get_values(doc: dict[str, Any], path: str) -> list[Any]:
    """All values at a dotted path; accepts nested objects, flattened keys and arrays."""
    if path in doc:
        v = doc[path]
        return [x for x in (v if isinstance(v, list) else [v]) if x is not None]
    out: list[Any] = []
    head, _, rest = path.partition(".")
    while rest:
        node = doc.get(head)
        if isinstance(node, dict):
            out.extend(get_values(node, rest))
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, dict):
                    out.extend(get_values(item, rest))
        nxt, _, rest = rest.partition(".")
        head = f"{head}.{nxt}"
    return out


def _eq(doc_value: Any, wanted: Any) -> bool:
    if isinstance(doc_value, bool) or isinstance(wanted, bool):
        return str(doc_value).lower() == str(wanted).lower()
    if isinstance(doc_value, (int, float)) and not isinstance(wanted, str):
        return doc_value == wanted
    return str(doc_value) == str(wanted)


def _single(clause: Any, name: str) -> tuple[str, Any]:
    if not isinstance(clause, dict) or len(clause) != 1:
        raise DslError(f"[{name}] query malformed, expected a single field")
    return next(iter(clause.items()))


def _check_keys(obj: dict[str, Any], allowed: set[str], name: str) -> None:
    for k in obj:
        if k not in allowed:
            raise DslError(f"[{name}] query does not support [{k}]")


class Evaluator:
    def __init__(self, mapping: Mapping | None = None):
        self.mapping = mapping or Mapping()

    # ---- queries -------------------------------------------------------------------------------
    def compile(self, query: dict[str, Any] | None) -> Callable[[dict[str, Any]], bool]:
        if query is None:
            return lambda d: True
        if not isinstance(query, dict) or len(query) != 1:
            raise DslError("query malformed, must start with a single query name")
        (kind, body), = query.items()
        handler = getattr(self, f"_q_{kind}", None)
        if handler is None:
            raise DslError(f"unknown query [{kind}] (not supported by the fake OpenSearch)")
        return handler(body)

    def _q_match_all(self, body: Any) -> Callable:
        return lambda d: True

    def _q_match_none(self, body: Any) -> Callable:
        return lambda d: False

    def _q_bool(self, body: dict[str, Any]) -> Callable:
        _check_keys(body, {"must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name"}, "bool")

        def clauses(key: str) -> list[Callable]:
            v = body.get(key, [])
            return [self.compile(c) for c in (v if isinstance(v, list) else [v])]

        must = clauses("must") + clauses("filter")
        should, must_not = clauses("should"), clauses("must_not")
        msm = body.get("minimum_should_match")
        if msm is None:
            needed = 0 if must else (1 if should else 0)
        else:
            try:
                needed = int(str(msm))
            except ValueError:
                raise DslError(f"minimum_should_match [{msm}] not supported by the fake OpenSearch") from None
            needed = needed if needed >= 0 else max(0, len(should) + needed)

        def run(d: dict[str, Any]) -> bool:
            if not all(c(d) for c in must) or any(c(d) for c in must_not):
                return False
            return needed == 0 or sum(1 for c in should if c(d)) >= needed
        return run

    def _term_value(self, spec: Any, name: str) -> Any:
        if isinstance(spec, dict):
            _check_keys(spec, {"value", "boost", "case_insensitive", "_name"}, name)
            if "value" not in spec:
                raise DslError(f"[{name}] query does not have a value")
            return spec["value"], bool(spec.get("case_insensitive"))
        return spec, False

    def _matcher(self, field: str, values: list[Any], ci: bool) -> Callable:
        path, text = self.mapping.resolve(field)
        if text:  # term on analysed text compares against tokens, exactly like the real thing
            wanted = {str(v) for v in values}
            return lambda d: any(t in wanted for v in get_values(d, path) for t in analyze(v))
        if ci:
            low = {str(v).lower() for v in values}
            return lambda d: any(str(v).lower() in low for v in get_values(d, path))
        return lambda d: any(_eq(v, w) for v in get_values(d, path) for w in values)

    def _q_term(self, body: dict[str, Any]) -> Callable:
        field, spec = _single(body, "term")
        value, ci = self._term_value(spec, "term")
        return self._matcher(field, [value], ci)

    def _q_terms(self, body: dict[str, Any]) -> Callable:
        fields = {k: v for k, v in body.items() if k not in ("boost", "_name")}
        field, values = _single(fields, "terms")
        if not isinstance(values, list):
            raise DslError("[terms] query requires an array of values (terms lookup is not supported)")
        return self._matcher(field, values, False)

    def _q_exists(self, body: dict[str, Any]) -> Callable:
        _check_keys(body, {"field", "boost", "_name"}, "exists")
        path, _ = self.mapping.resolve(str(body.get("field", "")))
        return lambda d: any(v not in ("", []) for v in get_values(d, path))

    def _q_match(self, body: dict[str, Any]) -> Callable:
        field, spec = _single(body, "match")
        if isinstance(spec, dict):
            _check_keys(spec, {"query", "operator", "boost", "_name", "lenient"}, "match")
            text, op = spec.get("query", ""), str(spec.get("operator", "or")).lower()
        else:
            text, op = spec, "or"
        path, analysed = self.mapping.resolve(field)
        if not analysed:  # match on a keyword field is an exact match
            return lambda d: any(_eq(v, text) for v in get_values(d, path))
        tokens = set(analyze(text))
        combine = all if op == "and" else any
        if not tokens:
            return lambda d: False
        return lambda d: any(combine(t in doc_tokens for t in tokens)
                             for doc_tokens in (set(analyze(v)) for v in get_values(d, path)))

    def _q_match_phrase(self, body: dict[str, Any]) -> Callable:
        field, spec = _single(body, "match_phrase")
        if isinstance(spec, dict):
            _check_keys(spec, {"query", "boost", "_name"}, "match_phrase")
            spec = spec.get("query", "")
        path, _ = self.mapping.resolve(field)
        return lambda d: any(_phrase_in(analyze(spec), analyze(v)) for v in get_values(d, path))

    def _q_simple_query_string(self, body: dict[str, Any]) -> Callable:
        _check_keys(body, {"query", "fields", "default_operator", "lenient", "analyze_wildcard", "boost",
                           "_name"}, "simple_query_string")
        fields = [f.split("^")[0] for f in body.get("fields") or sorted(self.mapping.text_fields)]
        paths = [self.mapping.resolve(f)[0] for f in fields]
        groups = _parse_sqs(str(body.get("query", "")))
        and_op = str(body.get("default_operator", "or")).lower() == "and"

        def text_tokens(d: dict[str, Any]) -> list[tuple[tuple[str, ...], frozenset[str]]]:
            return [_analyzed(str(v)) for p in paths for v in get_values(d, p)]

        def clause_hits(clause: tuple[str, tuple[str, ...], bool],
                        docs: list[tuple[tuple[str, ...], frozenset[str]]]) -> bool:
            kind, toks, prefix = clause
            if kind == "phrase":
                return any(_phrase_in(toks, dt) for dt, _ in docs)
            if prefix:
                return any(any(t.startswith(toks[0]) for t in dt) for dt, _ in docs)
            return any(all(t in dset for t in toks) for _, dset in docs)

        # Each group's clauses by sign, sorted once per query rather than once per document.
        split = [tuple([(kind, tuple(toks), prefix) for sign, (kind, toks, prefix) in g if keep(sign)]
                       for keep in (lambda x: x >= 0, lambda x: x == 1, lambda x: x < 0, lambda x: x == 0))
                 for g in groups]

        def run(d: dict[str, Any]) -> bool:
            docs = text_tokens(d)
            for pos, req, neg, optional in split:
                if any(clause_hits(c, docs) for c in neg):
                    continue
                if not all(clause_hits(c, docs) for c in req):
                    continue
                if and_op and all(clause_hits(c, docs) for c in optional):
                    return True
                if not and_op and (any(clause_hits(c, docs) for c in optional) or (not optional and pos)):
                    return True
                if not pos and neg:
                    return True  # a purely negative group matches everything else
            return False
        return run

    def _q_range(self, body: dict[str, Any]) -> Callable:
        field, spec = _single(body, "range")
        if not isinstance(spec, dict):
            raise DslError("[range] query malformed")
        _check_keys(spec, {"gte", "gt", "lte", "lt", "format", "boost", "time_zone", "_name"}, "range")
        if spec.get("time_zone") not in (None, "Z", "UTC", "+00:00"):
            raise DslError("[range] time_zone other than UTC is not supported by the fake OpenSearch")
        path, _ = self.mapping.resolve(field)
        bounds: list[tuple[str, Any]] = []
        for op in ("gte", "gt", "lte", "lt"):
            if spec.get(op) is None:
                continue
            raw = spec[op]
            if isinstance(raw, str) and raw.startswith("now"):
                raise DslError("date math [now...] is not supported by the fake OpenSearch; send absolute times")
            bounds.append((op, raw))

        def cmp(v: Any, op: str, raw: Any) -> bool:
            dv, bv = parse_ts(v), parse_ts(raw)   # both cached for strings: the same bounds and stamps
            if isinstance(v, str) and dv is not None and bv is not None:
                a, b = dv, bv
            elif isinstance(v, (int, float)) and not isinstance(raw, str):
                a, b = v, raw
            elif dv is not None and bv is not None:
                a, b = dv, bv
            else:
                a, b = str(v), str(raw)
            return {"gte": a >= b, "gt": a > b, "lte": a <= b, "lt": a < b}[op]

        return lambda d: any(all(cmp(v, op, raw) for op, raw in bounds) for v in get_values(d, path))

    # ---- aggregations --------------------------------------------------------------------------
    def aggregate(self, aggs: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not isinstance(aggs, dict):
            raise DslError("aggregations must be an object")
        for name, spec in aggs.items():
            if not isinstance(spec, dict):
                raise DslError(f"aggregation [{name}] malformed")
            sub = spec.get("aggs", spec.get("aggregations"))
            kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
            if len(kinds) != 1:
                raise DslError(f"aggregation [{name}] must have exactly one type, found {kinds}")
            kind = kinds[0]
            handler = getattr(self, f"_a_{kind}", None)
            if handler is None:
                raise DslError(f"Unknown aggregation type [{kind}] (not supported by the fake OpenSearch)")
            out[name] = handler(spec[kind], docs, sub)
        return out

    def _sub(self, sub: Any, docs: list[dict[str, Any]]) -> dict[str, Any]:
        return self.aggregate(sub, docs) if sub else {}

    def _a_filter(self, spec: Any, docs: list[dict[str, Any]], sub: Any) -> dict[str, Any]:
        match = self.compile(spec)
        picked = [d for d in docs if match(d)]
        return {"doc_count": len(picked), **self._sub(sub, picked)}

    def _a_value_count(self, spec: Any, docs: list[dict[str, Any]], sub: Any) -> dict[str, Any]:
        path, _ = self.mapping.resolve(str(spec.get("field", "")))
        return {"value": sum(len(get_values(d, path)) for d in docs)}

    def _a_terms(self, spec: dict[str, Any], docs: list[dict[str, Any]], sub: Any) -> dict[str, Any]:
        _check_keys(spec, {"field", "size", "order", "min_doc_count", "missing", "shard_size"}, "terms")
        field = str(spec.get("field", ""))
        path, text = self.mapping.resolve(field)
        if text:
            raise DslError(
                "Text fields are not optimised for operations that require per-document field data like "
                "aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                f"field instead. Alternatively, set fielddata=true on [{field}] in order to load field data by "
                "uninverting the inverted index. Note that this can use significant memory.",
                "illegal_argument_exception")
        groups: dict[Any, list[dict[str, Any]]] = {}
        for d in docs:
            values = get_values(d, path)
            if not values and "missing" in spec:
                values = [spec["missing"]]
            for v in dict.fromkeys(str(x) if isinstance(x, (dict, list)) else x for x in values):
                groups.setdefault(v, []).append(d)
        order = spec.get("order", {"_count": "desc"})
        if isinstance(order, list):
            order = order[0] if order else {"_count": "desc"}
        (okey, odir), = order.items() if isinstance(order, dict) and len(order) == 1 else (("_count", "desc"),)
        if okey == "_count":
            # Ties broken by key ascending, as OpenSearch does.
            items = sorted(groups.items(), key=lambda kv: (-len(kv[1]) if odir == "desc" else len(kv[1]),
                                                           str(kv[0])))
        elif okey in ("_key", "_term"):
            items = sorted(groups.items(), key=lambda kv: str(kv[0]), reverse=odir == "desc")
        else:
            raise DslError(f"terms order on [{okey}] is not supported by the fake OpenSearch")
        items = [kv for kv in items if len(kv[1]) >= int(spec.get("min_doc_count", 1))]
        size = int(spec.get("size", 10))
        shown = items[:size]
        return {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": sum(len(v) for _, v in items[size:]),
            "buckets": [{"key": k, "doc_count": len(v), **self._sub(sub, v)} for k, v in shown],
        }

    def _a_date_histogram(self, spec: dict[str, Any], docs: list[dict[str, Any]], sub: Any) -> dict[str, Any]:
        _check_keys(spec, {"field", "fixed_interval", "calendar_interval", "interval", "min_doc_count",
                           "extended_bounds", "format", "time_zone", "order"}, "date_histogram")
        if spec.get("time_zone") not in (None, "Z", "UTC", "+00:00"):
            raise DslError("date_histogram time_zone other than UTC is not supported by the fake OpenSearch")
        raw = spec.get("fixed_interval") or spec.get("calendar_interval") or spec.get("interval")
        step = _interval_ms(raw)
        path, _ = self.mapping.resolve(str(spec.get("field", "")))
        groups: dict[int, list[dict[str, Any]]] = {}
        for d in docs:
            for v in get_values(d, path):
                ts = parse_ts(v)
                if ts is not None:
                    key = (epoch_ms(ts) // step) * step
                    groups.setdefault(key, []).append(d)
                    break
        min_count = int(spec.get("min_doc_count", 0))
        keys = set(groups)
        if min_count == 0:
            lo, hi = (min(keys), max(keys)) if keys else (None, None)
            bounds = spec.get("extended_bounds") or {}
            for edge, pick in (("min", min), ("max", max)):
                if edge in bounds:
                    ts = parse_ts(bounds[edge])
                    if ts is None:
                        raise DslError(f"failed to parse extended_bounds.{edge} [{bounds[edge]}]")
                    k = (epoch_ms(ts) // step) * step
                    lo = k if lo is None or edge == "min" and k < lo else lo
                    hi = k if hi is None or edge == "max" and k > hi else hi
            if lo is not None and hi is not None:
                keys = set(range(lo, hi + step, step)) | keys
        buckets = []
        for k in sorted(keys):
            members = groups.get(k, [])
            if len(members) < min_count:
                continue
            buckets.append({"key_as_string": iso_ms(k), "key": k, "doc_count": len(members),
                            **self._sub(sub, members)})
        return {"buckets": buckets}


def _interval_ms(raw: Any) -> int:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(raw or "").strip())
    named = {"second": "1s", "minute": "1m", "hour": "1h", "day": "1d"}
    if not m and str(raw) in named:
        m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", named[str(raw)])
    if not m or int(m.group(1)) <= 0:
        raise DslError(f"failed to parse interval [{raw}] (fake OpenSearch supports fixed units ms/s/m/h/d)",
                       "illegal_argument_exception")
    unit = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)]
    return int(m.group(1)) * unit


def _phrase_in(phrase: Sequence[str], tokens: Sequence[str]) -> bool:
    n = len(phrase)
    if n == 0 or phrase[0] not in tokens:   # most lines hold not even the first word
        return False
    return any(tokens[i:i + n] == phrase for i in range(len(tokens) - n + 1))


_SQS_UNSUPPORTED = re.compile(r"[()~]|(?<!\\)\*(?=\S)")


def _parse_sqs(query: str) -> list[list[tuple[int, tuple[str, list[str], bool]]]]:
    """simple_query_string subset: words, "phrases", +required, -excluded, trailing * prefix, a | b.

    Returns OR-groups of (sign, clause); sign 1 required, 0 optional, -1 excluded.
    """
    if _SQS_UNSUPPORTED.search(query.replace('"', " ")):
        raise DslError(f"simple_query_string [{query}] uses syntax the fake OpenSearch does not support "
                       "(grouping, fuzziness, slop or inner wildcards)")
    groups: list[list[tuple[int, tuple[str, list[str], bool]]]] = [[]]
    for m in re.finditer(r'\s*(\|)|\s*([+-]?)"([^"]*)"|\s*([+-]?)(\S+)', query):
        if m.group(1):
            groups.append([])
            continue
        if m.group(3) is not None:
            sign = {"+": 1, "-": -1}.get(m.group(2), 0)
            toks = analyze(m.group(3))
            if toks:
                groups[-1].append((sign, ("phrase", toks, False)))
            continue
        sign = {"+": 1, "-": -1}.get(m.group(4), 0)
        word = m.group(5)
        prefix = word.endswith("*")
        toks = analyze(word.rstrip("*"))
        if toks:
            groups[-1].append((sign, ("prefix" if prefix else "words", toks[:1] if prefix else toks, prefix)))
    return [g for g in groups if g] or [[]]


def sort_docs(docs: list[dict[str, Any]], sort: Any, mapping: Mapping) -> tuple[list[int], list[str] | None]:
    """Positions of `docs` in `sort` order, and the sorted field paths (for the hits' sort values)."""
    order_idx = list(range(len(docs)))
    if sort is None:
        return order_idx, None
    specs = sort if isinstance(sort, list) else [sort]
    keys: list[tuple[str, str]] = []
    for s in specs:
        if isinstance(s, str):
            keys.append((s, "desc" if s == "_score" else "asc"))
        elif isinstance(s, dict) and len(s) == 1:
            (f, o), = s.items()
            if isinstance(o, dict):
                _check_keys(o, {"order", "unmapped_type", "format"}, "sort")
            order = o.get("order", "asc") if isinstance(o, dict) else o
            keys.append((f, str(order).lower()))
        else:
            raise DslError(f"malformed sort [{s}]")
    fields: list[str] = []
    # Stable sorts applied from the last key to the first give a multi-key sort.
    for field, order in reversed(keys):
        if field in ("_score", "_doc"):
            continue
        path, text = mapping.resolve(field)
        if text:
            raise DslError(f"Text fields are not optimised for operations that require per-document field data "
                           f"like aggregations and sorting [{field}]", "illegal_argument_exception")
        present = [i for i in order_idx if get_values(docs[i], path)]
        missing = [i for i in order_idx if not get_values(docs[i], path)]
        present.sort(key=lambda i, p=path: _sort_key(get_values(docs[i], p)[0]), reverse=order == "desc")
        order_idx = present + missing  # missing values sort last either way, like OpenSearch's default
        fields.insert(0, path)
    return order_idx, fields


def _sort_key(value: Any) -> Any:
    ts = parse_ts(value) if isinstance(value, str) else None
    return epoch_ms(ts) if ts else value


def sort_values(doc: dict[str, Any], fields: list[str]) -> list[Any]:
    vals = []
    for f in fields:
        v = get_values(doc, f)
        ts = parse_ts(v[0]) if v and isinstance(v[0], str) else None
        vals.append(epoch_ms(ts) if ts else (v[0] if v else None))
    return vals


def filter_source(doc: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    """_source filtering: true/false, a list of dotted includes (with * wildcards), or {includes, excludes}."""
    if spec is None or spec is True:
        return doc
    if spec is False:
        return None
    includes: Iterable[str] = spec if isinstance(spec, list) else (
        [spec] if isinstance(spec, str) else (spec.get("includes") or ["*"]) if isinstance(spec, dict) else ["*"])
    excludes = spec.get("excludes", []) if isinstance(spec, dict) else []
    flat = _flatten(doc)
    inc, exc = tuple(includes), tuple(excludes)
    keep = {k: v for k, v in flat.items() if _source_kept(k, inc, exc)}
    return _unflatten(keep, doc)


@functools.lru_cache(maxsize=4096)  # a few field names, asked once per returned document
def _source_kept(key: str, includes: tuple[str, ...], excludes: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) or key.startswith(p + ".") for p in includes) \
        and not any(fnmatch.fnmatchcase(key, p) or key.startswith(p + ".") for p in excludes)


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _unflatten(flat: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the kept paths using the original nesting (flattened keys stay flattened)."""
    out: dict[str, Any] = {}
    for path in flat:
        src, dst, rest = original, out, path
        while True:
            if rest in src:
                dst[rest] = src[rest]
                break
            head = next((k for k in src if rest.startswith(k + ".") and isinstance(src[k], dict)), None)
            if head is None:
                break
            dst = dst.setdefault(head, {})
            src, rest = src[head], rest[len(head) + 1:]
    return out
