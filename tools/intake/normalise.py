"""Value normalisation shared by every intake parser: severity, status, time, labels, fingerprints.

Everything here is total: any input (None, numbers, nested junk) maps to a value or None, never an
exception, because intake runs on whatever a webhook or chat channel throws at the bot.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

from tools.storable import storable

# Work bounds. Regexes only ever see MAX_TEXT characters; a chat message yields at most MAX_ALERTS
# alerts (the rest are counted in AlertGroup.truncated_alerts; JSON webhooks keep every alert, their
# body size is the bound); label maps keep at most MAX_LABELS entries, values MAX_LABEL_VALUE
# characters with a visible marker where cut.
MAX_TEXT = 20_000
MAX_ALERTS = 200
MAX_LABELS = 100
MAX_LABEL_VALUE = 1_000
MAX_KEY = 120

Severity = Literal["critical", "warning", "info", "unknown"]

_SEVERITY: dict[str, str] = {}
for _word in ("p1", "p2", "critical", "crit", "error", "err", "page", "high", "fatal", "emergency",
              "disaster", "sev1", "sev2", "sev-1", "sev-2", "s1", "s2", "major"):
    _SEVERITY[_word] = "critical"
for _word in ("p3", "warning", "warn", "medium", "moderate", "average", "sev3", "sev-3", "s3", "minor"):
    _SEVERITY[_word] = "warning"
for _word in ("info", "informational", "information", "low", "p4", "p5", "debug", "none", "notice",
              "ok", "sev4", "sev5", "sev-4", "sev-5", "s4", "s5"):
    _SEVERITY[_word] = "info"


def normalise_severity(value: Any) -> str:
    """Map any severity/priority/urgency spelling to critical|warning|info|unknown."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return "unknown"
    word = str(value).strip().strip("`*_[]()").lower()[:40]
    return _SEVERITY.get(word, "unknown")


_FIRING = {"firing", "active", "triggered", "trigger", "re-triggered", "retriggered", "alerting", "alert",
           "problem", "open", "acknowledged", "warn", "no data", "nodata", "pending", "suppressed",
           "unprocessed", "escalated"}
_RESOLVED = {"resolved", "ok", "recovered", "inactive", "closed", "normal", "cleared", "recovery"}


def normalise_status(value: Any) -> Literal["firing", "resolved"] | None:
    """firing|resolved, or None when the value says nothing (caller picks the fallback)."""
    if isinstance(value, dict):  # Alertmanager API v2: {"state": "active", "silencedBy": [...]}
        value = value.get("state")
    if isinstance(value, bool):  # Robusta findings: "firing": true
        return "firing" if value else "resolved"
    if not isinstance(value, str):
        return None
    word = value.strip().lower()[:40]
    if word in _FIRING:
        return "firing"
    if word in _RESOLVED:
        return "resolved"
    return None


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 (with nanoseconds, space separator, Z) or epoch seconds/millis → aware UTC datetime.

    Alertmanager's zero time 0001-01-01T00:00:00Z means "unset" and maps to None.
    """
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            ts = float(value)
            if ts > 1e11:  # milliseconds
                ts /= 1000.0
            if ts <= 0:
                return None
            return datetime.fromtimestamp(ts, tz=timezone.utc)
        if not isinstance(value, str) or not (8 <= len(value) <= 64):
            return None
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # nanoseconds → microseconds
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        if dt.year <= 1:
            return None
        return dt.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def safe_text(value: str) -> str:
    """Drop NUL and lone surrogates (broken JSON escapes): no database or encoder chokes later."""
    return storable(value)


def to_str(value: Any, limit: int = MAX_LABEL_VALUE) -> str:
    """A bounded string; a cut value ends with a visible marker (tools.storable)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return storable(value, limit)
    if isinstance(value, (int, float, bool)):
        return str(value)
    return storable(str(value), limit) if not isinstance(value, (dict, list)) else ""


def str_map(value: Any) -> dict[str, str]:
    """Coerce a label/annotation map: string keys and values, bounded; nested values are dropped."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if len(out) >= MAX_LABELS:
            break
        if not isinstance(k, str) or not k or len(k) > MAX_KEY:
            continue
        if isinstance(v, (dict, list)) or v is None:
            continue
        out[safe_text(k)] = to_str(v)
    return out


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's own fingerprint: 64-bit FNV-1a over sorted name, 0xff, value, 0xff.

    Same function as prometheus/common model.LabelSet.Fingerprint, so an alert copied into Slack or
    Teams with its full label set gets the same fingerprint as the webhook that carried it.
    """
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name.encode("utf-8", "replace"), b"\xff", labels[name].encode("utf-8", "replace"), b"\xff"):
            for byte in part:
                h ^= byte
                h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    return text[:limit] if isinstance(text, str) else ""


def bounded_copy(obj: Any, *, depth: int = 12, items: int = 200, nodes: int = 20_000) -> Any:
    """JSON-safe copy of a raw payload with depth, width, node and string-size limits.

    Alert.raw is stored and logged; this keeps a hostile 5 MB or 10,000-deep event from riding
    along, and replaces values JSON cannot carry (lone surrogates, NaN, non-JSON types).
    """
    budget = [nodes]

    def walk(o: Any, level: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return "…"
        if isinstance(o, str):
            return safe_text(o[:MAX_TEXT])
        if isinstance(o, bool) or o is None or isinstance(o, int):
            return o
        if isinstance(o, float):
            return o if o == o and o not in (float("inf"), float("-inf")) else None
        if level >= depth:
            return "…"
        if isinstance(o, dict):
            return {safe_text(str(k)[:MAX_KEY]): walk(v, level + 1) for k, v in list(o.items())[:items]}
        if isinstance(o, (list, tuple)):
            return [walk(v, level + 1) for v in o[:items]]
        return safe_text(str(o)[:200])

    return walk(obj, 0)
