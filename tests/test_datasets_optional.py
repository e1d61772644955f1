"""The external datasets are optional: without them the tests that use them skip with the reason,
also on CI; CHATOPS_REQUIRE_DATASETS=1 makes them fail; .ci/run sets it only when the data are
there; the benchmarks say where to get the data instead of crashing."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.support import REPO, process_env

# A WebSocket handler that used to read a dataset payload (its skip became a 10 s timeout), and
# plain tests that read datasets.
DATASET_TESTS = ["tests/test_server_socket_mode.py", "tests/test_intake_alertmanager.py"]


def _pytest(tmp_path, **env: str) -> dict[str, list[str]]:
    """Run DATASET_TESTS in a child pytest with no datasets; outcome -> messages."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                        *DATASET_TESTS],
                       capture_output=True, text=True, cwd=REPO, timeout=300,
                       env=process_env(tmp_path, CHATOPS_DATASETS=str(tmp_path / "no-datasets"), **env))
    assert report.exists(), r.stdout + r.stderr
    out: dict[str, list[str]] = {"passed": [], "skipped": [], "failure": [], "error": []}
    for case in ET.parse(report).getroot().iter("testcase"):
        result = next((c for c in case if c.tag in ("skipped", "failure", "error")), None)
        out["passed" if result is None else result.tag].append("" if result is None else result.get("message", ""))
    return out


def test_missing_datasets_skip_with_the_reason_also_in_ci(tmp_path):
    for env in ({"CI": ""}, {"CI": "true"}):
        res = _pytest(tmp_path, CHATOPS_REQUIRE_DATASETS="", **env)
        assert res["failure"] == [] and res["error"] == [], (env, res)
        assert len(res["skipped"]) >= 5, res
        socket_mode = [m for m in res["skipped"] if "scenario_tests" in m]
        assert socket_mode, res["skipped"]  # the Socket Mode test skips instead of timing out
        for message in res["skipped"]:
            assert "external dataset missing" in message and "CHATOPS_DATASETS" in message, message
        assert any("github.com/robusta-dev/holmesgpt" in m for m in res["skipped"])


def test_require_datasets_makes_them_fail(tmp_path):
    res = _pytest(tmp_path, CHATOPS_REQUIRE_DATASETS="1", CI="")
    assert res["skipped"] == [] and len(res["failure"]) >= 5, res
    assert all("required (CHATOPS_REQUIRE_DATASETS=1): external dataset missing" in m for m in res["failure"])


def test_ci_run_requires_datasets_only_when_present(tmp_path):
    """.ci/run with stand-ins for apt-get, sudo and make (make reports what the tests would see)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("apt-get", "exit 0"), ("sudo", '"$@"'),
                       ("make", 'echo "require=${CHATOPS_REQUIRE_DATASETS:-} target=$*"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "data-here").mkdir()
    seen = {}
    for label, folder in (("present", tmp_path / "data-here"), ("absent", tmp_path / "data-missing")):
        env = process_env(tmp_path, CHATOPS_DATASETS=str(folder), PATH=f"{bin_dir}:/usr/bin:/bin")
        env.pop("CHATOPS_REQUIRE_DATASETS", None)
        r = subprocess.run(["bash", str(REPO / ".ci" / "run")], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        seen[label] = r.stdout.strip()
    assert seen == {"present": "require=1 target=test", "absent": "require= target=test"}


def test_benchmarks_say_where_to_get_missing_data(tmp_path):
    for script, source in (("logparse.py", "https://github.com/logpai/loghub"),
                           ("retrieval.py", "https://github.com/logpai/loghub")):
        r = subprocess.run([sys.executable, str(REPO / "bench" / script)], capture_output=True, text=True,
                           env=process_env(tmp_path, CHATOPS_DATASETS=str(tmp_path / "no-datasets")),
                           cwd=tmp_path, timeout=240)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"{script}: external dataset missing: {tmp_path / 'no-datasets' / 'loghub'}")
        assert source in r.stderr and r.stdout == ""
