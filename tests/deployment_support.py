"""A whole deployment as real processes: `chatops serve` and `chatops worker`s on one database,
over the loopback Slack fake and a scenario's Kubernetes and OpenSearch fakes (all in this process).

Used by the durable-job acceptance tests and bench/worker_throughput.py. Each process gets its own
DATA_DIR (embedded Chroma is per process); what they share is the database and the signing key.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.support import REPO, free_port, process_env

CHANNEL = "C0DEPLOY"
SIGNING_SECRET = "deploy-signing-secret-0123456789"
WEBHOOK_TOKEN = "deploy-webhook-token"


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return path


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    def kill9(self) -> None:
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Deployment:
    root: Path
    database_url: str
    slack: FakeSlack
    kube_url: str
    opensearch_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def env(self, name: str, **more: str) -> dict[str, str]:
        data = self.root / name
        data.mkdir(parents=True, exist_ok=True)
        settings = {"DATABASE_URL": self.database_url, "SLACK_BOT_TOKEN": DEFAULT_TOKEN,
                    "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": self.slack.url,
                    "SLACK_ALERTS_CHANNEL": CHANNEL, "ALERTMANAGER_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
                    "ACTION_SIGNING_SECRET": "deploy-action-signing-secret-0123456789",
                    "KUBECONFIG": str(kubeconfig(data / "kubeconfig", self.kube_url)),
                    "AGENT_ENGINE": "offline", "METRICS_PORT": "0", "LOG_LEVEL": "INFO", "EMBED_BACKEND": "none",
                    **self.extra_env, **more}
        env = process_env(data, **settings)
        if self.opensearch_url:
            env["OPENSEARCH_URL"] = self.opensearch_url
        env.pop("PROMETHEUS_URL", None)
        return env

    def start(self, name: str, *args: str, **env: str) -> Proc:
        log = self.root / f"{name}.log"
        popen = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=self.root / name if
                                 (self.root / name).exists() else self.root, env=self.env(name, **env),
                                 stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def web(self, name: str = "web", **env: str) -> Proc:
        port = free_port()
        self.env(name)  # creates its data dir first (the process runs there)
        proc = self.start(name, "serve", "--host", "127.0.0.1", "--port", str(port), **env)
        proc.port = port
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
        return proc

    def worker(self, name: str, **env: str) -> Proc:
        self.env(name)
        proc = self.start(name, "worker", **env)
        wait_for(lambda: "running" in proc.text() and "jobs" in proc.text(), 60, proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.popen.poll() is None:
                p.popen.terminate()
        for p in self.procs:
            try:
                p.popen.wait(30)
            except subprocess.TimeoutExpired:
                p.popen.kill()


def wait_http(url: str, proc: Proc | None = None, timeout: float = 60) -> None:
    def up() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except Exception:
            return False
    wait_for(up, timeout, proc)


def wait_for(predicate, timeout: float, proc: Proc | None = None, interval: float = 0.2) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.text()[-3000:]}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s" + (f"; {proc.name} log:\n{proc.text()[-3000:]}" if proc else ""))


def alert_group(template: dict[str, Any], n: int, prefix: str | None = "p") -> bytes:
    """n alerts from a scenario's alert, made distinct by their pod label (prefix None: the alert as it is)."""
    alerts = []
    for i in range(n):
        labels = dict(template["labels"])
        if prefix is not None:
            labels["pod"] = f"{labels.get('pod', 'pod')}-{prefix}{i:04d}"
        alerts.append({"status": "firing", "labels": labels, "annotations": dict(template.get("annotations") or {}),
                       "startsAt": "2026-12-05T10:00:00Z"})
    return json.dumps({"version": "4", "status": "firing", "receiver": "chatops", "groupKey": f"{{}}:{prefix}",
                       "alerts": alerts}).encode()


def post_alerts(web: Proc, body: bytes) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{web.port}/alertmanager", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


__all__ = ["CHANNEL", "REPO", "Deployment", "Proc", "alert_group", "post_alerts", "wait_for", "wait_http"]


def click(web: Proc, message: dict, action_id: str, value: str, user: str) -> int:
    """A signed Slack block_actions request for a button of `message`, as Slack sends it."""
    import hashlib
    import hmac
    from urllib.parse import urlencode

    payload = {"type": "block_actions", "api_app_id": "A0DEPLOY", "token": "legacy", "trigger_id": "13345.98765.abc",
               "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0FAKE001"},
               "team": {"id": "T0FAKE001", "domain": "fake"}, "channel": {"id": CHANNEL, "name": "deploy"},
               "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL,
                             "is_ephemeral": False, **({"thread_ts": message["thread_ts"]}
                                                       if message.get("thread_ts") else {})},
               "message": message, "response_url": "https://hooks.slack.com/actions/T0FAKE001/1/x",
               "actions": [{"type": "button", "action_id": action_id, "value": value, "action_ts": "1700000000.1",
                            "block_id": f"proposal_actions:{value.split('|')[0]}"}]}
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"http://127.0.0.1:{web.port}/slack/events", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status
