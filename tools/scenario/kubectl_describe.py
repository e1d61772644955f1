"""API objects rebuilt from `kubectl describe` text (pods, deployments, jobs, nodes, their events).

Only what the text states is set. Times shown as ages ("87s (x23 over 6m33s)") are kept as
`AGO + seconds` strings, resolved against the incident's moment once it is known
(tools/scenario/recorded.py), since describe prints ages relative to when it ran.
"""
from __future__ import annotations

import re
from typing import Any

from tools.scenario.kubectl_text import Node, age_seconds, describe_time, describe_tree, event_age, kv_list, table

AGO = "@ago:"   # placeholder prefix: "@ago:87" = 87 seconds before the incident's moment

_API = {"Pod": "v1", "Node": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1",
        "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def api_version(kind: str) -> str:
    return _API.get(kind, "v1")


def owner_ref(kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": api_version(kind), "kind": kind, "name": name, "uid": f"recorded-{kind.lower()}-{name}",
            "controller": True}


def _meta(t: Node, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": t.val("Name"), "namespace": t.val("Namespace") or namespace or None}
    labels = kv_list(t.get("Labels").values()) if t.get("Labels") else {}
    ann = kv_list(t.get("Annotations").values(), sep=":") if t.get("Annotations") else {}
    if labels:
        meta["labels"] = labels
    if ann:
        meta["annotations"] = ann
    created = describe_time(t.val("CreationTimestamp") or t.val("Start Time"))
    if created:
        meta["creationTimestamp"] = created
    owner = t.val("Controlled By")
    if "/" in owner:
        kind, _, name = owner.partition("/")
        meta["ownerReferences"] = [owner_ref(kind, name)]
    return {k: v for k, v in meta.items() if v is not None}


def _resources(c: Node) -> dict[str, dict[str, str]]:
    out = {}
    for key, field in (("Limits", "limits"), ("Requests", "requests")):
        n = c.get(key)
        if n is not None and n.children:
            out[field] = {r.key: r.value for r in n.children}
    return out


_SECRET_REF = re.compile(r"<set to the key '([^']+)' in (secret|config map) '([^']+)'>")


def _env(c: Node) -> list[dict[str, Any]]:
    n = c.get("Environment")
    out = []
    for e in (n.children if n is not None else []):
        m = _SECRET_REF.match(e.value)
        if m:
            ref = "secretKeyRef" if m.group(2) == "secret" else "configMapKeyRef"
            out.append({"name": e.key, "valueFrom": {ref: {"name": m.group(3), "key": m.group(1)}}})
        else:
            out.append({"name": e.key, "value": e.value})
    return out


def _items(n: Node | None) -> list[str]:
    return [ln.strip() for ln in n.lines] if n is not None else []


def _container(c: Node) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": c.key, "image": c.val("Image")}
    for key, field in (("Command", "command"), ("Args", "args")):
        if c.get(key) is not None:
            spec[field] = _items(c.get(key)) or c.get(key).values()
    ports = [p for p in re.split(r",\s*", c.val("Port") or c.val("Ports")) if re.match(r"^\d+/", p)]
    if ports:
        spec["ports"] = [{"containerPort": int(p.split("/")[0]), "protocol": p.split("/")[1]} for p in ports]
    for key, field in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")):
        if c.val(key):
            spec[field] = {"recorded": c.val(key)}   # describe prints probes as one line
    res, env = _resources(c), _env(c)
    if res:
        spec["resources"] = res
    if env:
        spec["env"] = env
    return spec


def _state(n: Node | None) -> dict[str, Any]:
    if n is None or not n.value:
        return {}
    kind = n.value.split()[0].lower()
    detail: dict[str, Any] = {}
    for key, field in (("Reason", "reason"), ("Message", "message"), ("Signal", "signal")):
        if n.val(key):
            detail[field] = " ".join([n.val(key)] + n.get(key).more)
    if n.val("Exit Code"):
        detail["exitCode"] = int(n.val("Exit Code"))
    for key, field in (("Started", "startedAt"), ("Finished", "finishedAt")):
        t = describe_time(n.val(key)) if n.val(key) else None
        if t:
            detail[field] = t
    started = re.match(r"Running\s+(?:since\s+)?(.*)", n.value) if kind == "running" else None
    if started and describe_time(started.group(1)) and "startedAt" not in detail:
        detail["startedAt"] = describe_time(started.group(1))
    return {kind: detail} if kind in ("waiting", "running", "terminated") else {}


def _status(c: Node) -> dict[str, Any]:
    return {"name": c.key, "image": c.val("Image"), "imageID": c.val("Image ID"), "containerID": c.val("Container ID"),
            "ready": c.val("Ready") == "True", "restartCount": int(c.val("Restart Count") or 0),
            "started": c.val("State").startswith("Running"), "state": _state(c.get("State")),
            "lastState": _state(c.get("Last State"))}


def _volumes(t: Node) -> list[dict[str, Any]]:
    out = []
    for v in (t.get("Volumes").children if t.get("Volumes") else []):
        typ = v.val("Type").split(" ")[0]
        vol: dict[str, Any] = {"name": v.key}
        if typ == "ConfigMap":
            vol["configMap"] = {"name": v.val("Name")}
        elif typ == "Secret":
            vol["secret"] = {"secretName": v.val("SecretName")}
        elif typ == "PersistentVolumeClaim":
            vol["persistentVolumeClaim"] = {"claimName": v.val("ClaimName")}
        elif typ == "EmptyDir":
            vol["emptyDir"] = {}
        else:
            continue   # projected service-account tokens and the like: nothing a diagnosis reads
        out.append(vol)
    return out


def _conditions(t: Node) -> list[dict[str, Any]]:
    out = []
    for row in table(t.get("Conditions").lines if t.get("Conditions") else []):
        cond = {"type": row.get("Type", ""), "status": row.get("Status", "")}
        for col, field in (("Reason", "reason"), ("Message", "message")):
            if row.get(col):
                cond[field] = row[col]
        for col, field in (("LastHeartbeatTime", "lastHeartbeatTime"), ("LastTransitionTime", "lastTransitionTime")):
            if row.get(col) and describe_time(row[col]):
                cond[field] = describe_time(row[col])
        out.append(cond)
    return out


def events(t: Node, kind: str, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The describe's Events table as Event objects about this object."""
    out = []
    for i, row in enumerate(table(t.get("Events").lines if t.get("Events") else [])):
        last, count, first = event_age(row.get("Age", ""))
        out.append(event(kind, meta["name"], meta.get("namespace"), row.get("Reason", ""), row.get("Message", ""),
                         row.get("Type", "Normal"), row.get("From", ""), last, count, first, i))
    return out


def event(kind: str, name: str, namespace: str | None, reason: str, message: str, typ: str, source: str,
          last: int | None, count: int, first: int | None, i: int) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{name}.recorded{i}", **({"namespace": namespace} if namespace else {})},
        "involvedObject": {"apiVersion": api_version(kind), "kind": kind, "name": name,
                           **({"namespace": namespace} if namespace else {})},
        "reason": reason, "message": message, "type": typ or "Normal", "count": count,
        "source": {"component": source} if source else {}}
    if last is not None:
        ev["lastTimestamp"] = f"{AGO}{last}"
        ev["firstTimestamp"] = f"{AGO}{first if first is not None else last}"
    return ev


def pod(t: Node, namespace: str | None) -> list[dict[str, Any]]:
    meta = _meta(t, namespace)
    node_name, _, host_ip = t.val("Node").partition("/")
    spec: dict[str, Any] = {"containers": [_container(c) for c in (t.get("Containers").children if t.get("Containers") else [])]}
    if t.get("Init Containers"):
        spec["initContainers"] = [_container(c) for c in t.get("Init Containers").children]
    if node_name and node_name != "<none>":
        spec["nodeName"] = node_name
    selectors = kv_list(t.get("Node-Selectors").values()) if t.get("Node-Selectors") else {}
    if selectors:
        spec["nodeSelector"] = selectors
    if _volumes(t):
        spec["volumes"] = _volumes(t)
    status: dict[str, Any] = {"phase": t.val("Status").split(" ")[0] or "Unknown", "conditions": _conditions(t),
                              "containerStatuses": [_status(c) for c in (t.get("Containers").children if t.get("Containers") else [])]}
    if t.get("Init Containers"):
        status["initContainerStatuses"] = [_status(c) for c in t.get("Init Containers").children]
    if t.val("Reason"):
        status["reason"] = t.val("Reason")
    if t.val("Message"):
        status["message"] = t.val("Message")
    if host_ip:
        status["hostIP"] = host_ip
    if t.val("IP"):
        status["podIP"] = t.val("IP")
    if meta.get("creationTimestamp"):
        status["startTime"] = meta["creationTimestamp"]
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    return [obj] + events(t, "Pod", meta)


def _template(t: Node) -> dict[str, Any]:
    pt = t.get("Pod Template") or Node()
    labels = kv_list(pt.get("Labels").values()) if pt.get("Labels") else {}
    spec: dict[str, Any] = {"containers": [_container(c) for c in (pt.get("Containers").children if pt.get("Containers") else [])]}
    if pt.get("Init Containers"):
        spec["initContainers"] = [_container(c) for c in pt.get("Init Containers").children]
    if _volumes(pt):
        spec["volumes"] = _volumes(pt)
    return {"metadata": {"labels": labels} if labels else {}, "spec": spec}


_REPLICAS = re.compile(r"(\d+) (desired|updated|total|available|unavailable)")
_RS = re.compile(r"([\w.-]+) \((\d+)/(\d+) replicas created\)")


def deployment(t: Node, namespace: str | None) -> list[dict[str, Any]]:
    meta = _meta(t, namespace)
    counts = {k: int(v) for v, k in _REPLICAS.findall(t.val("Replicas"))}
    spec = {"replicas": counts.get("desired", 0), "selector": {"matchLabels": kv_list([t.val("Selector")])},
            "strategy": {"type": t.val("StrategyType") or "RollingUpdate"}, "template": _template(t)}
    status = {"replicas": counts.get("total", 0), "updatedReplicas": counts.get("updated", 0),
              "availableReplicas": counts.get("available", 0), "unavailableReplicas": counts.get("unavailable", 0),
              # describe prints no ready count; an available replica is a ready one (minReadySeconds 0)
              "readyReplicas": counts.get("available", 0), "conditions": _conditions(t)}
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": status}
    out = [obj]
    revision = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
    new = _RS.match(t.val("NewReplicaSet"))
    if new:   # the new ReplicaSet carries the current revision and template (the rollout history)
        rs_meta = {"name": new.group(1), "namespace": meta.get("namespace"),
                   "ownerReferences": [owner_ref("Deployment", meta["name"])],
                   "labels": {**spec["template"]["metadata"].get("labels", {}),
                              "pod-template-hash": new.group(1).rsplit("-", 1)[-1]}}
        if revision:
            rs_meta["annotations"] = {"deployment.kubernetes.io/revision": revision}
        out.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta,
                    "spec": {"replicas": int(new.group(3)), "selector": spec["selector"], "template": spec["template"]},
                    "status": {"replicas": int(new.group(2))}})
    return out + events(t, "Deployment", meta)


_POD_STATUSES = re.compile(r"(\d+) (Active|Succeeded|Failed)")
# Events the job controller records when it sets the Job's terminal Failed condition.
_JOB_FAILED = ("BackoffLimitExceeded", "DeadlineExceeded", "FailedIndexes", "PodFailurePolicy")


def job(t: Node, namespace: str | None) -> list[dict[str, Any]]:
    meta = _meta(t, namespace)
    counts = {k.lower(): int(v) for v, k in _POD_STATUSES.findall(t.val("Pods Statuses"))}
    spec: dict[str, Any] = {"template": _template(t)}
    for key, field in (("Parallelism", "parallelism"), ("Completions", "completions"), ("Backoff Limit", "backoffLimit")):
        if t.val(key).isdigit():
            spec[field] = int(t.val(key))
    status: dict[str, Any] = {k: v for k, v in counts.items() if v}
    if describe_time(t.val("Start Time")):
        status["startTime"] = describe_time(t.val("Start Time"))
    evs = events(t, "Job", meta)
    failed = next((e for e in evs if e["reason"] in _JOB_FAILED), None)
    if failed:
        status["conditions"] = [{"type": "Failed", "status": "True", "reason": failed["reason"],
                                 "message": failed["message"], "lastTransitionTime": failed.get("lastTimestamp")}]
    return [{"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec, "status": status}] + evs


def _taints(values: list[str]) -> list[dict[str, str]]:
    out = []
    for v in values:
        m = re.match(r"^([^=:]+)(?:=([^:]*))?:(\w+)$", v)
        if m:
            out.append({"key": m.group(1), **({"value": m.group(2)} if m.group(2) else {}), "effect": m.group(3)})
    return out


def node(t: Node, _namespace: str | None) -> list[dict[str, Any]]:
    meta = _meta(t, None)
    meta.pop("namespace", None)
    spec: dict[str, Any] = {}
    taints = _taints(t.get("Taints").values()) if t.get("Taints") else []
    if taints:
        spec["taints"] = taints
    if t.val("Unschedulable") == "true":
        spec["unschedulable"] = True
    status: dict[str, Any] = {"conditions": _conditions(t)}
    for key, field in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        if t.get(key):
            status[field] = {r.key: r.value for r in t.get(key).children}
    if t.get("Addresses"):
        status["addresses"] = [{"type": a.key, "address": a.value} for a in t.get("Addresses").children]
    info = t.get("System Info")
    if info:
        status["nodeInfo"] = {"kubeletVersion": info.val("Kubelet Version"), "osImage": info.val("OS Image"),
                              "containerRuntimeVersion": info.val("Container Runtime Version")}
    out = [{"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec, "status": status}]
    return out + _node_pods(t, meta["name"]) + events(t, "Node", meta)


def _node_pods(t: Node, node_name: str) -> list[dict[str, Any]]:
    """The node's "Non-terminated Pods" as pods bound to it: names, namespaces and age only (describe
    gives their totals, not their containers)."""
    out = []
    for row in table(t.get("Non-terminated Pods").lines if t.get("Non-terminated Pods") else []):
        if not row.get("Name"):
            continue
        meta = {"name": row["Name"], "namespace": row.get("Namespace") or "default"}
        age = age_seconds(row.get("Age", ""))
        if age is not None:
            meta["creationTimestamp"] = f"{AGO}{age}"
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                    "spec": {"nodeName": node_name, "containers": []}, "status": {"phase": "Running"}})
    return out


BUILDERS = {"pod": pod, "deployment": deployment, "job": job, "node": node}


def describe_objects(kind: str, text: str, namespace: str | None) -> list[dict[str, Any]]:
    """Objects (and events) a `kubectl describe <kind>` text states; [] for kinds not read."""
    build = BUILDERS.get(kind.lower().rstrip("s"))
    if build is None:
        return []
    tree = describe_tree(text)
    if not tree.val("Name"):
        return []
    return build(tree, namespace)
