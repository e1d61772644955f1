"""Remediation action catalog: validated, dry-run, executed and verified through the official
Kubernetes client. The approval core (bot/remediation) codes against these names."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.actions.catalog import CATALOG, RISKS, ActionSpec
from tools.actions.requests import ActionOutcome, ActionRequest

if TYPE_CHECKING:
    from tools.actions.executor import ActionExecutor

__all__ = ["CATALOG", "RISKS", "ActionExecutor", "ActionOutcome", "ActionRequest", "ActionSpec"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): the catalog is read on every process's start-up path (agents.scope), the
    # executor and with it the Kubernetes SDK only where actions run.
    if name == "ActionExecutor":
        from tools.actions.executor import ActionExecutor

        return ActionExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
