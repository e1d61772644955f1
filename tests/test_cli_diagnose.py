"""`chatops diagnose` prints only JSON with --json, records the session, and `session show` prints it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import REPO, need

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"


def _run(tmp_path, *args, env_extra=None):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "AGENT_ENGINE": "auto"}
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("DATABASE_URL", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=180)


def test_diagnose_scenario_json_and_session_show(tmp_path):
    from tools.prometheus.server import prometheus_binaries

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    proc = _run(tmp_path, "diagnose", "--scenario", str(BUNDLE), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout is only the Diagnosis JSON
    assert set(doc) >= {"category", "component", "summary", "confidence", "evidence", "proposals", "unavailable_sources"}
    assert doc["evidence"] and 0 < doc["confidence"] < 1

    human = _run(tmp_path, "diagnose", "--scenario", str(BUNDLE), "--no-knowledge")
    assert human.returncode == 0, human.stderr
    session_id = human.stdout.strip().splitlines()[-1].split()[1]
    shown = _run(tmp_path, "session", "show", session_id)
    assert shown.returncode == 0, shown.stderr
    assert "engine offline" in shown.stdout and "prom_named" in shown.stdout and "k8s_pods" in shown.stdout
    assert _run(tmp_path, "audit", "verify").returncode == 0


def test_diagnose_bad_inputs_are_one_line_errors(tmp_path):
    proc = _run(tmp_path, "diagnose", "--scenario", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    proc = _run(tmp_path, "diagnose", "--alert", str(junk))
    assert proc.returncode == 2 and "not an alert" in proc.stderr
    proc = _run(tmp_path, "diagnose", "--text", "shop/cart", "--engine", "anthropic")
    assert proc.returncode == 2 and "ANTHROPIC_API_KEY" in proc.stderr
    proc = _run(tmp_path, "session", "show", "doesnotexist")
    assert proc.returncode == 2 and "no session" in proc.stderr


def test_diagnose_text_with_no_backends_names_unavailable_sources(tmp_path):
    proc = _run(tmp_path, "diagnose", "--text", "shop/cart", "--json", "--no-knowledge",
                env_extra={"KUBECONFIG": str(tmp_path / "missing-kubeconfig")})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["category"] == "unknown"
    joined = " ".join(doc["unavailable_sources"])
    assert "prometheus" in joined and "opensearch" in joined and "kubernetes" in joined
