"""Small helpers that turn raw Kubernetes objects into compact, model-readable fields."""
from __future__ import annotations

from datetime import datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def ago(value: Any, now: datetime) -> str | None:
    """'12m ago' style age for a Kubernetes timestamp; None when absent or unparsable."""
    ts = parse_time(value)
    if ts is None:
        return None
    secs = int((now - ts).total_seconds())
    if secs < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def prune(d: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values so healthy objects stay short."""
    return {k: v for k, v in d.items() if not (v is None or v is False or (isinstance(v, (str, list, dict)) and not v))}


def conditions(raw: list[dict[str, Any]] | None, healthy: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Compact condition list; `healthy` maps condition type to its good status so that good
    conditions shrink to {type, status} and bad ones keep reason, message and transition time."""
    out = []
    for c in raw or []:
        ctype, status = c.get("type"), c.get("status")
        good = (healthy or {}).get(ctype, "True") == status
        item: dict[str, Any] = {"type": ctype, "status": status}
        if not good:
            item.update(prune({"reason": c.get("reason"), "message": short(c.get("message")),
                               "since": c.get("lastTransitionTime") or c.get("lastUpdateTime")}))
        out.append(item)
    return out


def owner(meta: dict[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller", True):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


def owner_uid(meta: dict[str, Any], kind: str) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return ref.get("uid")
    return None


def images(pod_spec: dict[str, Any] | None) -> dict[str, str]:
    return {c.get("name", "?"): c.get("image", "?") for c in (pod_spec or {}).get("containers") or []}


def resources(container: dict[str, Any]) -> dict[str, Any]:
    res = container.get("resources") or {}
    return prune({"requests": res.get("requests"), "limits": res.get("limits")})


def short(text: Any, limit: int = 300) -> Any:
    if isinstance(text, str) and len(text) > limit:
        return text[:limit] + "…"
    return text



def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
