"""Named PromQL queries over the standard exporters (cAdvisor, kube-state-metrics,
node-exporter, kubelet, blackbox, CoreDNS, HTTP client libraries, HikariCP, postgres).

Each entry knows which filters it understands, how each filter maps onto the labels
of every metric it reads (a deployment is a pod-name prefix for cAdvisor, a label for
kube-state-metrics), and what "abnormal" means, so a result reads
"memory at 97.3% of limit (abnormal > 90%)" instead of a bare number.
Filter values are escaped; regex metacharacters are refused unless the value starts
with "~", which asks for a regex match explicitly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Sequence

FILTER_KEYS = ("namespace", "service", "pod", "container", "deployment", "node")
_REGEX_META = set("*+?()[]{}|^$\\")
_RE2_SPECIAL = set(".*+?()[]{}|^$\\")

# How each filter becomes a matcher on a given family of metrics: (label, kind).
# kind: "eq" exact, "pod_of" pods of a Deployment (<name>-<pod-template-hash>-<5-char suffix>),
# "contains" substring (probe URLs), "host" instance with optional :port.
Mapping_ = Mapping[str, tuple[str, str]]
POD: Mapping_ = {"namespace": ("namespace", "eq"), "pod": ("pod", "eq"),
                 "container": ("container", "eq"), "deployment": ("pod", "pod_of")}
HTTP: Mapping_ = {"namespace": ("namespace", "eq"), "service": ("service", "eq"), "pod": ("pod", "eq"),
                  "container": ("container", "eq"), "deployment": ("pod", "pod_of")}
DEPLOY: Mapping_ = {"namespace": ("namespace", "eq"), "deployment": ("deployment", "eq")}
NODE: Mapping_ = {"node": ("node", "eq")}
NODE_EXPORTER: Mapping_ = {"node": ("instance", "host")}
PVC: Mapping_ = {"namespace": ("namespace", "eq"), "node": ("node", "eq")}
PROBE: Mapping_ = {"service": ("instance", "contains")}
CERT_MANAGER: Mapping_ = {"namespace": ("namespace", "eq")}
APP_DB: Mapping_ = {"namespace": ("namespace", "eq"), "service": ("service", "eq"), "pod": ("pod", "eq"),
                    "deployment": ("pod", "pod_of")}
CLUSTER: Mapping_ = {}
# Metrics of the families above that belong to no namespace (nodes, node disks, CoreDNS,
# blackbox probes), like the k8s_nodes tool. Named queries may read them under a namespace
# allowlist; raw PromQL may not, since the guard only knows metric names, not how they are used.
CLUSTER_SCOPED = frozenset({
    "kube_node_status_condition", "node_filesystem_avail_bytes", "node_filesystem_size_bytes",
    "coredns_dns_responses_total", "coredns_dns_response_rcode_count_total",
    "probe_success", "probe_ssl_earliest_cert_expiry"})


class FilterError(ValueError):
    pass


def promql_string(value: str) -> str:
    """A double-quoted PromQL string literal holding value verbatim."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def re2_literal(value: str) -> str:
    """Escape value so an RE2 regex matches it literally."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in value)


def allowlist_matcher(namespaces: Sequence[str], label: str = "namespace") -> str:
    """`namespace=~"a|b"`: exactly the given namespaces (Prometheus anchors label regexes)."""
    return f"{label}=~{promql_string('|'.join(re2_literal(n) for n in namespaces))}"


@dataclass
class Filters:
    """Validated filter values; renders matchers per metric family."""

    values: dict[str, str] = field(default_factory=dict)
    # Applied as namespace=~"a|b" when no namespace was asked for and a family has one.
    namespace_allowlist: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, str | None], namespace_allowlist: tuple[str, ...] = ()) -> "Filters":
        values: dict[str, str] = {}
        for key, val in raw.items():
            if val is None or val == "":
                continue
            if key not in FILTER_KEYS:
                raise FilterError(f"unknown filter {key!r}; known: {', '.join(FILTER_KEYS)}")
            val = str(val)
            if val.startswith("~"):
                try:
                    re.compile(val[1:])
                except re.error as exc:
                    raise FilterError(f"filter {key}={val!r} is not a valid regex: {exc}") from None
            elif _REGEX_META & set(val):
                raise FilterError(f"filter {key}={val!r} contains regex metacharacters; "
                                  f"prefix it with '~' to match it as a regex")
            values[key] = val
        ns = values.get("namespace")
        if namespace_allowlist and ns is not None and (ns.startswith("~") or ns not in namespace_allowlist):
            raise FilterError(f"namespace {ns!r} is not in the allowed namespaces "
                              f"({', '.join(namespace_allowlist)})")
        return cls(values, tuple(namespace_allowlist))

    def has(self, key: str) -> bool:
        return key in self.values

    def matchers(self, mapping: Mapping_) -> list[str]:
        out: list[str] = []
        for key, (label, kind) in mapping.items():
            val = self.values.get(key)
            if val is None:
                if key == "namespace" and self.namespace_allowlist:
                    out.append(allowlist_matcher(self.namespace_allowlist, label))
                continue
            regex = val.startswith("~")
            pattern = val[1:] if regex else re2_literal(val)
            if kind == "eq":
                out.append(f"{label}=~{promql_string(pattern)}" if regex else f"{label}={promql_string(val)}")
            elif kind == "pod_of":
                out.append(f"{label}=~{promql_string(f'(?:{pattern})-[a-z0-9]{{1,10}}-[a-z0-9]{{5}}')}")
            elif kind == "contains":
                out.append(f"{label}=~{promql_string(f'.*(?:{pattern}).*')}")
            elif kind == "host":
                out.append(f"{label}=~{promql_string(f'(?:{pattern})(?::[0-9]+)?')}")
        return out

    def sel(self, metric: str, *fixed: str, on: Mapping_) -> str:
        parts = [*fixed, *self.matchers(on)]
        return f"{metric}{{{','.join(parts)}}}" if parts else metric


def _pct(v: float) -> str:
    return f"{v * 100:.1f}%"


def _secs(v: float) -> str:
    return f"{v * 1000:.0f}ms" if abs(v) < 1 else f"{v:.2f}s"


FORMATS: dict[str, Callable[[float], str]] = {
    "ratio": _pct,
    "seconds": _secs,
    "days": lambda v: f"{v:.1f} days",
    "count": lambda v: f"{v:.0f}",
    "per_second": lambda v: f"{v:.3g}/s",
    "bool": lambda v: "ok" if v >= 1 else "failing",
    "info": lambda v: "present",
}


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    build: Callable[[Filters, str], str]  # (filters, lookback like "60m") -> PromQL
    by: tuple[str, ...]  # labels identifying a row of the result
    filters: tuple[str, ...]
    unit: str
    phrase: str  # "{v}" is the formatted value; other fields are labels or parts
    abnormal_text: str
    threshold: float | None = None
    worse: Literal["high", "low"] = "high"
    # Overrides the threshold test when abnormality depends on labels (a reason, a condition).
    judge: Callable[[float, dict], bool] | None = None
    mode: Literal["range", "instant"] = "range"
    # Extra instant queries at "now" joined onto rows by `by` labels, e.g. replica counts.
    parts: Mapping[str, Callable[[Filters, str], str]] = field(default_factory=dict)
    # Counts what was examined, so an empty answer can say "healthy" instead of "no data".
    population: Callable[[Filters, str], str] | None = None

    def is_abnormal(self, value: float, labels: dict) -> bool:
        if self.judge is not None:
            return self.judge(value, labels)
        if self.threshold is None:
            return False
        return value > self.threshold if self.worse == "high" else value < self.threshold

    def fmt(self, value: float) -> str:
        return FORMATS[self.unit](value)


def _sum_rate(f: Filters, metric: str, *fixed: str, on: Mapping_, by: str) -> str:
    return f"sum by ({by}) (rate({f.sel(metric, *fixed, on=on)}[5m]))"


def _error_ratio(f: Filters, w: str) -> str:
    def one(metric: str, code_label: str) -> str:
        bad = _sum_rate(f, metric, f'{code_label}=~"5.."', on=HTTP, by="service")
        all_ = _sum_rate(f, metric, on=HTTP, by="service")
        # "or 0 * all" keeps services that served no 5xx at all (ratio 0, not missing).
        return f"(({bad} or 0 * {all_}) / {all_})"
    return f"{one('http_requests_total', 'code')} or {one('http_server_requests_seconds_count', 'status')}"


def _latency_p99(f: Filters, w: str) -> str:
    return " or ".join(
        f"histogram_quantile(0.99, {_sum_rate(f, m, on=HTTP, by='le, service')})"
        for m in ("http_request_duration_seconds_bucket", "http_server_requests_seconds_bucket"))


def _request_rate(f: Filters, w: str) -> str:
    return " or ".join(_sum_rate(f, m, on=HTTP, by="service")
                       for m in ("http_requests_total", "http_server_requests_seconds_count"))


_CTR = ('container!=""', 'container!="POD"')
_PCC = "namespace, pod, container"


def _throttling(f: Filters, w: str) -> str:
    return (f"{_sum_rate(f, 'container_cpu_cfs_throttled_periods_total', *_CTR, on=POD, by=_PCC)}"
            f" / {_sum_rate(f, 'container_cpu_cfs_periods_total', *_CTR, on=POD, by=_PCC)}")


def _limit(f: Filters, resource: str) -> str:
    sel = f.sel("kube_pod_container_resource_limits", f"resource={promql_string(resource)}", on=POD)
    return f"max by ({_PCC}) ({sel})"


def _cpu_vs_limit(f: Filters, w: str) -> str:
    return (f"{_sum_rate(f, 'container_cpu_usage_seconds_total', *_CTR, on=POD, by=_PCC)}"
            f" / on ({_PCC}) {_limit(f, 'cpu')}")


def _mem_vs_limit(f: Filters, w: str) -> str:
    return (f"max by ({_PCC}) ({f.sel('container_memory_working_set_bytes', *_CTR, on=POD)})"
            f" / on ({_PCC}) {_limit(f, 'memory')}")


def _restarts(f: Filters, w: str) -> str:
    return f"sum by ({_PCC}) (increase({f.sel('kube_pod_container_status_restarts_total', on=POD)}[{w}]))"


def _restarts_total(f: Filters, w: str) -> str:
    return f"max by ({_PCC}) ({f.sel('kube_pod_container_status_restarts_total', on=POD)})"


def _containers(f: Filters, w: str) -> str:
    return f"count(max by ({_PCC}) (last_over_time({f.sel('kube_pod_container_info', on=POD)}[{w}])))"


def _last_terminated(f: Filters, w: str) -> str:
    sel = f.sel("kube_pod_container_status_last_terminated_reason", on=POD)
    return f"max by ({_PCC}, reason) (max_over_time({sel}[{w}])) == 1"


def _waiting(f: Filters, w: str) -> str:
    # Current state only: a CrashLoopBackOff that ended an hour ago is history, not state.
    sel = f.sel("kube_pod_container_status_waiting_reason", on=POD)
    return f"max by ({_PCC}, reason) (max_over_time({sel}[5m])) == 1"


def _deploy(f: Filters, metric: str) -> str:
    return f"max by (namespace, deployment) ({f.sel(metric, on=DEPLOY)})"


def _replicas(f: Filters, w: str) -> str:
    return f"{_deploy(f, 'kube_deployment_status_replicas_available')} / {_deploy(f, 'kube_deployment_spec_replicas')}"


def _node_conditions(f: Filters, w: str) -> str:
    bad_pressure = f.sel("kube_node_status_condition", 'condition!="Ready"', 'status="true"', on=NODE)
    not_ready = f.sel("kube_node_status_condition", 'condition="Ready"', 'status!="true"', on=NODE)
    return (f"max by (node, condition, status) ({bad_pressure}) == 1"
            f" or max by (node, condition, status) ({not_ready}) == 1")


def _nodes(f: Filters, w: str) -> str:
    sel = f.sel("kube_node_status_condition", 'condition="Ready"', on=NODE)
    return f"count(max by (node) ({sel}))"


_REAL_FS = ('fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs"', 'mountpoint!~"/run.*|/var/lib/kubelet/.*"')


def _filesystem(f: Filters, w: str) -> str:
    pvc = (f"min by (namespace, persistentvolumeclaim) "
           f"({f.sel('kubelet_volume_stats_available_bytes', on=PVC)} "
           f"/ {f.sel('kubelet_volume_stats_capacity_bytes', on=PVC)})")
    if f.has("namespace"):  # node disks belong to no namespace
        return pvc
    node = (f"min by (instance, mountpoint) "
            f"({f.sel('node_filesystem_avail_bytes', *_REAL_FS, on=NODE_EXPORTER)} "
            f"/ {f.sel('node_filesystem_size_bytes', *_REAL_FS, on=NODE_EXPORTER)})")
    return f"{node} or {pvc}"


def _cert_expiry(f: Filters, w: str) -> str:
    # time() is the evaluation time, so a past "now" gives the days left at that moment.
    probe = f"min by (instance) ({f.sel('probe_ssl_earliest_cert_expiry', on=PROBE)} - time()) / 86400"
    cm = (f"min by (namespace, name) "
          f"({f.sel('certmanager_certificate_expiration_timestamp_seconds', on=CERT_MANAGER)} - time()) / 86400")
    if f.has("service"):  # cert-manager certificates carry no service label
        return probe
    if f.has("namespace"):  # probe targets belong to no namespace
        return cm
    return f"{probe} or {cm}"


def _db_connections(f: Filters, w: str) -> str:
    hikari = (f"sum by (namespace, pool) ({f.sel('hikaricp_connections_active', on=APP_DB)})"
              f" / sum by (namespace, pool) ({f.sel('hikaricp_connections_max', on=APP_DB)})")
    pg = (f"sum by (instance) ({f.sel('pg_stat_activity_count', on=APP_DB)})"
          f" / on (instance) max by (instance) ({f.sel('pg_settings_max_connections', on=APP_DB)})")
    return f"({hikari}) or ({pg})"


def _dns_errors(f: Filters, w: str) -> str:
    def one(metric: str) -> str:
        bad = f.sel(metric, 'rcode=~"SERVFAIL|NXDOMAIN|REFUSED"', on=CLUSTER)
        return (f"sum by (rcode) (rate({bad}[5m]))"
                f" / ignoring (rcode) group_left sum(rate({metric}[5m]))")
    return f"{one('coredns_dns_responses_total')} or {one('coredns_dns_response_rcode_count_total')}"


def _probe_success(f: Filters, w: str) -> str:
    return f"min by (instance) ({f.sel('probe_success', on=PROBE)})"


def _dns_judge(v: float, labels: dict) -> bool:
    # NXDOMAIN is routinely high in clusters (search-path expansion with ndots:5).
    return labels.get("rcode") in ("SERVFAIL", "REFUSED") and v > 0.01


def _keys(*mappings: Mapping_) -> tuple[str, ...]:
    return tuple(k for k in FILTER_KEYS if any(k in m for m in mappings))


ENTRIES: tuple[Entry, ...] = (
    Entry("error_ratio", "Share of HTTP requests answered 5xx per service (RED errors; "
          "http_requests_total{code} or Micrometer http_server_requests_seconds_count{status}).",
          _error_ratio, ("service",), _keys(HTTP), "ratio", "5xx ratio {v}", "abnormal > 5%", 0.05),
    Entry("latency_p99", "99th percentile HTTP latency per service from request-duration histograms.",
          _latency_p99, ("service",), _keys(HTTP), "seconds", "p99 latency {v}", "abnormal > 1s", 1.0),
    Entry("request_rate", "HTTP requests per second per service (RED rate).",
          _request_rate, ("service",), _keys(HTTP), "per_second", "{v} requests",
          "abnormal when traffic stops (0/s)", 0.0, "low", judge=lambda v, _: v <= 0),
    Entry("cpu_throttling_ratio", "Share of CFS periods in which the container was throttled (cAdvisor).",
          _throttling, ("namespace", "pod", "container"), _keys(POD), "ratio", "CPU throttled in {v} of periods",
          "abnormal > 25%", 0.25),
    Entry("cpu_usage_vs_limit", "Container CPU usage as a share of its CPU limit.",
          _cpu_vs_limit, ("namespace", "pod", "container"), _keys(POD), "ratio", "CPU at {v} of limit",
          "abnormal > 90%", 0.9),
    Entry("memory_vs_limit", "Container working-set memory as a share of its memory limit (OOM risk).",
          _mem_vs_limit, ("namespace", "pod", "container"), _keys(POD), "ratio", "memory at {v} of limit",
          "abnormal > 90%", 0.9),
    Entry("container_restarts", "Container restarts during the lookback window (kube-state-metrics).",
          _restarts, ("namespace", "pod", "container"), _keys(POD), "count",
          "{v} restarts in window ({restarts_total} total)", "abnormal > 0", 0.5, mode="instant",
          parts={"restarts_total": _restarts_total}, population=_containers),
    Entry("last_termination_reason", "Why containers last terminated (OOMKilled, Error, ...) within the window.",
          _last_terminated, ("namespace", "pod", "container", "reason"), _keys(POD), "info",
          "last terminated: {reason}", "abnormal: any reason other than Completed",
          judge=lambda v, lb: lb.get("reason") != "Completed", mode="instant", population=_containers),
    Entry("waiting_reason", "Containers currently waiting and why (CrashLoopBackOff, ImagePullBackOff, ...).",
          _waiting, ("namespace", "pod", "container", "reason"), _keys(POD), "info", "waiting: {reason}",
          "abnormal: any reason except ContainerCreating/PodInitializing",
          judge=lambda v, lb: lb.get("reason") not in ("ContainerCreating", "PodInitializing"),
          mode="instant", population=_containers),
    Entry("replicas_available_vs_desired", "Available replicas of each Deployment over its desired replicas.",
          _replicas, ("namespace", "deployment"), _keys(DEPLOY), "ratio",
          "{available}/{desired} replicas available ({v})", "abnormal < 100%", 1.0, "low",
          parts={"available": lambda f, w: _deploy(f, "kube_deployment_status_replicas_available"),
                 "desired": lambda f, w: _deploy(f, "kube_deployment_spec_replicas")}),
    Entry("node_conditions", "Node conditions that are not healthy: pressure conditions true, or Ready not true.",
          _node_conditions, ("node", "condition", "status"), _keys(NODE), "info", "{condition}={status}",
          "abnormal: MemoryPressure/DiskPressure/PIDPressure/NetworkUnavailable true, or Ready false/unknown",
          judge=lambda v, lb: True, mode="instant", population=_nodes),
    Entry("filesystem_free", "Free space share of node filesystems (node-exporter) and PVCs (kubelet).",
          _filesystem, ("instance", "mountpoint", "namespace", "persistentvolumeclaim"), _keys(NODE_EXPORTER, PVC),
          "ratio", "{v} free", "abnormal < 10% free", 0.10, "low"),
    Entry("certificate_expiry", "Days until TLS certificates expire (blackbox probes, cert-manager).",
          _cert_expiry, ("instance", "namespace", "name"), _keys(PROBE, CERT_MANAGER), "days",
          "certificate expires in {v}", "abnormal < 14 days", 14.0, "low", mode="instant"),
    Entry("db_connections", "Database connection pool use: HikariCP active/max, postgres activity/max_connections.",
          _db_connections, ("namespace", "pool", "instance"), _keys(APP_DB), "ratio",
          "connections at {v} of max", "abnormal > 90%", 0.9),
    Entry("dns_errors", "Share of CoreDNS responses that are SERVFAIL/NXDOMAIN/REFUSED, per rcode.",
          _dns_errors, ("rcode",), (), "ratio", "{rcode} {v} of responses",
          "abnormal: SERVFAIL or REFUSED > 1% (NXDOMAIN is informational)", judge=_dns_judge),
    Entry("probe_success", "Blackbox probe result per target (1 ok, 0 failing).",
          _probe_success, ("instance",), _keys(PROBE), "bool", "probe {v}", "abnormal when a probe fails",
          1.0, "low"),
)

CATALOG: dict[str, Entry] = {e.name: e for e in ENTRIES}
