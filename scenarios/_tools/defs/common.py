"""Building blocks shared by bundle definitions: node pools, healthy-service chatter, standard metrics."""
from __future__ import annotations

import numpy as np

import logstyles as ls
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import Deployment, Pod, World

MI = 1024**2


def eks_nodes(w: World, n: int, *, subnet: int = 10, region: str = "eu-west-1", cpu: int = 8, memory_gi: int = 32,
              instance_type: str = "m6i.2xlarge") -> list[dict]:
    out = []
    for i in range(n):
        ip = f"10-{subnet}-{3 + i * 5}-{w.rng.randrange(10, 250)}"
        out.append(w.node(f"ip-{ip}.{region}.compute.internal", cpu=cpu, memory_gi=memory_gi,
                          zone=f"{region}{'abc'[i % 3]}", instance_type=instance_type))
    return out


def gke_nodes(w: World, n: int, pool: str = "default-pool", cluster: str = "prod", cpu: int = 8, memory_gi: int = 32) -> list[dict]:
    tag = w.rng.hex(8)
    return [w.node(f"gke-{cluster}-{pool}-{tag}-{w.rng.token(4)}", cpu=cpu, memory_gi=memory_gi,
                   zone=f"europe-west4-{'abc'[i % 3]}", instance_type="e2-standard-8") for i in range(n)]


def all_pods(dep: Deployment) -> list[Pod]:
    return [p for r in dep.revisions for p in r.pods]


# -- chatter makers: make(t, rng) -> line -----------------------------------------------------------
def go_requests(service: str, paths: list[str], slow_ms=(3, 40), style: str = "zap"):
    def make(t, rng):
        path = rng.choice(paths)
        ms = round(rng.uniform(*slow_ms), 1)
        if style == "zap":
            return ls.zap(t, "info", "request completed", caller="httpserver/middleware.go:62", method="GET",
                          path=path, status=200, duration_ms=ms, request_id=rng.hex(16))
        if style == "logrus":
            return ls.logrus(t, "info", "handled request", method="GET", path=path, status=200, latency=f"{ms}ms")
        return ls.slog(t, "info", "request", method="GET", path=path, status=200, dur=f"{ms}ms", svc=service)
    return make


def spring_requests(app: str, lines: list[tuple[str, str, str]]):
    """lines: (level, logger, msg) picked at random; msg may use {n}."""
    def make(t, rng):
        level, logger, msg = rng.choice(lines)
        return ls.spring(t, level, logger, msg.format(n=rng.randrange(1, 999)),
                         thread=f"nio-8080-exec-{rng.randrange(1, 40)}", app=app)
    return make



def healthy_service(w: World, om: OM | None, dep: Deployment, *, service: str | None = None, rps: float = 20.0,
                    mem_mi: float = 200.0, cpu: float = 0.08, maker=None, every_s=(45, 140), histogram: bool = False,
                    median: float = 0.03, limits: bool = False, http: bool = True) -> None:
    """Background workload: steady metrics and request logs, nothing wrong with it."""
    for p in all_pods(dep):
        if maker is not None:
            w.chatter(p, every_s, maker)
        if om is None:
            continue
        jitter = om.noise(mem_mi * 0.01 * MI)
        cadvisor(om, p, memory=mem_mi * MI + jitter + np.cumsum(np.abs(om.noise(0.02 * MI))),
                 cpu=np.clip(cpu + om.noise(cpu * 0.08), 0.001, None))
        ksm_pod(om, p, limits=limits)
        if http:
            http_red(om, p, service or dep.name, om.diurnal(rps / max(1, dep.replicas)) * (1 + om.noise(0.04)))
    if om is not None:
        ksm_deployment(om, dep)
        if http and histogram:
            latency_histogram(om, dep.namespace, service or dep.name, om.diurnal(rps) * (1 + om.noise(0.03)), median)



def startup_go(service: str, version: str, extra: list | None = None):
    """zap start-up lines of a Go service; extra: [callable(t) -> text] logged before it listens."""
    def make(anchor, rng, idx):
        out = [(0.1, lambda t: ls.zap(t, "info", "starting service", caller="cmd/server/main.go:41", service=service,
                                      version=version, go_version="go1.22.7"), "stderr"),
               (0.4, lambda t: ls.zap(t, "info", "config loaded", caller="internal/config/config.go:88",
                                      env="production"), "stderr")]
        for i, e in enumerate(extra or []):
            out.append((0.6 + i * 0.1, e, "stderr"))
        out.append((1.2, lambda t: ls.zap(t, "info", "http server listening", caller="cmd/server/main.go:77",
                                          addr=":8080"), "stderr"))
        return out
    return make
