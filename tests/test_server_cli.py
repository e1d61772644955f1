"""`chatops serve` as a process: refuses bad settings in one line, serves health, readiness and a
signed /diagnose end to end (real Workflow, offline engine) into the fake Slack, stops on SIGTERM."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.slack_support import SIGNING_SECRET, sign, slash_body
from tests.support import free_port, process_env

CHANNEL = "C0SERVE01"


def env(tmp_path, **extra: str) -> dict[str, str]:
    return process_env(tmp_path, **{"AGENT_ENGINE": "offline", "LOG_LEVEL": "WARNING", **extra})


def chatops(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def test_serve_refuses_missing_slack_settings(tmp_path):
    r = subprocess.run(chatops("serve"), env=env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "chatops: error: SLACK_BOT_TOKEN is not set"
    r = subprocess.run(chatops("serve"), env=env(tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s",
                                                 SLACK_ALERTS_CHANNEL="C1"),
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "ALERTMANAGER_WEBHOOK_TOKEN" in r.stderr and "Traceback" not in r.stderr


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_serve_end_to_end_and_sigterm(tmp_path):
    port = free_port()
    with FakeSlack() as fake:
        fake.add_channel(CHANNEL)
        proc = subprocess.Popen(chatops("serve", "--port", str(port)), cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env=env(tmp_path, SLACK_BOT_TOKEN=DEFAULT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                                        SLACK_API_URL=fake.url, LOG_LEVEL="INFO"))
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"serve exited early: {proc.stderr.read()}")
                try:
                    if _get(base + "/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            for _ in range(5):  # readiness probes add no log lines at INFO (each used to add two of alembic's)
                assert _get(base + "/readyz") == (200, b'{"ready": true}')

            body = slash_body("shop/cart", channel=CHANNEL, user="U0ALICE", response_url=fake.response_url("cli"))
            req = urllib.request.Request(base + "/slack/events", data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status == 200
            assert time.monotonic() - t0 < 1.0

            deadline = time.monotonic() + 60
            diagnosis = None
            while time.monotonic() < deadline and diagnosis is None:
                diagnosis = next((m for m in fake.messages(CHANNEL) if m.get("blocks")
                                  and m["blocks"][0]["type"] == "header"), None)
                time.sleep(0.2)
            assert diagnosis is not None, [m.get("text") for m in fake.messages(CHANNEL)]
            root = fake.messages(CHANNEL)[0]
            assert "Investigating" in root["text"] and "shop/cart" in root["text"]
            assert diagnosis["thread_ts"] == root["ts"]
            progress = [m for m in fake.thread(CHANNEL, root["ts"]) if m.get("blocks")
                        and m["blocks"][0].get("block_id") == "progress"]
            assert len(progress) == 1 and "Investigation finished" in progress[0]["blocks"][0]["text"]["text"]
            assert fake.responses("cli") == []
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        err = proc.stderr.read()
        assert code == 0, err
        assert _library_lines_below_warning(err) == [], err


def _library_lines_below_warning(stderr: str) -> list[str]:
    """Log lines (`ts LEVEL logger: message`) at INFO or DEBUG from loggers outside the project."""
    own = ("bot", "agents", "tools", "knowledge", "migrations")
    found = (re.match(r"\S+ \S+ (DEBUG|INFO) ([\w.]+): ", line) for line in stderr.splitlines())
    return [m.string for m in found if m and m.group(2).partition(".")[0] not in own]
