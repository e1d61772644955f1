"""`chatops console --scenario` end to end: a script on stdin, a fresh DATA_DIR, nothing configured.

The alert arrives in #alerts, the workflow answers in its thread with numbered choices, approvals
follow the (console demo) policy and an approved action patches the scenario's fake Kubernetes API.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"
MEMORY_PATCH = "set resources of container cart in deployment shop/cart: memory limit from 512Mi to 768Mi"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APPROVERS_", "ANTHROPIC_", "DATABASE_URL", "RISK_OVERRIDES", "AGENT_ENGINE"))}
    env.update({"DATA_DIR": str(tmp_path / "data"), "KUBECONFIG": str(tmp_path / "no-kubeconfig"), **extra})
    return env


def _chatops(tmp_path: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          env=_env(tmp_path, **env), cwd=tmp_path, timeout=240)


def _console(tmp_path: Path, script: list[str], knowledge: bool = False, **env: str) -> str:
    flags = () if knowledge else ("--no-knowledge",)
    proc = _chatops(tmp_path, "console", "--scenario", str(BUNDLE), *flags, stdin="\n".join(script) + "\n", **env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def _after(out: str, command: str) -> str:
    """The transcript from the echo of `command` up to the next echoed command."""
    part = out.split(f"\n> {command}\n", 1)[1]
    return part.split("\n> ", 1)[0]


def _audit_rows(tmp_path: Path) -> list[dict]:
    proc = _chatops(tmp_path, "audit", "export")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_fresh_machine_without_prometheus_alert_diagnosis_and_approval(tmp_path):
    # No `prometheus` on PATH (only the interpreter's directory): the console must say so and go on.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = _console(tmp_path, ["/wait", "1", "/as alice", "1", "1", "/audit", "/diagnose", "/frobnicate"],
                   knowledge=True, PATH=str(bindir))
    assert f"knowledge: runbooks and past incidents from embedded Chroma in {tmp_path / 'data' / 'chroma'}" in out
    assert "(sqlite)" in out and (tmp_path / "data" / "chatops.db").exists()
    assert "metrics: Prometheus is not installed (apt-get install prometheus)" in out
    assert "continuing without metrics" in out
    assert "console:alice and console:bob may approve" in out

    # The alert is a root message in #alerts; the diagnosis is a reply in its thread.
    alert = re.search(r"^\[(\d+)\] #alerts · alertmanager: \[FIRING\] KubePodCrashLooping", out, re.M)
    assert alert, out[:2000]
    thread = alert.group(1)
    waited = _after(out, "/wait")
    assert re.search(rf"^  ↳ \[{thread}\] ✓ done: \d+ tool calls", waited, re.M)
    assert re.search(rf"^  ↳ \[{thread}\] Diagnosis: oom_killed\s+component: cart", waited, re.M)
    assert "prometheus: Prometheus is not installed" in waited  # the diagnosis says what it could not use
    assert f"[1] Approve {MEMORY_PATCH} (MEDIUM, needs 1 approval)  [2] Reject" in waited
    assert "[3] Right cause  [4] Wrong cause" in waited  # feedback on the diagnosis, after its proposals

    # console:you is not an approver; alice is, and her approval executes and verifies on the fake.
    assert "(only visible to you) console:you is not an allowed approver for MEDIUM actions" in _after(out, "1")
    executed = out.split("\n> /as alice\n", 1)[1].split("\n> 1\n")[1]
    assert f"alice approved; executed: done: {MEMORY_PATCH}" in executed
    assert "verified: deployment shop/cart rolled out" in executed
    assert "Undo available" in executed and "from 768Mi to 512Mi" in executed
    replay = out.split("\n> 1\n")[3].split("\n> ")[0]
    assert "this proposal is already succeeded" in replay
    assert re.search(r"audit chain OK: \d+ rows", _after(out, "/audit"))
    assert "Usage: `/diagnose <service | namespace/pod | alert text>`" in _after(out, "/diagnose")
    assert "Unknown command /frobnicate." in out and "/as NAME" in _after(out, "/frobnicate")

    # The audit log holds what was sent to the fake API server: the PATCH, then the verified rollout.
    done = [r for r in _audit_rows(tmp_path) if r["event"] == "proposal.succeeded"]
    assert len(done) == 1 and done[0]["actor"] == "console:alice"
    execute = done[0]["payload"]["result"]["execute"]["details"]
    assert execute["request"] == "PATCH /apis/apps/v1/namespaces/shop/deployments/cart"
    assert execute["after"]["limits"]["memory"] == "768Mi" and execute["before"]["limits"]["memory"] == "512Mi"
    assert done[0]["payload"]["result"]["verify"]["ok"] is True


def test_critical_needs_two_different_approvers(tmp_path):
    out = _console(tmp_path, ["/as alice", "/wait", "1", "1", "/as bob", "1"], RISK_OVERRIDES="shop=CRITICAL")
    assert f"[1] Approve {MEMORY_PATCH} (CRITICAL, 0/2 approvals, 2 more needed)" in out
    first, second, third = out.split("\n> 1\n")[1:]
    assert "approval recorded; 1 more needed" in first and "(CRITICAL, 1/2 approvals, 1 more needed)" in first
    assert "(only visible to alice) you already approved this; a second click counts once" in second
    assert "executed" not in second
    assert f"bob approved; executed: done: {MEMORY_PATCH}" in third
    rows = _audit_rows(tmp_path)
    approved = [r for r in rows if r["event"] == "proposal.approved"]
    assert approved and approved[0]["payload"]["approvers"] == ["console:alice", "console:bob"]
    assert [r["event"] for r in rows].count("approval.duplicate") == 1


def test_requester_cannot_approve_own_high_action(tmp_path):
    # The alert's proposal takes choices 1-2 and its feedback buttons 3-4; alice's /diagnose proposal
    # (requested by her) gets 5-6.
    out = _console(tmp_path, ["/wait", "/as alice", "/diagnose shop/cart", "/wait", "5", "/as bob", "5"],
                   RISK_OVERRIDES="shop=HIGH")
    investigated = _after(out, "/diagnose shop/cart")
    root = re.search(r"^\[(\d+)\] #ops · chatops: Investigating `shop/cart` \(requested by alice\)", investigated,
                     re.M)
    assert root, investigated
    own = out.split("\n> /as alice\n", 1)[1]
    assert re.search(rf"^  ↳ \[{root.group(1)}\] .*\n(.*\n)*?.*\[5\] Approve {re.escape(MEMORY_PATCH)} \(HIGH, "
                     r"needs 1 approval\)  \[6\] Reject", own, re.M)
    assert "requested by console:alice (may not approve it)" in own
    refused, approved = out.split("\n> 5\n")[1:]
    assert "you requested this HIGH action and cannot approve it yourself" in refused
    assert "executed" not in refused.split("\n> ")[0]
    assert f"bob approved; executed: done: {MEMORY_PATCH}" in approved
    denied = [r for r in _audit_rows(tmp_path) if r["event"] == "approval.denied"]
    assert [d["actor"] for d in denied] == ["console:alice"]


def test_in_process_console_patches_the_scenario_fake(tmp_path, monkeypatch, cli_env, capsys):
    """The fake Kubernetes API itself received the PATCH (not only the executor's report of it)."""
    from bot.cli import main
    from tools.k8s.fake_store import resource_for_kind as fake_resource
    from tools.scenario.backends import ScenarioBackends

    started: list[ScenarioBackends] = []
    real_start = ScenarioBackends.start

    def start(self):
        started.append(self)
        return real_start(self)

    monkeypatch.setattr(ScenarioBackends, "start", start)
    for name in ("APPROVERS_MEDIUM", "APPROVERS_HIGH", "APPROVERS_CRITICAL", "RISK_OVERRIDES", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    cli_env(None)
    script = tmp_path / "script.txt"
    script.write_text("/wait\n/as bob\n/click 1\n")
    assert main(["console", "--scenario", str(BUNDLE), "--no-knowledge", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert f"bob approved; executed: done: {MEMORY_PATCH}" in out
    fake = started[0].kube
    patches = [r for r in fake.requests if r["method"] == "PATCH"]
    real = [p for p in patches if not p["query"].get("dryRun")]
    assert len(real) == 1 and real[0]["path"] == "/apis/apps/v1/namespaces/shop/deployments/cart"
    assert patches[0]["query"].get("dryRun") == "All"  # proposing dry-ran it before anyone approved
    container = real[0]["body"]["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "cart" and container["resources"]["limits"]["memory"] == "768Mi"
    deployment = fake.store.get(fake_resource("Deployment"), "shop", "cart")
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "768Mi"  # the fake's state changed, and its controller rolled it out
    assert deployment["status"]["observedGeneration"] == deployment["metadata"]["generation"]
