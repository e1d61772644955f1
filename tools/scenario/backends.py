"""Serve a scenario bundle through the same tool interfaces as production.

Metrics go into a real, throwaway Prometheus (backfilled with promtool); logs are served by a
loopback OpenSearch fake through opensearch-py; Kubernetes objects by a loopback fake API
server through the official client. Every tool evaluates at the scenario's `now`.
What cannot run here (no Prometheus binaries) is reported as unavailable, and the rest goes on.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from tools.base import ToolContext
from tools.scenario.bundle import Scenario
from tools.sources import SourceConfig, Sources, build_sources

log = logging.getLogger(__name__)


class ScenarioBackends:
    def __init__(self, scenario: Scenario, *, workdir: Path | None = None, use_prometheus: bool = True,
                 timeout: float = 10.0, namespace_allowlist: tuple[str, ...] = ()):
        self.scenario = scenario
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"chatops-{scenario.id}-"))
        self.use_prometheus = use_prometheus
        self.ctx = ToolContext(now=lambda: scenario.now, timeout=timeout, namespace_allowlist=namespace_allowlist)
        self._stops: list = []
        self.config = SourceConfig(kube_enabled=True)
        # The running fakes, for callers that act on them (remediation demos, tests).
        self.kube = None
        self.opensearch = None
        self.prometheus = None

    def start(self) -> SourceConfig:
        sc, cfg = self.scenario, self.config
        try:
            self._start_prometheus(sc, cfg)
            self._start_opensearch(sc, cfg)
            self._start_kubernetes(sc, cfg)
        except BaseException:
            self.stop()
            raise
        return cfg

    def _start_prometheus(self, sc: Scenario, cfg: SourceConfig) -> None:
        from tools.prometheus.server import PrometheusServer, prometheus_binaries

        if sc.metrics_file is None:
            cfg.absent["prometheus"] = "the scenario has no metrics"
        elif not self.use_prometheus:
            cfg.absent["prometheus"] = "Prometheus disabled for this run"
        elif prometheus_binaries() is None:
            cfg.absent["prometheus"] = "Prometheus is not installed (apt-get install prometheus) so metrics were not replayed"
        else:
            try:
                server = PrometheusServer(self.workdir / "prometheus", openmetrics_files=[sc.metrics_file])
                cfg.prometheus_url = server.start()
                self.prometheus = server
                self._stops.append(server.stop)
            except Exception as exc:
                log.warning("Prometheus replay failed: %s", exc)
                cfg.absent["prometheus"] = f"Prometheus replay failed: {exc}"

    def _start_opensearch(self, sc: Scenario, cfg: SourceConfig) -> None:
        from tools.opensearch.fake_api import FakeOpenSearch

        if sc.logs_file is None:
            cfg.absent["opensearch"] = "the scenario has no logs"
            return
        fake = FakeOpenSearch.from_jsonl(sc.logs_file)
        cfg.opensearch_url = fake.start()
        self.opensearch = fake
        self._stops.append(fake.stop)

    def _start_kubernetes(self, sc: Scenario, cfg: SourceConfig) -> None:
        from tools.k8s.fake_api import FakeKubeAPI

        if sc.k8s_dir is None:
            cfg.absent["kubernetes"] = "the scenario has no Kubernetes objects"
            cfg.kube_enabled = False
            return
        fake = FakeKubeAPI()
        fake.load_dir(sc.k8s_dir)
        cfg.kube_host = fake.start()
        self.kube = fake
        self._stops.append(fake.stop)

    def sources(self, extra_tools=()) -> Sources:
        return build_sources(self.config, self.ctx, extra_tools=extra_tools)

    def stop(self) -> None:
        while self._stops:
            try:
                self._stops.pop()()
            except Exception:
                log.debug("stopping scenario backend failed", exc_info=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "ScenarioBackends":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
