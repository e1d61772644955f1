"""Deterministic offline diagnosis engine (no model): gather, score every category, propose."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.offline.engine import OfflineEngine

__all__ = ["OfflineEngine"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): agents.scope uses agents.offline.scope on every process's start-up path, and
    # importing this package must not load the engine, and with it the Kubernetes and Prometheus SDKs.
    if name == "OfflineEngine":
        from agents.offline.engine import OfflineEngine

        return OfflineEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
