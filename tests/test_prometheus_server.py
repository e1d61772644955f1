"""The throwaway Prometheus/Alertmanager runner: backfill errors, rules firing end to end
through a real Alertmanager to a webhook, and no orphaned processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import REPO, require_binary
from tools.prometheus import (AlertmanagerServer, PrometheusServer, ServerError, find_alertmanager,
                              prometheus_binaries)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def wait_for(predicate, timeout: float = 20, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:  # vanished between the two checks (ENOENT, or ESRCH while reading)
        return False


@pytest.fixture
def prom_bins():
    require_binary("prometheus")
    require_binary("promtool")
    assert prometheus_binaries() is not None


@pytest.fixture
def am_binary():
    if find_alertmanager() is None:
        require_binary("alertmanager")  # skips locally, fails in CI
    return find_alertmanager()


@pytest.fixture
def webhook():
    """A loopback receiver recording every POST (path, headers, JSON body)."""
    received: list[dict] = []
    event = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "body": json.loads(body)})
            event.set()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", received, event
    srv.shutdown()
    srv.server_close()


def test_bad_openmetrics_surfaces_promtool_error(prom_bins, tmp_path):
    bad = tmp_path / "bad.om"
    bad.write_text('# TYPE x gauge\nx{a="1" 1 1700000000\n# EOF\n')
    server = PrometheusServer(tmp_path / "p", [bad])
    with pytest.raises(ServerError) as err:
        server.start()
    assert "promtool rejected OpenMetrics file" in str(err.value) and str(bad) in str(err.value)
    assert "expected" in str(err.value)  # promtool's own parser message
    assert server.proc is None


def test_bad_rule_file_is_refused_before_start(prom_bins, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: sum(\n")
    with pytest.raises(ServerError) as err:
        PrometheusServer(tmp_path / "p", rule_files=[rules]).start()
    assert "promtool rejected rule files" in str(err.value) and "parse error" in str(err.value)


def test_start_and_stop_frees_the_process(prom_bins, tmp_path):
    server = PrometheusServer(tmp_path / "p")
    url = server.start()
    proc = server.proc
    assert url.startswith("http://127.0.0.1:")
    assert get_json(f"{url}/api/v1/status/flags")["data"]["storage.tsdb.retention.time"] == "100y"
    # The admin API stays off: the bot must never be able to delete series.
    req = urllib.request.Request(f"{url}/api/v1/admin/tsdb/clean_tombstones", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert "admin APIs disabled" in err.value.read().decode()
    server.stop()
    assert proc.poll() is not None and server.url is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/-/ready", timeout=2)


def test_restart_on_same_workdir_keeps_data_once(prom_bins, tmp_path):
    om = tmp_path / "d.om"
    t0 = int(time.time()) - 86400
    om.write_text("# TYPE g gauge\n" + "".join(f"g 1 {t0 + i * 60}\n" for i in range(30)) + "# EOF\n")
    server = PrometheusServer(tmp_path / "p", [om])
    blocks = lambda: sorted(p.name for p in server.data_dir.iterdir() if p.is_dir() and len(p.name) == 26)
    server.backfill(prometheus_binaries()[1])
    first = blocks()
    assert first
    server.backfill(prometheus_binaries()[1])
    assert blocks() == first  # not imported twice
    for _ in range(2):
        with server:
            q = f"{server.url}/api/v1/query?query=count_over_time(g%5B1h%5D)&time={t0 + 1800}"
            assert get_json(q)["data"]["result"][0]["value"][1] == "30"


def test_alertmanager_accepts_alert_and_posts_webhook(am_binary, webhook, tmp_path):
    hook_url, received, event = webhook
    with AlertmanagerServer(tmp_path / "am", hook_url, webhook_auth="s3cret") as am:
        status = get_json(f"{am.url}/api/v2/status")
        assert status["cluster"]["status"] == "disabled"  # --cluster.listen-address= took effect
        am.post_alerts([{"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "severity": "warning"},
                         "annotations": {"summary": "pod is crash looping"}}])
        alerts = get_json(f"{am.url}/api/v2/alerts")
        assert [a["labels"]["alertname"] for a in alerts] == ["KubePodCrashLooping"]
        assert event.wait(15), "alertmanager never called the webhook"
    msg = received[0]
    assert msg["path"] == "/hook" and msg["auth"] == "Bearer s3cret"
    assert msg["body"]["status"] == "firing"
    assert msg["body"]["alerts"][0]["labels"]["namespace"] == "shop"


@pytest.mark.slow  # Prometheus discovers its Alertmanager ~5s after start
def test_rule_fires_through_alertmanager_to_webhook(prom_bins, am_binary, webhook, tmp_path):
    hook_url, received, event = webhook
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: test\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1) > 0\n    for: 0s\n"
        "    labels: {severity: critical, namespace: shop}\n"
        "    annotations: {summary: 'synthetic alert from a real rule'}\n")
    with AlertmanagerServer(tmp_path / "am", hook_url) as am, \
            PrometheusServer(tmp_path / "p", rule_files=[rules], alertmanager_url=am.url,
                             evaluation_interval="1s", alert_resend_delay="1s") as prom:
        firing = wait_for(lambda: [a for a in get_json(f"{prom.url}/api/v1/alerts")["data"]["alerts"]
                                   if a["state"] == "firing"])
        assert firing[0]["labels"]["alertname"] == "AlwaysFiring"
        prom_url = prom.url
        assert event.wait(30), "the alert never reached the webhook"
    alert = received[0]["body"]["alerts"][0]
    assert alert["labels"] == {"alertname": "AlwaysFiring", "severity": "critical", "namespace": "shop"}
    assert alert["annotations"]["summary"] == "synthetic alert from a real rule"
    assert alert["generatorURL"].startswith("http://") and alert["startsAt"]
    assert prom_url.startswith("http://127.0.0.1:")


_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from tools.prometheus import PrometheusServer
s = PrometheusServer(Path({work!r}))
s.start()
print(s.proc.pid, flush=True)
if {hang}:
    time.sleep(600)
"""


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_no_orphan_when_the_parent_goes_away(prom_bins, tmp_path, how):
    code = _CHILD.format(repo=str(REPO), work=str(tmp_path / "p"), hang=how == "sigkill")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(child.stdout.readline())
        assert pid_alive(pid)
        if how == "sigkill":  # atexit cannot run; PR_SET_PDEATHSIG must take the server down
            child.send_signal(signal.SIGKILL)
        child.wait(30)
        wait_for(lambda: not pid_alive(pid), timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
