"""Where the optional external datasets live, and what to say when they are missing.

They are public data the project did not write (Loghub samples, other projects' Slack, Teams and
Alertmanager payloads), kept outside the repository in `../shared/datasets` beside the checkout or
wherever CHATOPS_DATASETS points. Shared by the benchmarks and tests/support.py, so both look in
the same place and name the same sources.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = Path(os.environ.get("CHATOPS_DATASETS") or REPO.parent / "shared" / "datasets")
REQUIRE_VAR = "CHATOPS_REQUIRE_DATASETS"

# Top-level folder -> how to get it ({dest}: that folder under ROOT).
SOURCES = {
    "loghub": "git clone https://github.com/logpai/loghub {dest} (research/academic licence: keep its LICENSE, "
              "cite the Loghub papers)",
    "loghub-2.0": "git clone https://github.com/logpai/loghub-2.0 {dest} (research/academic licence)",
    "alertmanager": "copy alert/testdata/ of prometheus-msteams/prometheus-msteams to {dest}/prometheus-msteams/alert/testdata/",
    "holmesgpt": "git clone https://github.com/robusta-dev/holmesgpt {dest} (uses tests/llm/fixtures/test_investigate)",
    "slack": "copy the test payloads of slackapi/bolt-python and slackapi/java-slack-sdk to {dest}",
    "teams": "copy the test activities of microsoft/botbuilder-js and microsoft/teams.net to {dest}",
    "drain3": "copy examples/drain3.ini of logpai/Drain3 to {dest}/examples/drain3.ini (MIT)",
}


def required() -> bool:
    """CHATOPS_REQUIRE_DATASETS=1 (set by .ci/run when the data are there) turns a missing dataset into a
    failure; CI alone does not, since the data live outside the repository."""
    return os.environ.get(REQUIRE_VAR, "").strip().lower() in ("1", "true", "yes")


def missing(path: Path) -> str:
    """One line naming the missing path, its source and how to point at a copy."""
    try:
        top = path.relative_to(ROOT).parts[0]
    except (ValueError, IndexError):
        top = ""
    how = SOURCES.get(top, "see the README of the datasets folder ({dest})").format(dest=ROOT / top)
    return f"external dataset missing: {path}; to get it: {how}; or set CHATOPS_DATASETS to a folder that has it"


def require(*parts: str) -> Path:
    """For benchmarks: the dataset path, or exit 2 with where to get it (never a traceback)."""
    path = ROOT.joinpath(*parts)
    if not path.exists():
        print(f"{Path(sys.argv[0]).name}: {missing(path)}", file=sys.stderr)
        raise SystemExit(2)
    return path
