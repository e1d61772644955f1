"""Throwaway real Prometheus and Alertmanager processes on loopback.

Used by tests, scenario bundles and the console demo: OpenMetrics files are backfilled
with promtool into a fresh TSDB, then a real server answers PromQL over them. Every
process started here is killed on stop(), on context exit and at interpreter exit.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


class ServerError(RuntimeError):
    """A binary refused its input or the server did not become ready."""


def prometheus_binaries() -> tuple[str, str] | None:
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    return (prom, tool) if prom and tool else None


def find_alertmanager() -> str | None:
    # Debian ships alertmanager as prometheus-alertmanager.
    return shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        _terminate(p)


atexit.register(_kill_all)


def _terminate(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: the child gets SIGTERM if our process is SIGKILLed, when
    # atexit cannot run. Only armed from the main thread: the signal follows the forking
    # *thread*, so arming it from a worker thread would kill the server when that exits.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class _Process:
    """One managed server process with a log file and a readiness probe."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.log_path = self.workdir / f"{self.name}.log"

    def _spawn(self, make_argv: Callable[[int], list[str]], timeout: float) -> str:
        # The free port we picked can be taken before the server binds it; retry then.
        for attempt in range(3):
            try:
                return self._spawn_once(make_argv, timeout)
            except ServerError as exc:
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _spawn_once(self, make_argv: Callable[[int], list[str]], timeout: float) -> str:
        if self.proc is not None and self.proc.poll() is None:
            raise ServerError(f"{self.name} already running at {self.url}")
        port = _free_port()
        argv = make_argv(port)
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.workdir, preexec_fn=preexec)
        finally:
            log.close()
        with _LIVE_LOCK:
            _LIVE.add(proc)
        self.proc = proc
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.stop()
                raise ServerError(f"{self.name} exited with code {proc.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        self.url = url
                        return url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready on {url} after {timeout:g}s: {self._log_tail()}")

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc)
            self.proc = None
        self.url = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class PrometheusServer(_Process):
    """A real Prometheus over backfilled OpenMetrics files, optional rules and Alertmanager.

    promtool 2.42 cuts backfilled data into 2h blocks (it has no --max-block-duration for
    OpenMetrics); Prometheus compacts them itself. Retention is 100y because Prometheus
    deletes blocks older than retention at start, and scenario data lies in the past.
    """

    name = "prometheus"

    def __init__(self, workdir: Path, openmetrics_files: Iterable[Path] = (), rule_files: Iterable[Path] = (),
                 alertmanager_url: str | None = None, evaluation_interval: str = "15s",
                 scrape_configs: Iterable[dict] = (), alert_resend_delay: str = "5s") -> None:
        super().__init__(workdir)
        self.openmetrics_files = [Path(p) for p in openmetrics_files]
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.alertmanager_url = alertmanager_url
        self.evaluation_interval = evaluation_interval
        self.scrape_configs = list(scrape_configs)
        # Prometheus discovers Alertmanagers a few seconds after start; alerts that fire
        # before that are only resent after this delay (default 1m, too slow for demos).
        self.alert_resend_delay = alert_resend_delay
        self.data_dir = self.workdir / "data"

    def _config(self) -> dict:
        cfg: dict[str, Any] = {
            "global": {"scrape_interval": "15s", "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": self.scrape_configs,
        }
        if self.alertmanager_url:
            target = self.alertmanager_url.split("://", 1)[-1].rstrip("/")
            scheme = self.alertmanager_url.split("://", 1)[0] if "://" in self.alertmanager_url else "http"
            cfg["alerting"] = {"alertmanagers": [{"scheme": scheme, "static_configs": [{"targets": [target]}]}]}
        return cfg

    def _run_promtool(self, promtool: str, args: list[str], what: str) -> None:
        res = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            msg = (res.stderr.strip() or res.stdout.strip() or f"exit code {res.returncode}")
            raise ServerError(f"promtool rejected {what}: {msg}")

    def backfill(self, promtool: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A restart on the same workdir must not import the same samples twice.
        marker = self.data_dir / ".backfilled"
        done = set(marker.read_text().splitlines()) if marker.exists() else set()
        for f in self.openmetrics_files:
            if str(f.resolve()) in done:
                continue
            self._run_promtool(promtool, ["tsdb", "create-blocks-from", "openmetrics", "--quiet",
                                          str(f), str(self.data_dir)], f"OpenMetrics file {f}")
            with marker.open("a") as m:
                m.write(f"{f.resolve()}\n")

    def start(self, timeout: float = 30) -> str:
        bins = prometheus_binaries()
        if bins is None:
            raise ServerError("prometheus/promtool not found on PATH")
        prom, promtool = bins
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.rule_files:
            self._run_promtool(promtool, ["check", "rules", *map(str, self.rule_files)],
                               f"rule files {', '.join(map(str, self.rule_files))}")
        self.backfill(promtool)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        # --web.enable-admin-api is deliberately not passed: the tools are read-only.
        return self._spawn(lambda port: [
            prom, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
            f"--rules.alert.resend-delay={self.alert_resend_delay}"], timeout)


class AlertmanagerServer(_Process):
    """A real single-node Alertmanager routing every alert to one webhook immediately."""

    name = "alertmanager"

    def __init__(self, workdir: Path, webhook_url: str, webhook_auth: str | None = None,
                 group_interval: str = "1s", repeat_interval: str = "24h") -> None:
        super().__init__(workdir)
        self.webhook_url = webhook_url
        self.webhook_auth = webhook_auth
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval

    def _config(self) -> dict:
        hook: dict[str, Any] = {"url": self.webhook_url, "send_resolved": True}
        if self.webhook_auth:
            hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": self.webhook_auth}}
        return {
            "route": {"receiver": "webhook", "group_by": ["alertname"], "group_wait": "0s",
                      "group_interval": self.group_interval, "repeat_interval": self.repeat_interval},
            "receivers": [{"name": "webhook", "webhook_configs": [hook]}],
        }

    def start(self, timeout: float = 30) -> str:
        binary = find_alertmanager()
        if binary is None:
            raise ServerError("alertmanager (Debian: prometheus-alertmanager) not found on PATH")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "alertmanager.yml"
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        return self._spawn(lambda port: [
            binary, f"--config.file={config}", f"--storage.path={self.workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="], timeout)  # empty disables gossip clustering

    def post_alerts(self, alerts: list[dict]) -> None:
        """Post alerts to /api/v2/alerts (what Prometheus does); raises on a non-2xx answer."""
        if not self.url:
            raise ServerError("alertmanager not started")
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
