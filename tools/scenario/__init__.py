"""Incident scenario bundles (format v1): loading for engines, ground truth for evaluation, validation."""
from tools.scenario.bundle import (ACTIONS, CATEGORIES, Scenario, ScenarioError, iter_scenarios, iter_sets,
                                   load_expected, load_scenario)

__all__ = ["ACTIONS", "CATEGORIES", "Scenario", "ScenarioError", "iter_scenarios", "iter_sets", "load_expected",
           "load_scenario"]
