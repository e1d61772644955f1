"""Typed facts the rules read, each remembering the tool call it came from (for evidence lines)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Ref:
    tool: str
    query: str


@dataclass
class Container:
    name: str
    image: str = ""
    state: str | None = None          # running | waiting | terminated
    reason: str | None = None         # current waiting/terminated reason
    message: str | None = None
    exit_code: int | None = None
    last_reason: str | None = None    # lastState.terminated
    last_exit: int | None = None
    last_finished: datetime | None = None
    restarts: int = 0
    ready: bool = True
    limits: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)
    init: bool = False                # an init container: it must finish before the app starts
    ports: list[int] = field(default_factory=list)
    last_message: str | None = None   # lastState.terminated.message (the termination log)

    @property
    def termination(self) -> tuple[str | None, int | None]:
        """The most recent termination: the current one if terminated, else lastState."""
        if self.state == "terminated":
            return self.reason, self.exit_code
        return self.last_reason, self.last_exit


@dataclass
class Pod:
    name: str
    namespace: str
    workload: str
    kind: str = "Deployment"
    owner_rs: str | None = None       # ReplicaSet name (k8s) or template hash (from the name)
    node: str | None = None
    phase: str = "Running"
    reason: str | None = None         # pod-level (Evicted, ...)
    message: str | None = None
    ready: bool = True
    restarts: int = 0
    started: datetime | None = None
    containers: list[Container] = field(default_factory=list)
    unschedulable: str | None = None
    stuck_pending: bool = False       # Pending past the tool's grace with no scheduling verdict recorded
    uses: dict[str, list[str]] = field(default_factory=dict)   # configmaps, secrets, pvcs it reads
    config_hosts: list[str] = field(default_factory=list)      # hosts its env and arguments name
    ref: Ref | None = None

    def waiting_reasons(self) -> set[str]:
        return {c.reason for c in self.containers if c.state == "waiting" and c.reason}

    def terminations(self) -> list[tuple[str | None, int | None]]:
        return [c.termination for c in self.containers if c.termination != (None, None)]


@dataclass
class Revision:
    number: int | None
    rs: str
    created: datetime | None
    images: dict[str, str]
    replicas: int = 0
    ready: int = 0
    changes: list[str] = field(default_factory=list)     # what this revision changed in the pod template
    restart_only: bool = False                           # only `kubectl rollout restart` (restartedAt)


@dataclass
class Workload:
    name: str
    namespace: str
    kind: str = "Deployment"
    desired: int | None = None
    available: int | None = None
    revisions: list[Revision] = field(default_factory=list)   # newest first
    problems: list[str] = field(default_factory=list)
    ref: Ref | None = None


@dataclass
class Event:
    type: str
    reason: str
    kind: str
    name: str
    message: str
    count: int
    first: datetime | None
    last: datetime | None
    namespace: str
    ref: Ref | None = None


@dataclass
class Node:
    name: str
    ready: str = "True"
    problems: list[str] = field(default_factory=list)
    pressure: list[str] = field(default_factory=list)     # MemoryPressure, DiskPressure, ... that are True
    since: datetime | None = None
    allocatable: dict[str, str] = field(default_factory=dict)
    tainted: bool = False
    taints: list[str] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # condition type -> message when unhealthy
    load: dict[str, Any] = field(default_factory=dict)      # k8s_nodes(name=...): pods vs allocatable...
    ref: Ref | None = None


@dataclass
class Job:
    name: str
    namespace: str
    workload: str                      # CronJob name when owned by one
    status: str = "Running"
    failed: int = 0
    problems: list[str] = field(default_factory=list)
    reason: str | None = None          # the Failed condition's reason (BackoffLimitExceeded, DeadlineExceeded)
    start: datetime | None = None
    cron_created: datetime | None = None
    cron_last_success: datetime | None = None
    command: str | None = None
    succeeded: int = 0
    changes: list[str] = field(default_factory=list)   # its CronJob's template changes since the last success
    ref: Ref | None = None


@dataclass
class Row:
    """One series of a named query (or anomaly summary)."""
    name: str
    labels: dict[str, str]
    value: float | None
    peak: float | None = None
    state: str = "normal"
    since: datetime | None = None
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    ref: Ref | None = None


@dataclass
class LogHit:
    """A log template classified into a signal class."""
    cls: str
    template: str
    count: int
    first: datetime | None
    last: datetime | None
    example: str
    pods: list[str]                    # pods of the result it came from (all pods if unscoped)
    namespace: str | None
    scoped_pod: str | None = None      # set when the query itself was for one pod
    previous: bool = False             # from a crashed instance's log
    key: str = ""                      # which gather step asked for it (sweep_infra, class:dns, pod, ...)
    ref: Ref | None = None


@dataclass
class Policy:
    """A NetworkPolicy as k8s_network_policies reads it."""
    name: str
    namespace: str
    created: datetime | None
    selects: list[str]                 # pod names
    egress: list[str] = field(default_factory=list)
    allows_dns: bool | None = None     # None: the policy does not restrict egress
    ref: Ref | None = None
