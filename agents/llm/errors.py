"""Why a model engine gave up: the session catches this and falls back to the offline engine."""
from __future__ import annotations


class EngineUnavailable(RuntimeError):
    """The model API cannot serve this session (retries exhausted, rejected key, bad request)."""

    def __init__(self, reason: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
