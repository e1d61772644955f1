"""OpenSearch log tools and a loopback fake OpenSearch for scenarios and tests.

Exports resolve lazily so the fake server can be imported without pulling in the
tools' dependencies (template mining), and vice versa.
"""
from __future__ import annotations

from typing import Any

_EXPORTS = {
    "opensearch_tools": "tools.opensearch.tools",
    "make_client": "tools.opensearch.tools",
    "describe_error": "tools.opensearch.tools",
    "LogFields": "tools.opensearch.queries",
    "FakeOpenSearch": "tools.opensearch.fake_api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tools.opensearch' has no attribute {name!r}")
