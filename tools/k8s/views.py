"""The typed shapes of the Kubernetes read tools' results, shared by the tools that build them and by
the engines that read them (agents/offline/features.py): an engine reads these fields, never the
one-line summaries or the human-readable `owner` string the tools also render for a model.
"""
from __future__ import annotations

import re
from typing import Any, TypedDict


class ObjectRef(TypedDict):
    kind: str
    name: str


class ContainerView(TypedDict, total=False):
    name: str
    image: str
    init: bool                 # an init container (runs to completion before the others start)
    ready: bool
    restarts: int
    state: str                 # running | waiting | terminated
    reason: str
    message: str
    exit_code: int
    last_termination: dict[str, Any]   # reason, exit_code, signal, message, started_at, finished_at
    requests: dict[str, str]
    limits: dict[str, str]
    ports: list[int]


class Uses(TypedDict, total=False):
    """Objects a pod reads: a neighbour sharing one of them is linked to it."""
    configmaps: list[str]
    secrets: list[str]
    pvcs: list[str]


class PodView(TypedDict, total=False):
    name: str
    phase: str
    ready: str                 # "ready/total" of the app containers
    restarts: int
    reason: str
    message: str
    node: str
    owner: str                 # rendered for a reader: "Deployment/x (via ReplicaSet/x-h)"
    controller: ObjectRef      # the pod's controller ownerReference
    workload: ObjectRef        # the top of the chain the pod alone shows (ReplicaSet -> its Deployment)
    start_time: str
    conditions: list[dict[str, Any]]
    containers: list[ContainerView]
    uses: Uses
    config_hosts: list[str]    # hosts its env and arguments name (URLs, host:port, *.svc names)
    problems: list[str]


_HOST = re.compile(r"(?:[a-z][a-z0-9+.-]*://(?:[^@/\s]+@)?|\b)([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)(?::(\d{2,5})|"
                   r"(?=\.svc\b))", re.I)
_NOT_HOSTS = frozenset({"http", "https", "tcp", "udp", "localhost", "jdbc", "postgresql", "mysql", "redis", "amqp",
                        "mongodb", "file"})


def config_hosts(spec: dict[str, Any]) -> list[str]:
    """Hosts the pod's configuration points at (env values, command, args): its declared dependencies."""
    texts: list[str] = []
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        texts += [str(e.get("value")) for e in c.get("env") or [] if isinstance(e.get("value"), str)]
        texts += [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]
    out: list[str] = []
    for t in texts:
        for m in _HOST.finditer(t):
            host = m.group(1).lower().rstrip(".")
            if host not in _NOT_HOSTS and not host.replace(".", "").isdigit() and host not in out:
                out.append(host)
    return out[:10]


def ref(kind: Any, name: Any) -> ObjectRef | None:
    return {"kind": str(kind), "name": str(name)} if kind and name else None


def pod_workload(meta: dict[str, Any]) -> tuple[ObjectRef | None, ObjectRef | None]:
    """(controller, workload) of a pod from its own metadata: a ReplicaSet whose name is
    <deployment>-<pod-template-hash label> belongs to that Deployment (what kubectl shows)."""
    owners = meta.get("ownerReferences") or []
    own = next((o for o in owners if o.get("controller")), None) or (owners[0] if owners else None)
    controller = ref(own.get("kind"), own.get("name")) if own else None
    if controller is None:
        return None, None
    tpl_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if controller["kind"] == "ReplicaSet" and tpl_hash and controller["name"].endswith(f"-{tpl_hash}"):
        return controller, {"kind": "Deployment", "name": controller["name"][:-len(tpl_hash) - 1]}
    return controller, controller


def pod_uses(spec: dict[str, Any]) -> Uses:
    """ConfigMaps, Secrets and PVCs a pod spec reads (volumes, env, envFrom)."""
    cms: list[str] = []
    secrets: list[str] = []
    pvcs: list[str] = []
    for v in spec.get("volumes") or []:
        if (v.get("configMap") or {}).get("name"):
            cms.append(v["configMap"]["name"])
        if (v.get("secret") or {}).get("secretName"):
            secrets.append(v["secret"]["secretName"])
        if (v.get("persistentVolumeClaim") or {}).get("claimName"):
            pvcs.append(v["persistentVolumeClaim"]["claimName"])
        for src in (v.get("projected") or {}).get("sources") or []:
            if (src.get("configMap") or {}).get("name"):
                cms.append(src["configMap"]["name"])
            if (src.get("secret") or {}).get("name"):
                secrets.append(src["secret"]["name"])
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for e in c.get("envFrom") or []:
            if (e.get("configMapRef") or {}).get("name"):
                cms.append(e["configMapRef"]["name"])
            if (e.get("secretRef") or {}).get("name"):
                secrets.append(e["secretRef"]["name"])
        for e in c.get("env") or []:
            src = e.get("valueFrom") or {}
            if (src.get("configMapKeyRef") or {}).get("name"):
                cms.append(src["configMapKeyRef"]["name"])
            if (src.get("secretKeyRef") or {}).get("name"):
                secrets.append(src["secretKeyRef"]["name"])
    out: Uses = {}
    for key, names in (("configmaps", cms), ("secrets", secrets), ("pvcs", pvcs)):
        if names:
            out[key] = sorted(set(names))  # type: ignore[literal-required]
    return out
