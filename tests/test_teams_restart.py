"""Proactive posting survives a restart, with real `chatops serve` processes on one SQLite database:
the first process learns the Teams channel from the install (conversationUpdate) and stops; a fresh
process, which never received a Teams activity, posts an Alertmanager group's thread and its
diagnosis to that channel through the loopback Bot Connector, from the stored reference alone."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.fake_teams import FakeTeams
from tests.support import free_port, process_env, run_chatops
from tests.teams_support import ALERTS, APP_ID, SECRET, card_of, installed, texts
from tests.test_teams_alerts import group

pytestmark = pytest.mark.slow


def _env(tmp_path, fake: FakeTeams) -> dict[str, str]:
    return process_env(tmp_path, AGENT_ENGINE="offline", LOG_LEVEL="WARNING", TEAMS_APP_ID=APP_ID,
                       TEAMS_APP_PASSWORD=SECRET, TEAMS_OPENID_METADATA_URL=fake.openid_url,
                       TEAMS_LOGIN_URL=fake.login_url, TEAMS_GRAPH_URL=fake.graph_url,
                       TEAMS_ALERTS_CHANNEL=ALERTS, ALERTMANAGER_WEBHOOK_TOKEN="am-token",
                       REQUESTS_CA_BUNDLE=str(fake.ca_path), PERIODIC_SECONDS="3600")


def _post(url: str, body: dict, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


class Serve:
    def __init__(self, tmp_path, env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)],
                                     cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited early: {self.proc.stderr.read()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail("serve did not start")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        err = self.proc.stderr.read()
        assert code == 0, err
        return err


def _references(db) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT platform, channel_id FROM conversations").fetchall()


def test_a_fresh_process_posts_proactively_from_the_stored_reference(tmp_path):
    with FakeTeams({APP_ID: SECRET}) as fake:
        env = _env(tmp_path, fake)
        assert run_chatops(tmp_path, "db", "upgrade", **{k: v for k, v in env.items() if k == "DATA_DIR"}).returncode == 0
        db = tmp_path / "data" / "chatops.db"

        first = Serve(tmp_path, env)
        try:
            act = installed(ALERTS, service_url=fake.url)
            token = fake.token_for(APP_ID, fake.url)
            assert _post(first.base + "/api/messages", act, {"Authorization": f"Bearer {token}"}) == 200
            deadline = time.monotonic() + 30
            while _references(db) != [("teams", ALERTS)] and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            first.stop()
        assert _references(db) == [("teams", ALERTS)] and fake.calls("connector") == []

        second = Serve(tmp_path, env)
        try:
            assert _post(second.base + "/alertmanager", group(), {"Authorization": "Bearer am-token"}) == 200
            deadline = time.monotonic() + 90
            diagnosis = None
            while diagnosis is None and time.monotonic() < deadline:
                posted = fake.posted(ALERTS)
                diagnosis = next((p for p in posted if "Diagnosis:" in texts(card_of(p))), None)
                time.sleep(0.2)
        finally:
            err = second.stop()
        assert diagnosis is not None, (fake.calls("connector"), err)
        [created] = fake.calls("connector.create")
        root = fake.posted(ALERTS)[0]
        assert created.body["channelData"]["channel"]["id"] == ALERTS and "KubePodCrashLooping" in texts(card_of(root))
        assert diagnosis.root == root.id and diagnosis.conversation == f"{ALERTS};messageid={root.id}"
        assert all(c.headers["Authorization"].startswith("Bearer fake-at-") for c in fake.calls("connector"))
