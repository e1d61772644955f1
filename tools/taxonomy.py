"""Root-cause taxonomy v1 and action types v1: the one place both are defined."""
from __future__ import annotations

CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "oom_killed": "containers killed for exceeding their memory limit (OOMKilled, exit 137)",
    "config_error": "the workload's own command, config, script or env is wrong",
    "image_pull_error": "the image cannot be pulled (wrong tag, registry auth, registry down)",
    "bad_deploy": "a recent rollout introduced the failure",
    "cpu_throttling": "CPU limit throttles the container (CFS throttling) and slows it",
    "connection_pool_exhausted": "the application's connection pool (DB, HTTP) is saturated",
    "dependency_unavailable": "a downstream service or datastore the workload needs is down or refusing",
    "slow_query": "database queries got slow (locks, missing index, heavy batch)",
    "disk_full": "a volume or filesystem the workload writes to is full",
    "node_pressure": "a node is under memory, disk or PID pressure, or NotReady, and evicts or starves pods",
    "unschedulable": "pods stay Pending: no node fits (resources, taints, affinity, quota)",
    "certificate_expired": "a TLS certificate expired or is not yet valid",
    "dns_failure": "name resolution fails (CoreDNS, network policy, wrong search domain)",
    "probe_failure": "liveness/readiness probes fail although the process is working (probe misconfigured or too strict)",
    "traffic_spike": "load rose beyond what the current replicas can serve",
    "unknown": "the evidence does not support any cause with confidence",
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_DESCRIPTIONS)

# What a title shows: written for people, acronyms kept ("DNS failure", not "Dns Failure").
CATEGORY_LABELS: dict[str, str] = {
    "oom_killed": "OOM killed", "config_error": "Configuration error", "image_pull_error": "Image pull error",
    "bad_deploy": "Bad deploy", "cpu_throttling": "CPU throttling", "connection_pool_exhausted": "Connection pool exhausted",
    "dependency_unavailable": "Dependency unavailable", "slow_query": "Slow query", "disk_full": "Disk full",
    "node_pressure": "Node pressure", "unschedulable": "Unschedulable", "certificate_expired": "Certificate expired",
    "dns_failure": "DNS failure", "probe_failure": "Probe failure", "traffic_spike": "Traffic spike",
    "unknown": "Cause unknown",
}
assert set(CATEGORY_LABELS) == set(CATEGORIES)


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category.replace("_", " "))

ACTION_DESCRIPTIONS: dict[str, str] = {
    "restart_deployment": "rollout restart of a Deployment (annotation patch)",
    "scale_deployment": "set a Deployment's replicas within configured bounds",
    "rollback_deployment": "roll a Deployment back to the previous ReplicaSet revision's pod template",
    "delete_pod": "delete one pod so its controller recreates it",
    "cordon_node": "mark a node unschedulable (undo: uncordon)",
    "set_resources": "set a container's CPU/memory requests and limits",
    "none": "no catalog action fits; a human fix is needed",
}
ACTIONS: tuple[str, ...] = tuple(ACTION_DESCRIPTIONS)

# Default risk per action (LOW read-only, MEDIUM reversible, HIGH hard to reverse, CRITICAL
# cluster-wide or production-critical). Settings may raise them per namespace.
ACTION_RISK: dict[str, str] = {
    "restart_deployment": "MEDIUM",
    "scale_deployment": "MEDIUM",
    "delete_pod": "MEDIUM",
    "set_resources": "MEDIUM",
    "rollback_deployment": "HIGH",
    "cordon_node": "HIGH",
}
RISK_ORDER = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
