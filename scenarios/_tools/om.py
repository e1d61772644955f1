"""OpenMetrics writer plus the exporters a Kubernetes cluster usually has.

Series are numpy arrays over the bundle's time grid; NaN means "not scraped" (pod not yet
created, container in back-off), so gaps look like they do in a real Prometheus.
"""
from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from render import resources_of
from world import Pod, World

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SHORT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return format(v, ".10g")


def _labels(d: dict) -> str:
    if not d:
        return ""
    esc = lambda s: str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in d.items()) + "}"


class OM:
    def __init__(self, w: World, step: int = 60):
        self.w = w
        self.step = step
        t0 = int(w.start.timestamp()) // step * step
        self.ts = np.arange(t0, int(w.now.timestamp()) + 1, step)
        self.n = len(self.ts)
        self.families: dict[str, dict] = {}

    # -- time helpers -------------------------------------------------------------------------
    def t(self, when: datetime) -> float:
        return when.timestamp()

    def after(self, when: datetime, ramp_s: float = 0.0) -> np.ndarray:
        """0 before `when`, rising to 1 over ramp_s seconds."""
        x = (self.ts - when.timestamp()) / max(ramp_s, 1e-9)
        return np.clip(x, 0, 1) if ramp_s else (self.ts >= when.timestamp()).astype(float)

    def noise(self, scale: float) -> np.ndarray:
        return np.array([self.w.rng.gauss(0, scale) for _ in range(self.n)])

    def diurnal(self, base: float, amp: float = 0.15) -> np.ndarray:
        hours = (self.ts % 86400) / 3600.0
        return base * (1 + amp * np.sin((hours - 9) / 24 * 2 * math.pi))

    def mask(self, alive) -> np.ndarray:
        return np.array([1.0 if alive(datetime.fromtimestamp(int(t), self.w.now.tzinfo)) else np.nan for t in self.ts])

    # -- writing ------------------------------------------------------------------------------
    def add(self, family: str, typ: str, help: str, labels: dict, values, unit: str | None = None,
            suffix: str | None = None) -> None:
        fam = self.families.setdefault(family, {"type": typ, "help": help, "unit": unit, "series": []})
        vals = np.broadcast_to(np.asarray(values, dtype=float), (self.n,))
        name = family + (suffix if suffix is not None else ("_total" if typ == "counter" else ""))
        fam["series"].append((name, dict(labels), vals))

    def gauge(self, family: str, help: str, labels: dict, values, unit: str | None = None) -> None:
        self.add(family, "gauge", help, labels, values, unit)

    def counter(self, family: str, help: str, labels: dict, rate, start: float = 0.0, integer: bool = False) -> None:
        """A counter from a per-second rate; NaN in `rate` leaves a gap without resetting the count."""
        rate = np.broadcast_to(np.asarray(rate, dtype=float), (self.n,))
        inc = np.where(np.isnan(rate), 0.0, np.clip(rate, 0, None)) * self.step
        vals = start + np.cumsum(inc)
        if integer:
            vals = np.floor(vals)
        vals = np.where(np.isnan(rate), np.nan, vals)
        self.add(family, "counter", help, labels, vals)

    def histogram(self, family: str, help: str, labels: dict, rate, median, sigma=0.6,
                  buckets=BUCKETS, start_count: float = 0.0) -> None:
        """Log-normal latencies: each step adds rate*step observations spread over the buckets."""
        rate = np.broadcast_to(np.asarray(rate, dtype=float), (self.n,))
        median = np.broadcast_to(np.asarray(median, dtype=float), (self.n,))
        gap = np.isnan(rate)
        n_obs = np.where(gap, 0.0, np.clip(rate, 0, None)) * self.step
        mu = np.log(np.where(np.isnan(median), 1.0, median))
        sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (self.n,))
        first = start_count
        for le in buckets:
            cdf = 0.5 * (1 + np.vectorize(math.erf)((math.log(le) - mu) / (sigma * math.sqrt(2))))
            cum = np.floor(first * _cdf0(le, mu[0], sigma[0]) + np.cumsum(n_obs * cdf))
            self.add(family, "histogram", help, {**labels, "le": _fmt(le) if le != int(le) else f"{le:.1f}"},
                     np.where(gap, np.nan, cum), suffix="_bucket")
        count = np.floor(first + np.cumsum(n_obs))
        self.add(family, "histogram", help, {**labels, "le": "+Inf"}, np.where(gap, np.nan, count), suffix="_bucket")
        mean = np.exp(mu + sigma**2 / 2)
        total = first * float(mean[0]) + np.cumsum(n_obs * mean)
        self.add(family, "histogram", help, labels, np.where(gap, np.nan, np.round(total, 3)), suffix="_sum")
        self.add(family, "histogram", help, labels, np.where(gap, np.nan, count), suffix="_count")

    def write(self, path) -> int:
        out = []
        for family, fam in self.families.items():
            out.append(f"# TYPE {family} {fam['type']}")
            if fam["unit"]:
                out.append(f"# UNIT {family} {fam['unit']}")
            out.append(f"# HELP {family} {fam['help']}")
            for name, labels, vals in fam["series"]:
                lbl = _labels(labels)
                for t, v in zip(self.ts, vals):
                    if not np.isnan(v):
                        out.append(f"{name}{lbl} {_fmt(float(v))} {int(t)}")
        out.append("# EOF")
        text = "\n".join(out) + "\n"
        with open(path, "w") as f:
            f.write(text)
        return len(text)


def _cdf0(le: float, mu: float, sigma: float) -> float:
    return 0.5 * (1 + math.erf((math.log(le) - mu) / (sigma * math.sqrt(2))))


# -- exporters ------------------------------------------------------------------------------------
def running_mask(om: OM, pod: Pod, container: str | None = None) -> np.ndarray:
    c = pod.container(container)
    return om.mask(lambda t: pod.alive_at(t) and c.running_at(t))


def since_run_start(om: OM, pod: Pod, container: str | None = None) -> np.ndarray:
    """Seconds since the current container instance started (NaN when not running)."""
    c = pod.container(container)
    out = np.full(om.n, np.nan)
    for r in c.runs:
        s = r.start.timestamp()
        e = r.end.timestamp() if r.end else math.inf
        sel = (om.ts >= s) & (om.ts < e)
        out[sel] = om.ts[sel] - s
    if pod.ended:
        out[om.ts >= pod.ended.timestamp()] = np.nan
    return out


def cadvisor(om: OM, pod: Pod, memory, cpu, container: str | None = None, throttled: float | np.ndarray | None = None) -> None:
    """Working set, CPU usage and, when a CPU limit is set, CFS period counters."""
    c = pod.container(container)
    lbl = {"namespace": pod.namespace, "pod": pod.name, "container": c.name}
    m = running_mask(om, pod, container)
    om.gauge("container_memory_working_set_bytes", "Current working set of the container in bytes", lbl,
             np.round(np.asarray(memory) * m))
    om.counter("container_cpu_usage_seconds_total".removesuffix("_total"),
               "Cumulative cpu time consumed by the container in core-seconds", lbl, np.asarray(cpu) * m,
               start=om.w.rng.uniform(50, 5000))
    if resources_of(c.spec)["cpu_limit"]:
        periods = 10.0 * m  # 100ms CFS period
        om.counter("container_cpu_cfs_periods", "Number of elapsed enforcement period intervals", lbl, periods,
                   start=float(om.w.rng.randrange(10_000, 900_000)), integer=True)
        thr = np.asarray(0.0 if throttled is None else throttled)
        om.counter("container_cpu_cfs_throttled_periods", "Number of throttled period intervals", lbl,
                   periods * thr, start=float(om.w.rng.randrange(100, 9_000)), integer=True)


def ksm_pod(om: OM, pod: Pod, waiting_reasons: bool = True, limits: bool | tuple = ("memory",),
            phase: bool = False) -> None:
    w = om.w
    for c in pod.containers:
        lbl = {"namespace": pod.namespace, "pod": pod.name, "container": c.name}
        alive = om.mask(pod.alive_at)
        restarts = np.zeros(om.n)
        for r in c.runs[1:]:
            restarts += om.ts >= r.start.timestamp()
        om.add("kube_pod_container_status_restarts", "counter",
               "The number of container restarts per container.", lbl, restarts * alive)
        res = resources_of(c.spec)
        limits = ("memory", "cpu") if limits is True else (limits or ())
        if "memory" in limits:
            for kind, value in (("requests", res["memory_request"]), ("limits", res["memory_limit"])):
                if value:
                    om.gauge(f"kube_pod_container_resource_{kind}", f"The number of requested {kind} resource by a container.",
                             {**lbl, "resource": "memory", "unit": "byte"}, value * alive)
        if "cpu" in limits:
            for kind, value in (("requests", res["cpu_request"]), ("limits", res["cpu_limit"])):
                if value:
                    om.gauge(f"kube_pod_container_resource_{kind}", f"The number of requested {kind} resource by a container.",
                             {**lbl, "resource": "cpu", "unit": "core"}, value * alive)
        if waiting_reasons and (c.waiting or len(c.runs) > 1):
            reason = c.waiting[0] if c.waiting else "CrashLoopBackOff"
            waiting = np.where(np.isnan(alive), np.nan, 0.0)
            if reason in ("CrashLoopBackOff",):
                first_end = min((r.end for r in c.runs if r.end), default=None)
                if first_end:
                    running = om.mask(lambda t: c.running_at(t))
                    waiting = np.where(np.isnan(running) & (om.ts >= first_end.timestamp()), 1.0, waiting)
            else:
                waiting = np.where(np.isnan(alive), np.nan, 1.0)
            if np.nansum(waiting) > 0:
                om.gauge("kube_pod_container_status_waiting_reason",
                         "Describes the reason the container is currently in waiting state.",
                         {**lbl, "reason": reason}, np.where(waiting > 0, 1.0, np.nan))
        ended = [r for r in c.runs if r.end and r.reason and r.reason != "Completed"]
        if ended:
            first = ended[0].end.timestamp()
            om.gauge("kube_pod_container_status_last_terminated_reason",
                     "Describes the last reason the container was in terminated state.",
                     {**lbl, "reason": ended[-1].reason}, np.where(om.ts >= first, 1.0, np.nan) * alive)
    if phase:
        for ph in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            def cur(t, ph=ph):
                if not pod.alive_at(t) and not (pod.evicted and t >= pod.evicted[0]):
                    return np.nan
                if pod.evicted and t >= pod.evicted[0]:
                    return 1.0 if ph == "Failed" else 0.0
                now_phase = "Pending" if pod.unschedulable else "Running"
                return 1.0 if ph == now_phase else 0.0
            vals = np.array([cur(datetime.fromtimestamp(int(t), w.now.tzinfo)) for t in om.ts])
            om.gauge("kube_pod_status_phase", "The pods current phase.",
                     {"namespace": pod.namespace, "pod": pod.name, "phase": ph}, vals)
        if pod.unschedulable:
            om.gauge("kube_pod_status_unschedulable", "Describes the unschedulable status for the pod.",
                     {"namespace": pod.namespace, "pod": pod.name}, om.mask(pod.alive_at))


def ksm_deployment(om: OM, dep, spec: int | np.ndarray | None = None) -> None:
    w = om.w
    lbl = {"namespace": dep.namespace, "deployment": dep.name}
    pods = [p for r in dep.revisions for p in r.pods]
    def available(t):
        return sum(1 for p in pods if p.alive_at(t) and all(c.running_at(t) for c in p.containers)
                   and (t - max(c.runs[-1].start for c in p.containers if c.runs)).total_seconds() >= 0)
    om.gauge("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", lbl,
             dep.replicas if spec is None else spec)
    om.gauge("kube_deployment_status_replicas_available", "The number of available replicas per deployment.", lbl,
             [available(datetime.fromtimestamp(int(t), w.now.tzinfo)) for t in om.ts])


def http_red(om: OM, pod: Pod, service: str, rps, err_ratio=0.0, error_code: str = "500",
             container: str | None = None) -> None:
    """Per-pod request counters by status code, as the application exposes them."""
    m = running_mask(om, pod, container)
    lbl = {"namespace": pod.namespace, "service": service, "pod": pod.name}
    rps = np.asarray(rps) * m
    err = np.clip(np.asarray(err_ratio, dtype=float), 0, 1)
    base = om.w.rng.randrange(20_000, 900_000)
    om.counter("http_requests", "Total number of HTTP requests by status code.", {**lbl, "code": "200"},
               rps * (1 - err), start=base, integer=True)
    om.counter("http_requests", "Total number of HTTP requests by status code.", {**lbl, "code": error_code},
               rps * err + 0.0004 * m, start=base // 900, integer=True)


def latency_histogram(om: OM, namespace: str, service: str, rps, median, sigma: float = 0.6,
                      buckets=SHORT_BUCKETS) -> None:
    """Service-level latency histogram (as a mesh or ingress exposes it, without per-pod labels)."""
    om.histogram("http_request_duration_seconds", "HTTP request latency in seconds.",
                 {"namespace": namespace, "service": service}, rps, median, sigma=sigma, buckets=buckets,
                 start_count=om.w.rng.randrange(2_000_000, 90_000_000))


def node_exporter(om: OM, node: str, mem_total_gi: float, mem_avail, fs_size_gi: float | None = 100.0,
                  fs_avail=None) -> None:
    lbl = {"instance": node}
    om.gauge("node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes.", lbl, mem_total_gi * 1024**3)
    om.gauge("node_memory_MemAvailable_bytes", "Memory information field MemAvailable_bytes.", lbl,
             np.round(np.asarray(mem_avail)))
    if fs_size_gi is None:
        return
    fs = {**lbl, "device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"}
    size = fs_size_gi * 1024**3
    om.gauge("node_filesystem_size_bytes", "Filesystem size in bytes.", fs, size)
    avail = size * 0.55 if fs_avail is None else fs_avail
    om.gauge("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", fs,
             np.round(np.asarray(avail)))


def node_conditions(om: OM, node: str, flags: dict[str, np.ndarray | float] | None = None,
                    conditions=("Ready", "MemoryPressure", "DiskPressure")) -> None:
    """kube_node_status_condition with status true/false for Ready and the pressure conditions."""
    flags = flags or {}
    for cond in conditions:
        v = np.broadcast_to(np.asarray(flags.get(cond, 1.0 if cond == "Ready" else 0.0), dtype=float), (om.n,))
        for status, vals in (("true", v), ("false", 1 - v)):
            om.gauge("kube_node_status_condition", "The condition of a cluster node.",
                     {"node": node, "condition": cond, "status": status}, vals)


def blackbox(om: OM, target: str, module: str, success, duration, cert_expiry: float | None = None) -> None:
    lbl = {"instance": target, "job": f"blackbox-{module}"}
    om.gauge("probe_success", "Displays whether or not the probe was a success", lbl, success)
    om.gauge("probe_duration_seconds", "Returns how long the probe took to complete in seconds", lbl,
             np.round(np.asarray(duration, dtype=float), 6))
    if cert_expiry is not None:
        om.gauge("probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime", lbl, cert_expiry)
