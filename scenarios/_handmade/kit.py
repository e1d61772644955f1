"""Builder for the handmade evaluation set (scenarios/handmade, issue 14).

Unlike scenarios/_tools (which simulates a world and renders it), every object here is declared by a
story in stories/: the Kubernetes objects as the API server would return them, the lines each container
wrote (Fluent Bit documents and `kubectl logs` files) and a few OpenMetrics series. Times are minutes
before the bundle's `now`. Error text follows the public sources each story cites in its rationale.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

WINDOW_MIN = 180  # metrics cover now-3h ... now at 60 s steps (format v1)
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names
_FILES = {"Deployment": "deployments", "ReplicaSet": "replicasets", "Pod": "pods", "Event": "events",
          "Node": "nodes", "Service": "services", "Job": "jobs", "CronJob": "cronjobs", "ConfigMap": "configmaps",
          "StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "PersistentVolumeClaim": "pvcs",
          "NetworkPolicy": "networkpolicies"}
_API = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
        "Job": "batch/v1", "CronJob": "batch/v1", "NetworkPolicy": "networking.k8s.io/v1"}


def ctr(name: str, image: str, *, cpu: str | None = None, mem: str | None = None, cpu_limit: str | None = None,
        mem_limit: str | None = None, gpu: int | None = None, **spec: Any) -> dict:
    """A container spec; extra keyword arguments (command, args, env, ports, livenessProbe...) are copied."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", mem_limit)) if v}
    if gpu:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpu)
    out = {"name": name, "image": image, **spec, "resources": {}}
    if requests:
        out["resources"]["requests"] = requests
    if limits:
        out["resources"]["limits"] = limits
    out.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log",
               terminationMessagePolicy="File")
    return out


def env(**values: str) -> list[dict]:
    return [{"name": k, "value": v} for k, v in values.items()]


# -- container states (kubectl describe: State / Last State) --------------------------------------
@dataclass
class Ended:
    """A terminated container run: `state.terminated` or `lastState.terminated`."""
    exit_code: int
    reason: str
    started: float  # minutes ago
    finished: float
    message: str | None = None


@dataclass
class Running:
    since: float
    restarts: int = 0
    last: Ended | None = None
    ready: bool = True


@dataclass
class Waiting:
    reason: str  # CrashLoopBackOff, ImagePullBackOff, ErrImagePull, ContainerCreating, CreateContainerConfigError
    message: str | None = None
    restarts: int = 0
    last: Ended | None = None


@dataclass
class Done:
    """A container that ended and stays ended (Job pods: restartPolicy Never)."""
    run: Ended


State = Running | Waiting | Done


@dataclass
class Workload:
    kind: str
    namespace: str
    name: str
    labels: dict
    containers: list[dict]
    owner: tuple[str, str]  # controller of its pods: (kind, name)
    pod_prefix: str
    volumes: list = field(default_factory=list)
    replicasets: list[str] = field(default_factory=list)  # a Deployment's, oldest revision first


@dataclass
class _PodMeta:
    namespace: str
    labels: dict
    host: str
    uid: str
    images: dict[str, str]


class Bundle:
    def __init__(self, id: str, title: str, now: str, expected: dict, *, alert: dict | None = None,
                 message: str | None = None):
        self.id, self.title, self.expected = id, title, dict(expected)
        self.now = datetime.fromisoformat(now.replace("Z", "+00:00"))
        self.alert, self.message = alert, message
        self.objects: dict[str, list[dict]] = {}
        self.docs: list[dict] = []
        self.pod_logs: dict[str, str] = {}
        self.families: dict[str, tuple[str, str, list]] = {}
        self._pods: dict[str, _PodMeta] = {}
        self._node_ips: dict[str, str] = {}

    # -- time and names ------------------------------------------------------------------------
    def at(self, minutes_ago: float) -> datetime:
        return self.now - timedelta(minutes=minutes_ago)

    def ts(self, minutes_ago: float, ms: bool = False) -> str:
        t = self.at(minutes_ago).astimezone(timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond // 1000:03d}" if ms else "") + "Z"

    def hash(self, n: int, *parts: Any) -> str:
        digest = hashlib.sha256("/".join(map(str, (self.id, *parts))).encode()).digest()
        return "".join(_SUFFIX[b % len(_SUFFIX)] for b in digest[:n])

    def uid(self, *parts: Any) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, (self.id, *parts)))))

    def _meta(self, kind: str, name: str, namespace: str | None, created: float, **extra: Any) -> dict:
        meta = {"name": name, **({"namespace": namespace} if namespace else {}), "uid": self.uid(kind, namespace, name),
                "resourceVersion": str(4_000_000 + int(self.hash(4, kind, name), 36) % 900_000),
                "creationTimestamp": self.ts(created)}
        meta.update({k: v for k, v in extra.items() if v})
        return meta

    def add(self, obj: dict) -> dict:
        obj = {"apiVersion": _API.get(obj["kind"], "v1"), **obj}
        self.objects.setdefault(_FILES[obj["kind"]], []).append(obj)
        return obj

    # -- cluster objects -----------------------------------------------------------------------
    def node(self, name: str, ip: str, *, cpu: int = 8, memory_gi: int = 32, pods: int = 58, zone: str = "eu-west-1a",
             instance_type: str = "m6i.2xlarge", created: float = 40 * 1440, conditions: dict | None = None,
             taints: list | None = None, labels: dict | None = None, extra_capacity: dict | None = None,
             unschedulable: bool = False, heartbeat: float = 0.4) -> dict:
        """conditions: {type: (status, reason, message, since_minutes)} overriding the healthy defaults."""
        healthy = {"MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                   "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                   "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                   "Ready": ("True", "KubeletReady", "kubelet is posting ready status")}
        conds = []
        for ctype, (status, reason, message) in healthy.items():
            since, beat = created, heartbeat
            if conditions and ctype in conditions:
                status, reason, message, since = conditions[ctype]
                beat = max(heartbeat, since) if reason == "NodeStatusUnknown" else heartbeat
            conds.append({"type": ctype, "status": status, "lastHeartbeatTime": self.ts(beat),
                          "lastTransitionTime": self.ts(since), "reason": reason, "message": message})
        self._node_ips[name] = ip
        mem_ki = memory_gi * 1024 * 1024
        capacity = {"cpu": str(cpu), "memory": f"{mem_ki}Ki", "pods": str(pods), "ephemeral-storage": "104845292Ki",
                    **(extra_capacity or {})}
        allocatable = {"cpu": f"{cpu * 1000 - 190}m", "memory": f"{mem_ki - 3_560_000}Ki", "pods": str(pods),
                       "ephemeral-storage": "95551679124", **(extra_capacity or {})}
        node_labels = {"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
                       "node.kubernetes.io/instance-type": instance_type, "topology.kubernetes.io/zone": zone,
                       **(labels or {})}
        spec: dict = {"podCIDR": f"10.244.{int(self.hash(2, name), 36) % 250}.0/24"}
        if taints:
            spec["taints"] = taints
        if unschedulable:
            spec["unschedulable"] = True
        return self.add({"kind": "Node", "metadata": self._meta("Node", name, None, created, labels=node_labels),
                         "spec": spec,
                         "status": {"capacity": capacity, "allocatable": allocatable, "conditions": conds,
                                    "addresses": [{"type": "InternalIP", "address": ip},
                                                  {"type": "Hostname", "address": name}],
                                    "nodeInfo": {"kubeletVersion": "v1.30.5", "containerRuntimeVersion": "containerd://1.7.22",
                                                 "osImage": "Ubuntu 22.04.5 LTS", "architecture": "amd64",
                                                 "operatingSystem": "linux"}}})

    def nodes(self, names: list[str], ips: list[str], zones: list[str], **common: Any) -> list[str]:
        """Several nodes of one pool; returns their names."""
        for name, ip, zone in zip(names, ips, zones, strict=True):
            self.node(name, ip, zone=zone, **common)
        return names

    def service(self, ns: str, name: str, selector: dict, ports: list[tuple[str, int, int]], cluster_ip: str | None,
                created: float = 90 * 1440) -> dict:
        spec = {"selector": selector, "type": "ClusterIP", "clusterIP": cluster_ip or "None",
                "ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP"} for n, p, t in ports]}
        return self.add({"kind": "Service", "metadata": self._meta("Service", name, ns, created), "spec": spec})

    def configmap(self, ns: str, name: str, data: dict, created: float) -> dict:
        return self.add({"kind": "ConfigMap", "metadata": self._meta("ConfigMap", name, ns, created), "data": data})

    def event(self, ns: str, involved: tuple[str, str], reason: str, message: str, *, first: float,
              last: float | None = None, count: int = 1, type: str = "Normal", source: str = "kubelet",
              host: str | None = None) -> dict:
        kind, name = involved
        last = first if last is None else last
        src = {"component": source, **({"host": host} if host else {})}
        meta = self._meta("Event", f"{name}.{self.hash(16, reason, message, first)}", ns, first)
        return self.add({"kind": "Event", "metadata": meta,
                         "involvedObject": {"kind": kind, "namespace": ns, "name": name,
                                            "uid": self.uid(kind, ns if kind != "Node" else None, name),
                                            "apiVersion": _API.get(kind, "v1")},
                         "reason": reason, "message": message, "source": src, "firstTimestamp": self.ts(first),
                         "lastTimestamp": self.ts(last), "count": count, "type": type,
                         "reportingComponent": source, "reportingInstance": host or ""})

    # -- workloads -----------------------------------------------------------------------------
    def _template(self, labels: dict, containers: list[dict], volumes: list | None, annotations: dict | None = None,
                  restart: str = "Always") -> dict:
        meta = {"labels": labels, **({"annotations": annotations} if annotations else {})}
        spec = {"containers": containers, "restartPolicy": restart, "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst", "serviceAccountName": "default"}
        if volumes:
            spec["volumes"] = volumes
        return {"metadata": meta, "spec": spec}

    def deployment(self, ns: str, name: str, containers: list[dict], *, replicas: int = 2, ready: int | None = None,
                   revisions: list[tuple[float, list[dict] | None, dict | None]] | None = None,
                   rs_replicas: list[int] | None = None, volumes: list | None = None, stalled: bool = False,
                   created: float = 60 * 1440) -> Workload:
        """revisions: oldest first, (created minutes ago, containers or None for the same, pod annotations);
        the last is current. rs_replicas: replicas of each revision's ReplicaSet (default: all on the last)."""
        labels = {"app": name, "app.kubernetes.io/name": name}
        revisions = revisions or [(created, None, None)]
        rs_replicas = rs_replicas or [0] * (len(revisions) - 1) + [replicas]
        ready = replicas if ready is None else ready
        rs_names = []
        for n, ((when, ctrs, ann), count) in enumerate(zip(revisions, rs_replicas), 1):
            tpl_ctrs = ctrs or containers
            h = self.hash(10, name, n)
            rs_name = f"{name}-{h}"
            rs_names.append(rs_name)
            rs_labels = {**labels, "pod-template-hash": h}
            is_current = n == len(revisions)
            rs_ready = ready if is_current else count
            meta = self._meta("ReplicaSet", rs_name, ns, when, labels=rs_labels,
                              annotations={"deployment.kubernetes.io/revision": str(n),
                                           "deployment.kubernetes.io/desired-replicas": str(replicas)},
                              ownerReferences=[self._owner("Deployment", ns, name)])
            self.add({"kind": "ReplicaSet", "metadata": meta,
                      "spec": {"replicas": count, "selector": {"matchLabels": rs_labels},
                               "template": self._template(rs_labels, tpl_ctrs, volumes, ann)},
                      "status": {"replicas": count, "readyReplicas": min(rs_ready, count),
                                 "availableReplicas": min(rs_ready, count), "fullyLabeledReplicas": count,
                                 "observedGeneration": 1}})
        current_when, current_ctrs, current_ann = revisions[-1]
        total = sum(rs_replicas)
        updated = rs_replicas[-1]
        progressing = (("False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_names[-1]}" has timed out progressing.')
                       if stalled else ("True", "NewReplicaSetAvailable" if updated == replicas and ready == replicas
                                        else "ReplicaSetUpdated",
                                        f'ReplicaSet "{rs_names[-1]}" has successfully progressed.'
                                        if ready == replicas else f'ReplicaSet "{rs_names[-1]}" is progressing.'))
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") \
            if ready >= replicas - max(1, replicas // 4) else \
            ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        conds = [{"type": "Available", "status": available[0], "reason": available[1], "message": available[2],
                  "lastUpdateTime": self.ts(current_when), "lastTransitionTime": self.ts(current_when)},
                 {"type": "Progressing", "status": progressing[0], "reason": progressing[1], "message": progressing[2],
                  "lastUpdateTime": self.ts(current_when), "lastTransitionTime": self.ts(current_when)}]
        gen = len(revisions)
        self.add({"kind": "Deployment",
                  "metadata": self._meta("Deployment", name, ns, created, labels=labels, generation=gen,
                                         annotations={"deployment.kubernetes.io/revision": str(gen)}),
                  "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "revisionHistoryLimit": 10,
                           "progressDeadlineSeconds": 600,
                           "strategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                           "template": self._template(labels, current_ctrs or containers, volumes, current_ann)},
                  "status": {"observedGeneration": gen, "replicas": total, "updatedReplicas": updated,
                             "readyReplicas": ready, "availableReplicas": ready,
                             **({"unavailableReplicas": total - ready} if total > ready else {}),
                             "conditions": conds}})
        return Workload("Deployment", ns, name, labels, current_ctrs or containers, ("ReplicaSet", rs_names[-1]),
                        rs_names[-1], volumes or [], rs_names)

    def statefulset(self, ns: str, name: str, containers: list[dict], *, replicas: int, ready: int,
                    claims: list[tuple[str, str]] = (), revision: str | None = None, created: float = 200 * 1440,
                    volumes: list | None = None) -> Workload:
        labels = {"app": name, "app.kubernetes.io/name": name}
        rev = revision or f"{name}-{self.hash(10, name, 'rev')}"
        vct = [{"metadata": {"name": claim}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                                                       "resources": {"requests": {"storage": size}}}}
               for claim, size in claims]
        self.add({"kind": "StatefulSet", "metadata": self._meta("StatefulSet", name, ns, created, labels=labels,
                                                                 generation=3),
                  "spec": {"replicas": replicas, "serviceName": f"{name}-headless", "podManagementPolicy": "OrderedReady",
                           "selector": {"matchLabels": labels}, "updateStrategy": {"type": "RollingUpdate"},
                           "template": self._template(labels, containers, volumes), "volumeClaimTemplates": vct},
                  "status": {"observedGeneration": 3, "replicas": replicas, "readyReplicas": ready,
                             "availableReplicas": ready, "currentReplicas": replicas, "updatedReplicas": replicas,
                             "currentRevision": rev, "updateRevision": rev, "collisionCount": 0}})
        return Workload("StatefulSet", ns, name, {**labels, "controller-revision-hash": rev}, containers,
                        ("StatefulSet", name), name, volumes or [])

    def pvc(self, ns: str, name: str, size: str, volume: str, created: float, labels: dict | None = None) -> dict:
        return self.add({"kind": "PersistentVolumeClaim",
                         "metadata": self._meta("PersistentVolumeClaim", name, ns, created, labels=labels),
                         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "volumeName": volume,
                                  "resources": {"requests": {"storage": size}}},
                         "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}}})

    def daemonset(self, ns: str, name: str, containers: list[dict], *, desired: int, ready: int, updated: int,
                  generation: int, created: float = 300 * 1440,
                  volumes: list | None = None) -> Workload:
        labels = {"app.kubernetes.io/name": name, "k8s-app": name}
        self.add({"kind": "DaemonSet",
                  "metadata": self._meta("DaemonSet", name, ns, created, labels=labels, generation=generation,
                                         annotations={"deprecated.daemonset.template.generation": str(generation)}),
                  "spec": {"selector": {"matchLabels": labels}, "revisionHistoryLimit": 10,
                           "updateStrategy": {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                           "template": self._template(labels, containers, volumes)},
                  "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                             "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                             **({"numberUnavailable": desired - ready} if desired > ready else {}),
                             "updatedNumberScheduled": updated, "observedGeneration": generation}})
        return Workload("DaemonSet", ns, name, labels, containers, ("DaemonSet", name), name, volumes or [])

    def cronjob(self, ns: str, name: str, containers: list[dict], *, schedule: str, last_schedule: float,
                created: float, backoff_limit: int = 2, volumes: list | None = None, last_success: float | None = None,
                generation: int = 1) -> Workload:
        labels = {"app": name}
        status = {"lastScheduleTime": self.ts(last_schedule)}
        if last_success is not None:
            status["lastSuccessfulTime"] = self.ts(last_success)
        self.add({"kind": "CronJob",
                  "metadata": self._meta("CronJob", name, ns, created, labels=labels, generation=generation),
                  "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                           "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                           "jobTemplate": {"spec": {"backoffLimit": backoff_limit,
                                                    "template": self._template(labels, containers, volumes,
                                                                               restart="Never")}}},
                  "status": status})
        return Workload("CronJob", ns, name, labels, containers, ("CronJob", name), name, volumes or [])

    def job(self, ns: str, name: str, containers: list[dict], *, started: float, cron: str | None = None,
            failed: int = 0, succeeded: int = 0, active: int = 0, backoff_limit: int = 2, ended: float | None = None,
            volumes: list | None = None, labels: dict | None = None) -> Workload:
        """A Job, owned by CronJob `cron` when given (its name then ends with the scheduled minute)."""
        job_labels = {"batch.kubernetes.io/job-name": name, "job-name": name,
                      "controller-uid": self.uid("Job", ns, name), **(labels or {})}
        owners = [self._owner("CronJob", ns, cron)] if cron else None
        ann = {"batch.kubernetes.io/cronjob-scheduled-timestamp": self.ts(started)} if cron else None
        status: dict = {"startTime": self.ts(started - 1 / 60), "failed": failed, "succeeded": succeeded,
                        "active": active, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}}
        if failed > backoff_limit and ended is not None:
            cond = {"status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastProbeTime": self.ts(ended), "lastTransitionTime": self.ts(ended)}
            status["conditions"] = [{"type": "FailureTarget", **cond}, {"type": "Failed", **cond}]
        elif succeeded and ended is not None:
            cond = {"status": "True", "lastProbeTime": self.ts(ended), "lastTransitionTime": self.ts(ended)}
            status["conditions"] = [{"type": "SuccessCriteriaMet", **cond}, {"type": "Complete", **cond}]
            status["completionTime"] = self.ts(ended)
        self.add({"kind": "Job",
                  "metadata": self._meta("Job", name, ns, started, labels=job_labels, annotations=ann,
                                         ownerReferences=owners),
                  "spec": {"backoffLimit": backoff_limit, "completions": 1, "parallelism": 1,
                           "template": self._template(job_labels, containers, volumes, restart="Never")},
                  "status": status})
        return Workload("Job", ns, name, job_labels, containers, ("Job", name), name, volumes or [])

    def cron_job_name(self, cron: str, scheduled: float) -> str:
        """Jobs of a CronJob are named after the scheduled time in minutes since the epoch."""
        return f"{cron}-{int(self.at(scheduled).timestamp() // 60)}"

    def network_policy(self, ns: str, name: str, spec: dict, created: float, labels: dict | None = None) -> dict:
        return self.add({"kind": "NetworkPolicy",
                         "metadata": self._meta("NetworkPolicy", name, ns, created, labels=labels, generation=1),
                         "spec": spec})

    def _owner(self, kind: str, ns: str, name: str) -> dict:
        return {"apiVersion": _API.get(kind, "v1"), "kind": kind, "name": name, "uid": self.uid(kind, ns, name),
                "controller": True, "blockOwnerDeletion": True}

    # -- pods ------------------------------------------------------------------------------------
    def pod(self, w: Workload, node: str | None, states: list[State] | State, *, created: float,
            name: str | None = None, owner: tuple[str, str] | None = None, containers: list[dict] | None = None,
            pending: str | None = None, evicted: str | None = None, labels: dict | None = None,
            deleting: float | None = None) -> str:
        """A pod of workload w (named like its controller would); `pending` is a FailedScheduling message
        (no node, no container status), `evicted` the kubelet's eviction message."""
        ctrs = containers or w.containers
        states = states if isinstance(states, list) else [states] * len(ctrs)
        if name is None:
            if w.kind == "StatefulSet":
                raise ValueError("StatefulSet pods need their ordinal name")
            prefix = owner[1] if owner else w.pod_prefix
            name = f"{prefix}-{self.hash(5, w.name, 'pod', created, node, len(self._pods))}"
        kind, owner_name = owner or w.owner
        pod_labels = {**w.labels, **(labels or {})}
        if kind == "ReplicaSet":
            pod_labels["pod-template-hash"] = owner_name.rsplit("-", 1)[1]
        if w.kind == "StatefulSet":
            pod_labels["statefulset.kubernetes.io/pod-name"] = name
        meta = self._meta("Pod", name, w.namespace, created, labels=pod_labels,
                          ownerReferences=[self._owner(kind, w.namespace, owner_name)])
        if deleting is not None:
            meta.update(deletionTimestamp=self.ts(deleting), deletionGracePeriodSeconds=30)
        spec = {**self._template(pod_labels, ctrs, w.volumes,
                                 restart="Never" if w.kind in ("Job", "CronJob") else "Always")["spec"],
                "tolerations": [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                                 "tolerationSeconds": 300} for k in ("not-ready", "unreachable")]}
        if w.kind == "StatefulSet":
            spec.update(hostname=name, subdomain=f"{w.name}-headless")
        if node:
            spec["nodeName"] = node
        status = self._pod_status(w, name, node, ctrs, states, created, pending, evicted)
        self._pods[name] = _PodMeta(w.namespace, pod_labels, node or "", meta["uid"], {c["name"]: c["image"] for c in ctrs})
        self.add({"kind": "Pod", "metadata": meta, "spec": spec, "status": status})
        return name

    def _pod_status(self, w: Workload, name: str, node: str | None, ctrs: list[dict], states: list[State],
                    created: float, pending: str | None, evicted: str | None) -> dict:
        sched = created - 1 / 60
        if pending:
            return {"phase": "Pending", "qosClass": _qos(ctrs),
                    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                    "message": pending, "lastProbeTime": None, "lastTransitionTime": self.ts(created)}]}
        if evicted:
            return {"phase": "Failed", "reason": "Evicted", "message": evicted, "qosClass": _qos(ctrs),
                    "startTime": self.ts(sched),
                    "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                                    "message": evicted, "lastProbeTime": None,
                                    "lastTransitionTime": self.ts(states[0].run.finished
                                                                  if isinstance(states[0], Done) else created)}]}
        statuses = [self._container_status(w, name, c, s) for c, s in zip(ctrs, states)]
        all_done = all(isinstance(s, Done) for s in states)
        never_started = any(isinstance(s, Waiting) and s.restarts == 0 and s.last is None for s in states)
        phase = ("Succeeded" if all(s.run.exit_code == 0 for s in states) else "Failed") if all_done else \
            "Pending" if never_started else "Running"
        ready = all(isinstance(s, Running) and s.ready for s in states)
        ip = f"10.244.{int(self.hash(2, node or '-'), 36) % 250}.{int(self.hash(2, name), 36) % 250 + 2}"
        cond = [("PodReadyToStartContainers", "True"), ("Initialized", "True"),
                ("Ready", "True" if ready else "False"), ("ContainersReady", "True" if ready else "False"),
                ("PodScheduled", "True")]
        return {"phase": phase, "qosClass": _qos(ctrs), "hostIP": self._node_ips.get(node or "", ""),
                "podIP": ip, "podIPs": [{"ip": ip}],
                "startTime": self.ts(sched),
                "conditions": [{"type": t, "status": v, "lastProbeTime": None, "lastTransitionTime": self.ts(created)}
                               for t, v in cond],
                "containerStatuses": statuses}

    def _container_status(self, w: Workload, pod: str, c: dict, s: State) -> dict:
        cid = "containerd://" + hashlib.sha256(f"{self.id}/{pod}/{c['name']}".encode()).hexdigest()
        out: dict = {"name": c["name"], "image": c["image"],
                     "imageID": c["image"].split(":")[0] + "@sha256:" + hashlib.sha256(c["image"].encode()).hexdigest(),
                     "ready": isinstance(s, Running) and s.ready, "started": isinstance(s, Running),
                     "restartCount": 0 if isinstance(s, Done) else s.restarts, "lastState": {}}
        if isinstance(s, Running):
            out["state"] = {"running": {"startedAt": self.ts(s.since)}}
        elif isinstance(s, Waiting):
            out["state"] = {"waiting": {"reason": s.reason, **({"message": s.message} if s.message else {})}}
        else:
            out["state"] = {"terminated": self._ended(s.run, cid)}
        last = None if isinstance(s, Done) else s.last
        if last:
            out["lastState"] = {"terminated": self._ended(last, cid)}
        if not (isinstance(s, Waiting) and s.restarts == 0 and s.last is None):
            out["containerID"] = cid
        return out

    def _ended(self, e: Ended, cid: str) -> dict:
        out = {"exitCode": e.exit_code, "reason": e.reason, "startedAt": self.ts(e.started),
               "finishedAt": self.ts(e.finished), "containerID": cid}
        if e.message:
            out["message"] = e.message
        return out

    def ghost(self, w: Workload, name: str, node: str, owner: tuple[str, str] | None = None) -> str:
        """A pod gone from the API (replaced, evicted and deleted) whose lines are still in OpenSearch."""
        labels = dict(w.labels)
        kind, owner_name = owner or w.owner
        if kind == "ReplicaSet":
            labels["pod-template-hash"] = owner_name.rsplit("-", 1)[1]
        self._pods[name] = _PodMeta(w.namespace, labels, node, self.uid("Pod", w.namespace, name),
                                    {c["name"]: c["image"] for c in w.containers})
        return name

    # -- logs ------------------------------------------------------------------------------------
    def log(self, pod: str, minutes_ago: float, text: str, *, container: str | None = None, stream: str = "stdout") -> None:
        """One line as Fluent Bit's kubernetes filter ships it; several lines become several documents."""
        meta = self._pods[pod]
        container = container or next(iter(meta.images))
        image = meta.images[container]
        docker_id = hashlib.sha256(f"{self.id}/{pod}/{container}".encode()).hexdigest()
        for i, line in enumerate(text.splitlines()):
            self.docs.append({
                "@timestamp": self.ts(minutes_ago - i * 0.001 / 60, ms=True), "stream": stream, "_p": "F", "log": line,
                "kubernetes": {"pod_name": pod, "namespace_name": meta.namespace, "pod_id": meta.uid,
                               "labels": meta.labels, "host": meta.host, "container_name": container,
                               "docker_id": docker_id,
                               "container_hash": image.split(":")[0] + "@sha256:" + hashlib.sha256(image.encode()).hexdigest(),
                               "container_image": image}})

    def kubectl_logs(self, pod: str, text: str, *, container: str | None = None, previous: bool = False) -> None:
        stem = pod + (f".{container}" if container else "") + (".previous" if previous else "")
        self.pod_logs[f"{stem}.log"] = text if text.endswith("\n") or not text else text + "\n"

    # -- metrics ---------------------------------------------------------------------------------
    def gauge(self, name: str, labels: dict, value: Callable[[float], float | None] | float, help: str = "") -> None:
        self._series(name, "gauge", help, labels, value)

    def counter(self, name: str, labels: dict, per_minute: Callable[[float], float] | float, start: float = 0,
                help: str = "") -> None:
        """A counter sampled every minute, increasing by per_minute(m) each minute (m = minutes ago)."""
        rate = per_minute if callable(per_minute) else (lambda m, r=per_minute: r)
        total, values = start, {}
        for m in range(WINDOW_MIN, -1, -1):
            total += max(0.0, rate(m))
            values[m] = total
        self._series(name, "counter", help, labels, values.get)

    def _series(self, name: str, kind: str, help: str, labels: dict, value: Any) -> None:
        family = name[:-len("_total")] if kind == "counter" and name.endswith("_total") else name
        fam = self.families.setdefault(family, (kind, help, []))
        fn = value if callable(value) else (lambda m, v=value: v)
        samples = [(m, fn(m)) for m in range(WINDOW_MIN, -1, -1)]
        fam[2].append((name, labels, [(m, v) for m, v in samples if v is not None]))

    def _openmetrics(self) -> str:
        out = []
        for family, (kind, help, series) in self.families.items():
            out.append(f"# TYPE {family} {kind}")
            if help:
                out.append(f"# HELP {family} {help}")
            for name, labels, samples in series:
                lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
                for m, v in samples:
                    ts = int(self.at(m).timestamp())
                    out.append(f"{name}{{{lab}}} {_num(v)} {ts}")
        return "\n".join(out + ["# EOF"]) + "\n"

    # -- output ----------------------------------------------------------------------------------
    def scenario_doc(self) -> dict:
        doc: dict = {"id": self.id, "title": self.title, "now": self.ts(0)}
        doc.update({"alert": self.alert} if self.alert is not None else {"message": self.message})
        doc["expected"] = self.expected
        return doc

    def write(self, root: Path) -> Path:
        d = root / self.id
        if d.exists():
            shutil.rmtree(d)
        (d / "k8s").mkdir(parents=True) if self.objects or self.pod_logs else d.mkdir(parents=True)
        _dump_yaml(d / "scenario.yaml", self.scenario_doc())
        for stem, items in sorted(self.objects.items()):
            _dump_yaml(d / "k8s" / f"{stem}.yaml", {"apiVersion": "v1", "kind": "List", "items": items})
        if self.pod_logs:
            (d / "k8s" / "logs").mkdir()
            for fname, text in sorted(self.pod_logs.items()):
                (d / "k8s" / "logs" / fname).write_text(text, encoding="utf-8")
        if self.docs:
            docs = sorted(self.docs, key=lambda x: x["@timestamp"])
            (d / "logs.jsonl").write_text("".join(json.dumps(x, separators=(",", ":")) + "\n" for x in docs),
                                          encoding="utf-8")
        if self.families:
            (d / "metrics.om").write_text(self._openmetrics(), encoding="utf-8")
        return d


def _qos(ctrs: list[dict]) -> str:
    res = [c.get("resources") or {} for c in ctrs]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    guaranteed = all(r.get("limits") and r.get("requests") == r.get("limits")
                     and {"cpu", "memory"} <= set(r["limits"]) for r in res)
    return "Guaranteed" if guaranteed else "Burstable"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.6g}"


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as literal blocks (scripts, configs, messages stay readable)."""


def _str(dumper: yaml.SafeDumper, s: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


_Dumper.add_representer(str, _str)


def _dump_yaml(path: Path, doc: Any) -> None:
    path.write_text(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True), encoding="utf-8")


# -- alert shapes ----------------------------------------------------------------------------------
# Rule texts as kube-prometheus ships them (prometheus-operator/kube-prometheus manifests/
# kubernetesControlPlane-prometheusRule.yaml and kubePrometheus-prometheusRule.yaml; NodeMemoryHighUtilization
# from node-mixin): runbook folder, summary, description (str.format over the labels and `value`), expression.
KP_RULES: dict[str, tuple[str, str, str, str]] = {
    "KubePodCrashLooping": (
        "kubernetes", "Pod is crash looping.",
        'Pod {namespace}/{pod} ({container}) is in waiting state (reason: "CrashLoopBackOff").',
        'max_over_time(kube_pod_container_status_waiting_reason{{reason="CrashLoopBackOff", '
        'job="kube-state-metrics"}}[5m]) >= 1'),
    "KubeJobFailed": (
        "kubernetes", "Job failed to complete.",
        "Job {namespace}/{job_name} failed to complete. Removing failed job after investigation should clear this "
        "alert.", 'kube_job_failed{{job="kube-state-metrics"}}  > 0'),
    "KubeDeploymentReplicasMismatch": (
        "kubernetes", "Deployment has not matched the expected number of replicas.",
        "Deployment {namespace}/{deployment} has not matched the expected number of replicas for longer than 15 "
        "minutes.",
        '(kube_deployment_spec_replicas{{job="kube-state-metrics"}} > kube_deployment_status_replicas_available'
        '{{job="kube-state-metrics"}}) and (changes(kube_deployment_status_replicas_updated{{job="kube-state-metrics"}}'
        "[10m]) == 0)"),
    "KubeStatefulSetReplicasMismatch": (
        "kubernetes", "Deployment has not matched the expected number of replicas.",
        "StatefulSet {namespace}/{statefulset} has not matched the expected number of replicas for longer than 15 "
        "minutes.",
        '(kube_statefulset_status_replicas_ready{{job="kube-state-metrics"}} != kube_statefulset_status_replicas'
        '{{job="kube-state-metrics"}}) and (changes(kube_statefulset_status_replicas_updated{{job="kube-state-metrics"}}'
        "[10m]) == 0)"),
    "KubeDaemonSetRolloutStuck": (
        "kubernetes", "DaemonSet rollout is stuck.",
        "DaemonSet {namespace}/{daemonset} has not finished or progressed for at least 15 minutes.",
        '((kube_daemonset_status_current_number_scheduled{{job="kube-state-metrics"}} != '
        'kube_daemonset_status_desired_number_scheduled{{job="kube-state-metrics"}}) or '
        '(kube_daemonset_status_updated_number_scheduled{{job="kube-state-metrics"}} != '
        'kube_daemonset_status_desired_number_scheduled{{job="kube-state-metrics"}})) and '
        '(changes(kube_daemonset_status_updated_number_scheduled{{job="kube-state-metrics"}}[5m]) == 0)'),
    "KubeContainerWaiting": (
        "kubernetes", "Pod container waiting longer than 1 hour",
        "pod/{pod} in namespace {namespace} on container {container} has been in waiting state for longer than 1 hour.",
        'sum by (namespace, pod, container) (kube_pod_container_status_waiting_reason{{job="kube-state-metrics"}}) > 0'),
    "CPUThrottlingHigh": (
        "kubernetes", "Processes experience elevated CPU throttling.",
        "{value} throttling of CPU in namespace {namespace} for container {container} in pod {pod}.",
        'sum(increase(container_cpu_cfs_throttled_periods_total{{container!=""}}[5m])) by (container, pod, namespace) '
        "/ sum(increase(container_cpu_cfs_periods_total{{}}[5m])) by (container, pod, namespace) > ( 25 / 100 )"),
    "NodeMemoryHighUtilization": (
        "node", "Host is running out of memory.",
        "Memory is filling up at {instance}, has been above 90% for the last 15 minutes, is currently at {value}.",
        '100 - (node_memory_MemAvailable_bytes{{job="node-exporter"}} / node_memory_MemTotal_bytes'
        '{{job="node-exporter"}} * 100) > 90'),
    "Watchdog": (
        "general", "An alert that should always be firing to certify that Alertmanager is working properly.",
        "This is an alert meant to ensure that the entire alerting pipeline is functional.\n"
        "This alert is always firing, therefore it should always be firing in Alertmanager\n"
        "and always fire against a receiver. There are integrations with various notification\n"
        "mechanisms that send a notification when this alert is not firing. For example the\n"
        '"DeadMansSnitch" integration in PagerDuty.\n', "vector(1)"),
}


def kp_alert(b: Bundle, labels: dict, *, started: float, value: str = "") -> dict:
    """One kube-prometheus alert as Alertmanager's webhook carries it; labels include alertname."""
    from urllib.parse import quote

    folder, summary, description, expr = KP_RULES[labels["alertname"]]
    name = labels["alertname"].lower()
    annotations = {"description": description.format(value=value, **labels), "summary": summary,
                   "runbook_url": f"https://runbooks.prometheus-operator.dev/runbooks/{folder}/{name}"}
    url = f"http://prometheus-k8s.monitoring.svc:9090/graph?g0.expr={quote(expr.format())}&g0.tab=1"
    return {"status": "firing", "labels": labels, "annotations": annotations, "startsAt": b.ts(started, ms=True),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": url,
            "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]}


def ksm_target(b: Bundle, cluster: str | None = None) -> dict:
    """Labels kube-prometheus-stack adds to alerts on kube-state-metrics series: the *exporter's* pod, container
    and instance, not the subject's (seen in public Alertmanager notifications, e.g. AndreiGavriliu/homelab#4714)."""
    rs = b.hash(10, "ksm")
    labels = {"container": "kube-state-metrics", "endpoint": "http", "instance": f"10.42.{int(b.hash(2, 'ksm-ip'), 36) % 9}.38:8080",
              "job": "kube-state-metrics", "pod": f"kube-prometheus-stack-kube-state-metrics-{rs}-{b.hash(5, 'ksm-pod')}",
              "prometheus": "monitoring/kube-prometheus-stack-prometheus",
              "service": "kube-prometheus-stack-kube-state-metrics"}
    return {**labels, **({"cluster": cluster} if cluster else {})}


def pull_not_found(image: str) -> str:
    """containerd's ErrImagePull text for a tag the registry does not have."""
    ref = image if "/" in image.split(":")[0] and "." in image.split("/")[0] else f"docker.io/{image}"
    return (f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image '
            f'"{ref}": failed to resolve reference "{ref}": {ref}: not found')


def image_pull_events(b: Bundle, ns: str, pod: str, image: str, node: str, first: float, count: int) -> None:
    """The kubelet's event sequence for a pod whose image tag does not exist."""
    b.event(ns, ("Pod", pod), "Scheduled", f"Successfully assigned {ns}/{pod} to {node}", first=first,
            source="default-scheduler")
    b.event(ns, ("Pod", pod), "Pulling", f'Pulling image "{image}"', first=first - 0.1, last=2, count=count,
            host=node)
    b.event(ns, ("Pod", pod), "Failed", pull_not_found(image), first=first - 0.2, last=2, count=count,
            type="Warning", host=node)
    b.event(ns, ("Pod", pod), "Failed", "Error: ErrImagePull", first=first - 0.2, last=2, count=count,
            type="Warning", host=node)
    b.event(ns, ("Pod", pod), "BackOff", f'Back-off pulling image "{image}"', first=first - 0.4, last=0.5,
            count=count * 4, host=node)
    b.event(ns, ("Pod", pod), "Failed", "Error: ImagePullBackOff", first=first - 0.4, last=0.5, count=count * 4,
            type="Warning", host=node)
