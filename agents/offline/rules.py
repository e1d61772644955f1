"""Every category's rule, in taxonomy order. Each rule looks at every candidate (workload, node, ...),
scores the evidence 0..1 (counter-evidence lowers it), weights it by closeness to the alert and
returns its best hypothesis. Rules read general signals only (termination reasons, exit codes,
probe events, rollout timing, log signatures, saturation metrics), never particular names.
"""
from __future__ import annotations

from agents.offline.rules_change import bad_deploy
from agents.offline.rules_infra import certificate_expired, disk_full, dns_failure, node_pressure
from agents.offline.rules_load import (connection_pool_exhausted, cpu_throttling, dependency_unavailable, slow_query,
                                       traffic_spike)
from agents.offline.rules_config import config_error
from agents.offline.rules_pod import image_pull_error, oom_killed, probe_failure, unschedulable

RULES = (oom_killed, config_error, image_pull_error, bad_deploy, cpu_throttling, connection_pool_exhausted,
         dependency_unavailable, slow_query, disk_full, node_pressure, unschedulable, certificate_expired,
         dns_failure, probe_failure, traffic_spike)

__all__ = ["RULES", *(r.__name__ for r in RULES)]
