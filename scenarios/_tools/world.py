"""A small simulated cluster: nodes, workloads, pods with container runs, events and log lines.

Bundle definitions describe *what happened* (rollouts, crashes, evictions); this module turns
that into consistent Kubernetes objects, Fluent Bit documents and pod log files, so that the
same pod names, restart counts and timestamps appear in every source of a bundle.
"""
from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
# Kubernetes' SafeEncodeString alphabet, used for pod-template-hash and pod name suffixes.
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Events expire from the API after the default --event-ttl of one hour.
EVENT_TTL = timedelta(hours=1)


def rfc3339(t: datetime, ms: bool = False) -> str:
    t = t.astimezone(UTC)
    if ms:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def mins(n: float) -> timedelta:
    return timedelta(minutes=n)


def secs(n: float) -> timedelta:
    return timedelta(seconds=n)


class Rng(random.Random):
    def token(self, n: int) -> str:
        return "".join(self.choice(HASH_ALPHABET) for _ in range(n))

    def hex(self, n: int) -> str:
        return "".join(self.choice("0123456789abcdef") for _ in range(n))

    def uid(self) -> str:
        return str(uuid.UUID(int=self.getrandbits(128), version=4))


@dataclass
class Run:
    """One container instance: started, maybe terminated, with the lines it wrote."""

    start: datetime
    end: datetime | None = None
    reason: str | None = None
    exit_code: int | None = None
    container_id: str = ""
    lines: list[tuple[datetime, str, str]] = field(default_factory=list)

    def covers(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class Container:
    spec: dict
    runs: list[Run] = field(default_factory=list)
    waiting: tuple[str, str] | None = None  # (reason, message) while not running
    image_id: str = ""
    ready_override: bool | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def image(self) -> str:
        return self.spec["image"]

    def running_at(self, t: datetime) -> bool:
        return any(r.covers(t) for r in self.runs)


@dataclass
class Pod:
    name: str
    namespace: str
    uid: str
    labels: dict
    created: datetime
    containers: list[Container]
    node: str | None
    ip: str | None
    owner: dict | None = None
    spec_extra: dict = field(default_factory=dict)
    restart_policy: str = "Always"
    ended: datetime | None = None      # deleted (rollout, scale-down): absent from the API at `now`
    evicted: tuple[datetime, str] | None = None
    unschedulable: str | None = None   # scheduler message while Pending
    workload: str = ""                 # deployment / job / statefulset name, for metric labels

    def container(self, name: str | None = None) -> Container:
        if name is None:
            return self.containers[0]
        return next(c for c in self.containers if c.name == name)

    def alive_at(self, t: datetime) -> bool:
        end = self.ended or (self.evicted[0] if self.evicted else None)
        return self.created <= t and (end is None or t < end)


@dataclass
class Revision:
    number: int
    tag: str
    created: datetime
    hash: str
    template: dict
    pods: list[Pod] = field(default_factory=list)
    uid: str = ""

    def rs_name(self, dep: str) -> str:
        return f"{dep}-{self.hash}"


@dataclass
class Deployment:
    name: str
    namespace: str
    replicas: int
    labels: dict
    revisions: list[Revision]
    created: datetime
    uid: str
    strategy: dict
    stuck_since: datetime | None = None

    @property
    def current(self) -> Revision:
        return self.revisions[-1]

    def live_pods(self, now: datetime) -> list[Pod]:
        return [p for r in self.revisions for p in r.pods if p.alive_at(now)]


def cpu_cores(q: str | None) -> float | None:
    if q is None:
        return None
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def mem_bytes(q: str | None) -> int | None:
    if q is None:
        return None
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "K": 1000, "M": 10**6, "G": 10**9}
    for suffix, mult in units.items():
        if q.endswith(suffix):
            return int(float(q[: -len(suffix)]) * mult)
    return int(q)


def container_spec(name: str, image: str, *, port: int | None = 8080, cpu: str = "100m", memory: str = "128Mi",
                   cpu_limit: str | None = None, memory_limit: str | None = None, env: dict | None = None,
                   env_from_secret: dict | None = None, liveness: dict | None = None, readiness: dict | None = None,
                   args: list[str] | None = None, command: list[str] | None = None, volume_mounts: list | None = None) -> dict:
    spec: dict = {"name": name, "image": image}
    if command:
        spec["command"] = command
    if args:
        spec["args"] = args
    if port:
        spec["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    envs = [{"name": k, "value": str(v)} for k, v in (env or {}).items()]
    for var, (secret, key) in (env_from_secret or {}).items():
        envs.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    if envs:
        spec["env"] = envs
    res: dict = {"requests": {"cpu": cpu, "memory": memory}}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit)) if v}
    if limits:
        res["limits"] = limits
    spec["resources"] = res
    for key, probe in (("livenessProbe", liveness), ("readinessProbe", readiness)):
        if probe:
            spec[key] = probe
    if volume_mounts:
        spec["volumeMounts"] = volume_mounts
    spec.update({"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File"})
    return spec


def http_probe(path: str, port: int = 8080, *, period: int = 10, timeout: int = 1, failure: int = 3,
               initial: int = 0) -> dict:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTP"}, "initialDelaySeconds": initial,
            "periodSeconds": period, "timeoutSeconds": timeout, "successThreshold": 1, "failureThreshold": failure}


class World:
    def __init__(self, now: str, seed: int, cluster: str, window_hours: float = 3.0):
        self.now = at(now)
        self.start = self.now - timedelta(hours=window_hours)
        self.rng = Rng(seed)
        self.cluster = cluster
        self.nodes: list[dict] = []
        self.node_conditions: dict[str, dict[str, tuple[str, str, str, datetime]]] = {}
        self.deployments: list[Deployment] = []
        self.pods: list[Pod] = []
        self.events: list[dict] = []
        self.objects: list[dict] = []   # Services, Jobs, CronJobs and anything built by hand
        self._next_node = 0
        self._rv = 4_300_000 + self.rng.randrange(900_000)

    # -- identities -------------------------------------------------------------------------
    def rv(self) -> str:
        self._rv += self.rng.randrange(3, 400)
        return str(self._rv)

    def digest(self) -> str:
        return "sha256:" + self.rng.hex(64)

    # -- nodes ------------------------------------------------------------------------------
    def node(self, name: str, *, cpu: int = 8, memory_gi: int = 32, zone: str = "eu-west-1a",
             instance_type: str = "m6i.2xlarge", created: datetime | None = None, role: str | None = None,
             taints: list | None = None, unschedulable: bool = False, labels: dict | None = None) -> dict:
        idx = len(self.nodes)
        ip = f"10.0.{16 + idx * 3}.{20 + self.rng.randrange(200)}"
        created = created or self.now - timedelta(days=20 + self.rng.randrange(40))
        alloc_mem = memory_gi * 1024 * 1024 - 1_700_000 - memory_gi * 60_000
        lbl = {"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
               "node.kubernetes.io/instance-type": instance_type, "topology.kubernetes.io/zone": zone,
               "topology.kubernetes.io/region": zone[:-1]}
        if role:
            lbl[f"node-role.kubernetes.io/{role}"] = ""
        lbl.update(labels or {})
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": self.rng.uid(), "resourceVersion": self.rv(),
                         "creationTimestamp": rfc3339(created), "labels": lbl,
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": f"10.244.{idx}.0/24", "podCIDRs": [f"10.244.{idx}.0/24"],
                     "providerID": f"aws:///{zone}/i-0{self.rng.hex(16)}"},
            "status": {
                "capacity": {"cpu": str(cpu), "memory": f"{memory_gi * 1024 * 1024}Ki", "pods": "58",
                             "ephemeral-storage": "104845292Ki"},
                "allocatable": {"cpu": f"{cpu * 1000 - 90 - cpu * 10}m", "memory": f"{alloc_mem}Ki", "pods": "58",
                                "ephemeral-storage": "95551679124"},
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "nodeInfo": {"kubeletVersion": "v1.29.8-eks-a737599", "kubeProxyVersion": "v1.29.8-eks-a737599",
                             "containerRuntimeVersion": "containerd://1.7.20", "operatingSystem": "linux",
                             "architecture": "amd64", "osImage": "Amazon Linux 2",
                             "kernelVersion": "5.10.225-213.878.amzn2.x86_64"},
            },
        }
        if taints:
            node["spec"]["taints"] = taints
        if unschedulable:
            node["spec"]["unschedulable"] = True
        node["_idx"] = idx
        node["_ip"] = ip
        node["_created"] = created
        self.nodes.append(node)
        self.node_conditions[name] = {}
        return node

    def node_condition(self, node: str, cond: str, status: str, reason: str, message: str, since: datetime) -> None:
        self.node_conditions[node][cond] = (status, reason, message, since)

    def _pick_node(self, exclude: set[str] = frozenset()) -> dict:
        workers = [n for n in self.nodes if not n["spec"].get("taints") and n["metadata"]["name"] not in exclude
                   and not n["spec"].get("unschedulable")]
        n = workers[self._next_node % len(workers)]
        self._next_node += 1
        return n

    def _pod_ip(self, node: dict) -> str:
        return f"10.244.{node['_idx']}.{2 + self.rng.randrange(250)}"

    # -- pods -------------------------------------------------------------------------------
    def new_pod(self, name: str, namespace: str, labels: dict, created: datetime, specs: list[dict], *,
                owner: dict | None = None, node: str | None = None, workload: str = "",
                restart_policy: str = "Always", spec_extra: dict | None = None, start: bool = True,
                unschedulable: str | None = None, avoid_nodes: set[str] = frozenset()) -> Pod:
        node_obj = None
        if unschedulable is None:
            node_obj = next(n for n in self.nodes if n["metadata"]["name"] == node) if node else self._pick_node(avoid_nodes)
        containers = []
        for i, spec in enumerate(specs):
            c = Container(spec=copy.deepcopy(spec), image_id=spec["image"].rsplit(":", 1)[0] + "@" + self.digest())
            if start and node_obj is not None:
                c.runs.append(Run(start=created + secs(3 + i + self.rng.random() * 4),
                                  container_id="containerd://" + self.rng.hex(64)))
            containers.append(c)
        pod = Pod(name=name, namespace=namespace, uid=self.rng.uid(), labels=dict(labels), created=created,
                  containers=containers, node=node_obj["metadata"]["name"] if node_obj else None,
                  ip=self._pod_ip(node_obj) if node_obj else None, owner=owner, workload=workload,
                  restart_policy=restart_policy, spec_extra=dict(spec_extra or {}), unschedulable=unschedulable)
        self.pods.append(pod)
        return pod

    def pod(self, name: str) -> Pod:
        return next(p for p in self.pods if p.name == name)

    # -- deployments ------------------------------------------------------------------------
    def deployment(self, name: str, namespace: str, *, image: str, history: list[tuple[str, datetime]],
                   replicas: int, container: dict, labels: dict | None = None, sidecars: list[dict] | None = None,
                   live: dict[int, int] | None = None, spec_extra: dict | None = None,
                   template_env: dict[int, dict] | None = None, pods_created: list[datetime] | None = None,
                   max_surge: str = "25%", max_unavailable: str = "25%") -> Deployment:
        """Build a Deployment with one ReplicaSet per (tag, created) in history.

        `live` maps revision index (negative allowed) to its number of running pods; by default the
        newest revision owns all replicas. Revisions replaced inside the window leave "ghost" pods:
        gone from the API but present in metrics and logs until the rollout replaced them.
        """
        labels = {"app": name, "app.kubernetes.io/name": name, **(labels or {})}
        revisions: list[Revision] = []
        base_rev = 1 + self.rng.randrange(3, 30)
        for i, (tag, created) in enumerate(history):
            spec = copy.deepcopy(container)
            spec["image"] = f"{image}:{tag}"
            for k, v in (template_env or {}).get(i if i >= 0 else i + len(history), {}).items():
                spec.setdefault("env", []).append({"name": k, "value": v})
            tmpl_spec = {"containers": [spec, *copy.deepcopy(sidecars or [])], "restartPolicy": "Always",
                         "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "serviceAccountName": name, "schedulerName": "default-scheduler",
                         "securityContext": {}, **copy.deepcopy(spec_extra or {})}
            h = self.rng.token(9 + self.rng.randrange(2))
            template = {"metadata": {"labels": {**labels, "pod-template-hash": h}}, "spec": tmpl_spec}
            revisions.append(Revision(number=base_rev + i, tag=tag, created=created, hash=h, template=template,
                                      uid=self.rng.uid()))
        dep = Deployment(name=name, namespace=namespace, replicas=replicas, labels=labels, revisions=revisions,
                         created=history[0][1] - timedelta(days=30 + self.rng.randrange(200)), uid=self.rng.uid(),
                         strategy={"type": "RollingUpdate",
                                   "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}})
        live = {len(history) - 1: replicas} if live is None else {k % len(history): v for k, v in live.items()}
        for i, rev in enumerate(revisions):
            owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rev.rs_name(name), "uid": rev.uid,
                     "controller": True, "blockOwnerDeletion": True}
            nxt = revisions[i + 1].created if i + 1 < len(revisions) else None
            count = live.get(i, 0)
            ghost = 0
            if nxt is not None and nxt > self.start:
                ghost = replicas - count  # replaced during the window: keep them for metrics/logs
            for k in range(count + ghost):
                created = rev.created + secs(25 * k + self.rng.randrange(8))
                if pods_created and i == len(revisions) - 1 and k < len(pods_created):
                    created = pods_created[k]
                pod = self.new_pod(f"{rev.rs_name(name)}-{self.rng.token(5)}", namespace,
                                   rev.template["metadata"]["labels"], created,
                                   rev.template["spec"]["containers"], owner=owner, workload=name,
                                   spec_extra={k2: v for k2, v in rev.template["spec"].items() if k2 != "containers"})
                if k >= count:  # ghost
                    pod.ended = (nxt or self.now) + secs(30 * (k - count) + 20 + self.rng.randrange(10))
                    for c in pod.containers:
                        for r in c.runs:
                            if r.end is None:
                                r.end, r.reason, r.exit_code = pod.ended, "Completed", 0
                rev.pods.append(pod)
        self.deployments.append(dep)
        return dep

    def dep(self, name: str) -> Deployment:
        return next(d for d in self.deployments if d.name == name)

    # -- container histories -------------------------------------------------------------------
    def crashloop(self, pod: Pod, first_failure: datetime, run_seconds, *, reason: str, exit_code: int,
                  container: str | None = None, message: str | None = None, backoff_cap: float = 300.0) -> None:
        """Replace the container's history from first_failure on with crash/backoff/restart cycles.

        run_seconds: a number or callable(i) giving each new instance's lifetime; the kubelet doubles
        its restart back-off from 10s up to 5 minutes.
        """
        c = pod.container(container)
        first = c.runs[-1] if c.runs else Run(start=pod.created + secs(4), container_id="containerd://" + self.rng.hex(64))
        if not c.runs:
            c.runs.append(first)
        first.end, first.reason, first.exit_code = first_failure, reason, exit_code
        t = first_failure
        delay, i = 10.0, 0
        while True:
            start = t + secs(delay + 1 + self.rng.random())
            if start >= self.now:
                c.waiting = ("CrashLoopBackOff",
                             message or f"back-off {_dur(delay)} restarting failed container={c.name} "
                                        f"pod={pod.name}_{pod.namespace}({pod.uid})")
                break
            life = run_seconds(i) if callable(run_seconds) else run_seconds
            run = Run(start=start, container_id="containerd://" + self.rng.hex(64))
            c.runs.append(run)
            end = start + secs(life)
            if end >= self.now:
                break
            run.end, run.reason, run.exit_code = end, reason, exit_code
            t = end
            delay = 10.0 if life >= 600 else min(delay * 2, backoff_cap)
            i += 1

    def rescheduled(self, pod: Pod, when: datetime, node: str | None = None) -> Pod:
        """The controller replaced `pod` at `when` (drain, eviction): the old one becomes a ghost on
        its old node and `pod` becomes the replacement, created at `when` on another node."""
        ghost = copy.deepcopy(pod)
        ghost.name, ghost.uid, ghost.ended = pod.name, pod.uid, when
        for c in ghost.containers:
            for r in c.runs:
                if r.end is None or r.end > when:
                    r.end, r.reason, r.exit_code = when, "Completed", 0
        self.pods.append(ghost)
        old_node = pod.node
        target = next(n for n in self.nodes if n["metadata"]["name"] == node) if node else self._pick_node({old_node})
        pod.name = pod.name[: pod.name.rfind("-") + 1] + self.rng.token(5)
        pod.uid, pod.created, pod.node = self.rng.uid(), when + secs(1), target["metadata"]["name"]
        pod.ip = self._pod_ip(target)
        for c in pod.containers:
            c.runs = [Run(start=when + secs(4 + self.rng.random() * 3), container_id="containerd://" + self.rng.hex(64))]
        for d in self.deployments:
            for r in d.revisions:
                if pod in r.pods:
                    r.pods.append(ghost)
        return ghost

    def never_started(self, pod: Pod, reason: str, message: str, container: str | None = None) -> None:
        c = pod.container(container)
        c.runs.clear()
        c.waiting = (reason, message)

    # -- logs -------------------------------------------------------------------------------
    def log(self, pod: Pod, t: datetime, text: str, container: str | None = None, stream: str = "stdout") -> bool:
        c = pod.container(container)
        for r in c.runs:
            if r.covers(t) or (r.end is not None and t == r.end):
                r.lines.append((t, text, stream))
                return True
        return False

    def chatter(self, pod: Pod, every: tuple[float, float], make, container: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> None:
        """Periodic lines from make(t, rng) -> str | (str, stream) | None over each run of the container."""
        c = pod.container(container)
        lo = max(since or self.start, self.start)
        for r in c.runs:
            t = max(r.start + secs(2), lo)
            stop = min(x for x in (r.end, until, self.now) if x is not None)
            while t < stop:
                out = make(t, self.rng)
                if out:
                    text, stream = (out, "stdout") if isinstance(out, str) else out
                    r.lines.append((t, text, stream))
                t += secs(self.rng.uniform(*every))

    def on_runs(self, pod: Pod, make, container: str | None = None, at_end: bool = False) -> None:
        """Lines written at every instance start (or end).

        make(anchor, rng, index) -> [(offset_s, text | callable(t) -> text, stream)]; a callable gets
        the line's own time so timestamps inside the text match the document's.
        """
        c = pod.container(container)
        for idx, r in enumerate(c.runs):
            anchor = r.end if at_end else r.start
            if anchor is None or anchor > self.now:
                continue
            for off, text, stream in make(anchor, self.rng, idx):
                t = anchor + secs(off)
                if t <= self.now and (r.end is None or t <= r.end) and t >= r.start:
                    r.lines.append((t, text(t) if callable(text) else text, stream))

    # -- events -----------------------------------------------------------------------------
    def event(self, obj: dict, reason: str, message: str, *, first: datetime, last: datetime | None = None,
              count: int = 1, type: str = "Normal", component: str = "kubelet", host: str | None = None,
              field_path: str | None = None) -> None:
        last = last or first
        inv = {k: v for k, v in obj.items() if v is not None}
        if field_path:
            inv["fieldPath"] = field_path
        ns = inv.get("namespace", "default")
        self.events.append({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{inv['name']}.{self.rng.hex(16)}", "namespace": ns, "uid": self.rng.uid(),
                         "resourceVersion": self.rv(), "creationTimestamp": rfc3339(first)},
            "involvedObject": inv, "reason": reason, "message": message,
            "source": {"component": component, **({"host": host} if host else {})},
            "firstTimestamp": rfc3339(first), "lastTimestamp": rfc3339(last), "count": count, "type": type,
            "eventTime": None, "reportingComponent": component, "reportingInstance": host or "",
        })

    @staticmethod
    def ref(pod: Pod) -> dict:
        return {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid, "apiVersion": "v1"}

    def ref_of(self, kind: str, namespace: str | None, name: str, api: str = "v1", uid: str | None = None) -> dict:
        return {"kind": kind, "namespace": namespace, "name": name, "uid": uid or self.rng.uid(), "apiVersion": api}

    def service(self, name: str, namespace: str, port: int = 80, target: int | str = "http",
                selector: dict | None = None, type: str = "ClusterIP") -> dict:
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace, "uid": self.rng.uid(), "resourceVersion": self.rv(),
                            "creationTimestamp": rfc3339(self.now - timedelta(days=90 + self.rng.randrange(300))),
                            "labels": {"app": name}},
               "spec": {"type": type, "clusterIP": f"172.20.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}",
                        "selector": selector or {"app": name},
                        "ports": [{"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}]},
               "status": {"loadBalancer": {}}}
        svc["spec"]["clusterIPs"] = [svc["spec"]["clusterIP"]]
        self.objects.append(svc)
        return svc


def _dur(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}m{s % 60}s" if s >= 60 else f"{s}s"
