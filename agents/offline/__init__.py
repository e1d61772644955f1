"""Deterministic offline diagnosis engine (no model): gather, score every category, propose."""
from agents.offline.engine import OfflineEngine

__all__ = ["OfflineEngine"]
