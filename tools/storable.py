"""Values every database we support can store: no NUL, no lone surrogates, bounded length.

PostgreSQL rejects NUL (\\x00) in text and JSON and a value longer than its VARCHAR(n) with a
DataError, where SQLite takes both silently; so a value that works in tests could block an
Alertmanager group in production. Intake parsers and the storage code both use this module, so
the rule lives in one place. A shortened value ends with a visible marker saying how much was cut.
"""
from __future__ import annotations

from typing import Any

MARK = "…[+{n} chars]"


def _plain(value: str) -> str:
    text = value.replace("\x00", "")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # lone surrogates from broken JSON escapes
        return text.encode("utf-8", "replace").decode("utf-8")


def storable(value: str, limit: int | None = None) -> str:
    """`value` without NUL or lone surrogates, at most `limit` characters, the cut marked.

    Limits too small to hold a marker and some text (a severity column) are cut plainly.
    """
    text = _plain(value)
    if limit is None or len(text) <= limit:
        return text
    mark = MARK.format(n=len(text) - limit)
    for _ in range(2):  # the marker's own length changes how much must go
        mark = MARK.format(n=len(text) - (limit - len(mark)))
    keep = limit - len(mark)
    return text[:keep] + mark if keep >= limit // 2 else text[:limit]


def storable_json(obj: Any) -> Any:
    """A JSON value with every string (keys included) made storable; lengths are the caller's."""
    if isinstance(obj, str):
        return _plain(obj)
    if isinstance(obj, dict):
        return {storable_json(k) if isinstance(k, str) else k: storable_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [storable_json(v) for v in obj]
    return obj


def fit_row(model: Any, **values: Any) -> dict[str, Any]:
    """Column values for an ORM model, each made storable and bounded to its column's length."""
    columns = model.__table__.columns
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = storable(value, getattr(columns[name].type, "length", None))
        elif isinstance(value, (dict, list)):
            value = storable_json(value)
        out[name] = value
    return out
