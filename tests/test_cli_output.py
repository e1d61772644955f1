"""A command prints its own output: no library log lines at the default LOG_LEVEL (they come back
with DEBUG), a quiet exit when the reader of stdout goes away, and `--version`. All through the
real CLI as a process."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

from bot.settings import Settings
from tests.support import REPO, need, process_env, run_chatops

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"


def test_commands_print_only_their_own_output(tmp_path):
    expected = [(("db", "upgrade"), 1), (("db", "upgrade"), 1), (("audit", "verify"), 1),
                (("config",), len(Settings.model_fields))]
    for args, lines in expected:
        r = run_chatops(tmp_path, *args, LOG_LEVEL="INFO")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # was 6-8 alembic INFO lines per command
        assert len(r.stdout.splitlines()) == lines, r.stdout

    verbose = run_chatops(tmp_path, "db", "upgrade", LOG_LEVEL="DEBUG")
    assert verbose.returncode == 0 and "INFO alembic.runtime.migration: Context impl" in verbose.stderr


def test_diagnose_prints_only_the_diagnosis(tmp_path):
    from tools.prometheus.server import prometheus_binaries

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    r = run_chatops(tmp_path, "diagnose", "--scenario", str(BUNDLE), "--json", LOG_LEVEL="INFO")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # was one opensearch line per search and a Drain3 line per template miner
    assert json.loads(r.stdout)["category"]

    verbose = run_chatops(tmp_path, "diagnose", "--scenario", str(BUNDLE), "--json", "--no-knowledge",
                          LOG_LEVEL="DEBUG")
    assert verbose.returncode == 0, verbose.stderr
    # Library INFO lines do come back at DEBUG (Drain3's own miner wrapper is no longer used, so only
    # the client libraries speak).
    assert "INFO opensearch: POST" in verbose.stderr and "INFO alembic.runtime.migration" in verbose.stderr


def test_closed_stdout_exits_quietly_with_sigpipe_status(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, as with a fast `| head`
    try:
        r = subprocess.run([sys.executable, "-m", "bot.cli", "config"], stdout=write_end, stderr=subprocess.PIPE,
                           text=True, env=process_env(tmp_path), cwd=tmp_path, timeout=120)
    finally:
        os.close(write_end)
    assert (r.returncode, r.stderr) == (141, "")  # was exit 120 with "BrokenPipeError" on stderr


def test_piped_into_head(tmp_path):
    script = f"'{sys.executable}' -m bot.cli scenario check '{REPO / 'scenarios'}' | head -1"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True,
                       env=process_env(tmp_path), cwd=tmp_path, timeout=240)
    assert r.stderr == "" and len(r.stdout.splitlines()) == 1
    assert r.returncode in (0, 141)  # 141 when head left before the last write, as for any Unix tool


def test_version(tmp_path):
    r = run_chatops(tmp_path, "--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"chatops {importlib.metadata.version('chatops-incident-bot')}"


def test_stdout_gone_tells_a_closed_pipe_from_an_open_one(monkeypatch):
    from bot import cli

    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        assert cli._stdout_gone() is False  # someone still reads: a BrokenPipeError came from elsewhere
        os.close(read_end)
        assert cli._stdout_gone() is True
