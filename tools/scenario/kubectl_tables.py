"""API objects rebuilt from kubectl's tables: `get pods -o wide --show-labels`, `kubectl events`, and
kube-lineage trees. A table row says less than a describe: these objects are skeletons (no container
specs), and a described object always wins over its row (tools/scenario/recorded.py merges them).
"""
from __future__ import annotations

import re
from typing import Any

from tools.scenario.kubectl_describe import AGO, event, owner_ref
from tools.scenario.kubectl_text import age_seconds, kv_list, table

# STATUS values kubectl prints for a pod whose container waits (the reason), by pod phase.
_WAITING = re.compile(r"^(?:Init:)?(CrashLoopBackOff|ImagePullBackOff|ErrImagePull|CreateContainerConfigError|"
                      r"CreateContainerError|InvalidImageName|RunContainerError|ContainerCreating|PodInitializing)$")
_TERMINATED = {"Error": "Failed", "Completed": "Succeeded", "OOMKilled": "Running", "ContainerCannotRun": "Failed"}
_RESTARTS = re.compile(r"^(\d+)(?:\s+\((\S+) ago\))?$")


def owner_from_labels(name: str, labels: dict[str, str]) -> dict[str, Any] | None:
    """The controller Kubernetes' own naming and labels imply: pod-template-hash -> its ReplicaSet,
    job-name -> its Job, a StatefulSet's pod-name label -> the StatefulSet."""
    h = labels.get("pod-template-hash")
    if h and f"-{h}-" in name:
        return owner_ref("ReplicaSet", name[: name.index(f"-{h}-") + len(h) + 1])
    job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
    if job:
        return owner_ref("Job", job)
    if labels.get("statefulset.kubernetes.io/pod-name") == name and re.search(r"-\d+$", name):
        return owner_ref("StatefulSet", name.rsplit("-", 1)[0])
    return None


def pod_rows(text: str, namespace: str | None) -> list[dict[str, Any]]:
    """Skeleton pods from a `kubectl get pods` table (with or without -o wide / --show-labels / -A)."""
    out = []
    rows = table(text.splitlines())
    if not rows or "STATUS" not in rows[0] or "NAME" not in rows[0]:
        return []
    for row in rows:
        name = row["NAME"].split("/")[-1]
        labels = kv_list([row.get("LABELS", "")]) if row.get("LABELS", "<none>") != "<none>" else {}
        meta: dict[str, Any] = {"name": name, "namespace": row.get("NAMESPACE") or namespace or "default"}
        if labels:
            meta["labels"] = labels
        owner = owner_from_labels(name, labels)
        if owner:
            meta["ownerReferences"] = [owner]
        age = age_seconds(row.get("AGE", ""))
        if age is not None:
            meta["creationTimestamp"] = f"{AGO}{age}"
        spec: dict[str, Any] = {"containers": []}
        if row.get("NODE") and row["NODE"] != "<none>":
            spec["nodeName"] = row["NODE"]
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
                    "status": _row_status(row)})
    return out


def _row_status(row: dict[str, str]) -> dict[str, Any]:
    """Phase and, for the one container the row speaks of, its state and restarts. The container's
    name is not in the table: it stays unnamed until a describe or the owner's template names it."""
    st = row.get("STATUS", "")
    ready, _, total = row.get("READY", "0/0").partition("/")
    restarts = _RESTARTS.match(row.get("RESTARTS", "0"))
    cs: dict[str, Any] = {"name": "", "image": "", "imageID": "", "ready": ready == total and total != "0",
                          "restartCount": int(restarts.group(1)) if restarts else 0, "state": {}, "lastState": {}}
    waiting = _WAITING.match(st)
    phase = "Running"
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting.group(1)}}
        phase = "Pending" if st.startswith("Init:") or waiting.group(1) in ("ContainerCreating", "ErrImagePull",
                                                                            "ImagePullBackOff") else "Running"
    elif st in _TERMINATED:
        cs["state"] = {"terminated": {"reason": st}}
        phase = _TERMINATED[st]
    elif st in ("Running", "Pending", "Succeeded", "Failed", "Unknown", "Evicted"):
        phase = "Failed" if st == "Evicted" else st
        if st == "Running":
            cs["state"] = {"running": {}}
    if restarts and restarts.group(2) and age_seconds(restarts.group(2)) is not None:
        cs["lastState"] = {"terminated": {"finishedAt": f"{AGO}{age_seconds(restarts.group(2))}"}}
    status: dict[str, Any] = {"phase": phase}
    if st == "Evicted":
        status["reason"] = "Evicted"
    if cs["state"] or cs["restartCount"]:
        status["containerStatuses"] = [cs]
    return status


def event_rows(text: str, namespace: str | None) -> list[dict[str, Any]]:
    """Events from `kubectl events` / `kubectl get events` (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE)."""
    out = []
    rows = table(text.splitlines())
    if not rows or "REASON" not in rows[0]:
        return []
    for i, row in enumerate(rows):
        kind, _, name = row.get("OBJECT", "").partition("/")
        if not name:
            continue
        last = age_seconds(row.get("LAST SEEN", ""))
        out.append(event(kind.capitalize() if kind.islower() else kind, name, row.get("NAMESPACE") or namespace,
                         row.get("REASON", ""), row.get("MESSAGE", ""), row.get("TYPE", "Normal"), "", last, 1, last, i))
    return out


_LINEAGE = re.compile(r"^(?P<ns>\S+\s+)?[\s│├└─]*(?P<kind>[A-Za-z]+)/(?P<name>\S+)\s*(?P<rest>.*)$")


def lineage_rows(text: str, namespace: str | None) -> list[dict[str, Any]]:
    """Objects named in a kube-lineage tree: events of its root (`Reason: message`), NetworkPolicies
    and ConfigMaps by name, nodes with their Ready status, pods with their status."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith(("NAME", "NAMESPACE")):
        return []
    out: list[dict[str, Any]] = []
    root = None
    for i, ln in enumerate(lines[1:]):
        m = _LINEAGE.match(ln.strip()) or _LINEAGE.match(ln)
        if not m:
            continue
        kind, name = m.group("kind"), m.group("name")
        cells = [c for c in re.split(r"\s{2,}", m.group("rest").strip()) if c]
        age = age_seconds(cells[-1]) if cells else None
        if root is None:
            root = (kind, name)
        if kind == "Event" and root:
            reason, _, message = " ".join(cells[1:-1] if len(cells) > 2 else cells[:-1]).partition(": ")
            out.append(event(root[0], root[1], namespace, reason, message, "Normal", "", age, 1, age, i))
        elif kind == "NetworkPolicy":
            out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": name, "namespace": namespace}})
        elif kind == "Node":
            ready = cells[0] if cells else ""
            reason = cells[1] if len(cells) > 2 else ""
            out.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": reason}]}})
        elif kind == "Pod":
            row = {"READY": cells[0] if cells else "0/0", "STATUS": cells[1] if len(cells) > 2 else ""}
            meta = {"name": name, "namespace": namespace}
            if age is not None:
                meta["creationTimestamp"] = f"{AGO}{age}"
            out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": []},
                        "status": _row_status(row)})
    return out
