"""Helpers shared by tests: free ports, binary discovery, CI-strict skipping, optional datasets."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench import datasets

REPO = Path(__file__).resolve().parent.parent
DATASETS = datasets.ROOT
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A child process's environment: this checkout's code first on PYTHONPATH (an editable install may
    point at another copy), a fresh DATA_DIR, no kubeconfig, and none of the caller's bot settings."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "TEAMS_", "ALERTMANAGER_", "DATABASE_URL", "ANTHROPIC_", "APPROVERS_", "AGENT_ENGINE",
                                 "RISK_OVERRIDES", "LOG_LEVEL", "KUBECONFIG", "PROMETHEUS_URL", "OPENSEARCH_URL"))}
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**keep, "PYTHONPATH": path, "DATA_DIR": str(tmp_path / "data"),
            "KUBECONFIG": str(tmp_path / "no-kubeconfig"), **extra}


def run_chatops(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The real `chatops` CLI as a process in tmp_path (text output captured)."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env=process_env(tmp_path, **env), cwd=tmp_path, timeout=240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(condition: bool, reason: str, *, required: bool = IN_CI, why: str = "in CI") -> None:
    """Skip locally when a real component is missing; where it is required (binaries: in CI) it is a failure."""
    if condition:
        return
    if required:
        pytest.fail(f"required {why}: {reason}")
    pytest.skip(reason)


def require_binary(name: str, extra_dirs: tuple[str, ...] = ()) -> str:
    path = shutil.which(name, path=os.pathsep.join([*extra_dirs, os.environ.get("PATH", "")]))
    need(path is not None, f"{name} not installed (apt-get install the Debian package; .ci/run does)")
    return path  # type: ignore[return-value]


def dataset(*parts: str) -> Path:
    """An external dataset path. The data live outside the repository, so a bare clone skips these tests
    even in CI; CHATOPS_REQUIRE_DATASETS=1 (.ci/run sets it when the data are there) makes them required.
    Call it in the test body or a fixture, never inside a server handler, where a skip becomes an error."""
    p = DATASETS.joinpath(*parts)
    need(p.exists(), datasets.missing(p), required=datasets.required(), why=f"({datasets.REQUIRE_VAR}=1)")
    return p


def check_golden(path: Path, got: object) -> None:
    """`got` must equal the JSON golden file at `path`; UPDATE_GOLDENS=1 rewrites the file first
    (after an intended change: review the diff before committing it)."""
    if os.environ.get("UPDATE_GOLDENS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert path.exists(), f"missing golden {path}; run with UPDATE_GOLDENS=1"
    assert got == json.loads(path.read_text()), f"{path.name} differs from {path} (UPDATE_GOLDENS=1 if intended)"
