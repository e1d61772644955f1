"""Helpers shared by tests: free ports, binary discovery, CI-strict skipping."""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("CHATOPS_DATASETS", REPO.parent / "shared" / "datasets"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(condition: bool, reason: str) -> None:
    """Skip locally when a real component is missing; in CI a missing component is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def require_binary(name: str, extra_dirs: tuple[str, ...] = ()) -> str:
    path = shutil.which(name, path=os.pathsep.join([*extra_dirs, os.environ.get("PATH", "")]))
    need(path is not None, f"{name} not installed (apt-get install the Debian package; .ci/run does)")
    return path  # type: ignore[return-value]


def dataset(*parts: str) -> Path:
    p = DATASETS.joinpath(*parts)
    need(p.exists(), f"shared dataset missing: {p}")
    return p
