"""Remediation action catalog: validated, dry-run, executed and verified through the official
Kubernetes client. The approval core (bot/remediation) codes against these names."""
from tools.actions.catalog import CATALOG, RISKS, ActionSpec
from tools.actions.executor import ActionExecutor
from tools.actions.requests import ActionOutcome, ActionRequest

__all__ = ["CATALOG", "RISKS", "ActionExecutor", "ActionOutcome", "ActionRequest", "ActionSpec"]
