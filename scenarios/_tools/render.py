"""Turn a World into API objects (as `kubectl get -o yaml` shows them at `now`) and log documents."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from world import EVENT_TTL, Container, Deployment, Pod, World, cpu_cores, mem_bytes, rfc3339, secs


# -- pods ---------------------------------------------------------------------------------------
def _state(c: Container, now: datetime, restart_policy: str) -> tuple[dict, dict, bool]:
    runs = [r for r in c.runs if r.start <= now]
    def term(r):
        return {"terminated": {"exitCode": r.exit_code, "reason": r.reason, "startedAt": rfc3339(r.start),
                               "finishedAt": rfc3339(r.end), "containerID": r.container_id}}
    cur = runs[-1] if runs else None
    last = term(runs[-2]) if len(runs) >= 2 and runs[-2].end else {}
    if cur is not None and cur.covers(now):
        return {"running": {"startedAt": rfc3339(cur.start)}}, last, True
    if c.waiting:
        reason, message = c.waiting
        return {"waiting": {"reason": reason, "message": message}}, (term(cur) if cur and cur.end else last), False
    if cur is not None and cur.end:
        return term(cur), last, False
    return {"waiting": {"reason": "ContainerCreating"}}, {}, False


def pod_object(w: World, p: Pod) -> dict:
    now = w.now
    spec = {"containers": [c.spec for c in p.containers], "restartPolicy": p.restart_policy, **p.spec_extra}
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("tolerations", [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}])
    spec["restartPolicy"] = p.restart_policy
    if p.node:
        spec["nodeName"] = p.node
    meta = {"name": p.name, "namespace": p.namespace, "uid": p.uid, "resourceVersion": w.rv(),
            "creationTimestamp": rfc3339(p.created), "labels": p.labels}
    if p.owner:
        meta["ownerReferences"] = [p.owner]
    if p.name.count("-") >= 2 and p.owner and p.owner["kind"] == "ReplicaSet":
        meta["generateName"] = p.name[: p.name.rfind("-") + 1]
    status: dict = {"qosClass": _qos(p)}
    if p.unschedulable:
        status.update(phase="Pending", conditions=[{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": p.unschedulable,
            "lastProbeTime": None, "lastTransitionTime": rfc3339(p.created + secs(1))}])
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    statuses, all_ready, any_running, all_done, any_failed = [], True, False, True, False
    for c in p.containers:
        state, last, running = _state(c, now, p.restart_policy)
        ready = running and (c.ready_override if c.ready_override is not None else True)
        restarts = max(0, len([r for r in c.runs if r.start <= now]) - 1)
        cs = {"name": c.name, "image": c.image, "imageID": c.image_id if c.runs else "",
              "ready": ready, "started": running, "restartCount": restarts, "state": state, "lastState": last}
        if c.runs:
            cs["containerID"] = c.runs[-1].container_id
        statuses.append(cs)
        all_ready &= ready
        any_running |= running
        t = state.get("terminated")
        all_done &= t is not None
        any_failed |= bool(t and t["exitCode"] != 0)
    created = p.created
    first_start = min((c.runs[0].start for c in p.containers if c.runs), default=created + secs(3))
    if p.evicted:
        when, message = p.evicted
        status.update(phase="Failed", reason="Evicted", message=message)
        for cs in statuses:
            cs.update(ready=False, started=False, state={"terminated": {
                "exitCode": 137, "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the pod was terminated",
                "startedAt": rfc3339(first_start), "finishedAt": rfc3339(when)}})
        all_ready = False
        conds = [("DisruptionTarget", "True", when, "TerminationByKubelet", message)]
    else:
        if p.restart_policy != "Always" and all_done:
            status["phase"] = "Failed" if any_failed else "Succeeded"
        else:
            status["phase"] = "Running" if any_running or p.restart_policy == "Always" else "Pending"
        conds = []
    ready_since = max((c.runs[-1].start for c in p.containers if c.runs), default=first_start) + secs(6)
    not_ready = "ContainersNotReady"
    if status.get("phase") in ("Succeeded", "Failed") and not p.evicted:
        not_ready = "PodCompleted" if status["phase"] == "Succeeded" else "PodFailed"
        ready_since = max((c.runs[-1].end for c in p.containers if c.runs and c.runs[-1].end), default=ready_since)
    conds += [("PodReadyToStartContainers", "True", first_start - secs(1), None, None),
              ("Initialized", "True", created + secs(1), None, None),
              ("Ready", "True" if all_ready else "False", ready_since, None if all_ready else not_ready, None),
              ("ContainersReady", "True" if all_ready else "False", ready_since, None if all_ready else not_ready, None),
              ("PodScheduled", "True", created + secs(1), None, None)]
    status["conditions"] = []
    for typ, st, when, reason, message in conds:
        c = {"type": typ, "status": st, "lastProbeTime": None, "lastTransitionTime": rfc3339(when)}
        if reason:
            c["reason"] = reason
        if message or reason == "ContainersNotReady":
            names = [s["name"] for s in statuses if not s["ready"]]
            c["message"] = message or f"containers with unready status: [{' '.join(names)}]"
        status["conditions"].append(c)
    node = next((n for n in w.nodes if n["metadata"]["name"] == p.node), None)
    status.update(hostIP=node["_ip"] if node else None, podIP=p.ip, podIPs=[{"ip": p.ip}],
                  startTime=rfc3339(created + secs(1)), containerStatuses=statuses)
    if node:
        status["hostIPs"] = [{"ip": node["_ip"]}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _qos(p: Pod) -> str:
    reqs = [c.spec.get("resources", {}) for c in p.containers]
    if not any(r.get("requests") or r.get("limits") for r in reqs):
        return "BestEffort"
    guaranteed = all(r.get("limits", {}).get(k) and r.get("requests", {}).get(k, r["limits"][k]) == r["limits"][k]
                     for r in reqs for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


# -- deployments and replicasets ------------------------------------------------------------------
def deployment_objects(w: World, d: Deployment) -> list[dict]:
    now = w.now
    out = []
    cur = d.current
    live = d.live_pods(now)
    ready = [p for p in live if all(c.running_at(now) for c in p.containers)]
    updated = [p for p in cur.pods if p.alive_at(now)]
    gen = 1 + len(d.revisions) + w.rng.randrange(0, 20)
    for rev in d.revisions:
        rs_live = [p for p in rev.pods if p.alive_at(now)]
        rs_ready = [p for p in rs_live if p in ready]
        desired = len(rs_live) if rev is cur or rs_live else 0
        out.append({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rev.rs_name(d.name), "namespace": d.namespace, "uid": rev.uid,
                         "resourceVersion": w.rv(), "generation": 1 + (2 if rev is not cur else 0),
                         "creationTimestamp": rfc3339(rev.created), "labels": rev.template["metadata"]["labels"],
                         "annotations": {"deployment.kubernetes.io/desired-replicas": str(d.replicas),
                                         "deployment.kubernetes.io/max-replicas": str(d.replicas + 1),
                                         "deployment.kubernetes.io/revision": str(rev.number)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name,
                                              "uid": d.uid, "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": desired,
                     "selector": {"matchLabels": {"app": d.name, "pod-template-hash": rev.hash}},
                     "template": rev.template},
            "status": {"replicas": len(rs_live), "fullyLabeledReplicas": len(rs_live), "readyReplicas": len(rs_ready),
                       "availableReplicas": len(rs_ready), "observedGeneration": 1 + (2 if rev is not cur else 0)},
        })
    complete = len(updated) == d.replicas and len(ready) == d.replicas and len(live) == d.replicas
    available = len(ready) >= d.replicas - _max_unavailable(d)
    last_progress = max([cur.created] + [p.created for p in updated])
    if complete:
        progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{cur.rs_name(d.name)}" has successfully progressed.')
    elif now - last_progress > timedelta(seconds=600):
        progressing = ("False", "ProgressDeadlineExceeded",
                       f'ReplicaSet "{cur.rs_name(d.name)}" has timed out progressing.')
        last_progress += timedelta(seconds=600)
    else:
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{cur.rs_name(d.name)}" is progressing.')
    status = {"observedGeneration": gen, "replicas": len(live), "updatedReplicas": len(updated),
              "readyReplicas": len(ready), "availableReplicas": len(ready),
              "conditions": [
                  {"type": "Available", "status": "True" if available else "False",
                   "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                   "message": "Deployment has minimum availability." if available
                   else "Deployment does not have minimum availability.",
                   "lastUpdateTime": rfc3339(cur.created), "lastTransitionTime": rfc3339(d.created)},
                  {"type": "Progressing", "status": progressing[0], "reason": progressing[1], "message": progressing[2],
                   "lastUpdateTime": rfc3339(last_progress), "lastTransitionTime": rfc3339(last_progress)}]}
    if len(live) > len(ready):
        status["unavailableReplicas"] = len(live) - len(ready)
    out.insert(0, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": d.name, "namespace": d.namespace, "uid": d.uid, "resourceVersion": w.rv(),
                     "generation": gen, "creationTimestamp": rfc3339(d.created), "labels": d.labels,
                     "annotations": {"deployment.kubernetes.io/revision": str(cur.number)}},
        "spec": {"replicas": d.replicas, "selector": {"matchLabels": {"app": d.name}}, "strategy": d.strategy,
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600, "template": _strip_hash(cur.template)},
        "status": status})
    return out


def _max_unavailable(d: Deployment) -> int:
    v = d.strategy.get("rollingUpdate", {}).get("maxUnavailable", 0)
    return int(d.replicas * int(v[:-1]) / 100) if isinstance(v, str) and v.endswith("%") else int(v)


def _strip_hash(template: dict) -> dict:
    t = json.loads(json.dumps(template))
    t["metadata"]["labels"].pop("pod-template-hash", None)
    return t


# -- automatic events ------------------------------------------------------------------------------
def auto_events(w: World) -> None:
    """Events the control plane would have recorded for what happened in the last hour."""
    horizon = w.now - EVENT_TTL
    for d in w.deployments:
        for prev, rev in zip(d.revisions, d.revisions[1:]):
            if rev.created < horizon:
                continue
            ref = w.ref_of("Deployment", d.namespace, d.name, "apps/v1", d.uid)
            new_n = len([p for p in rev.pods if p.created <= w.now])
            for i in range(1, new_n + 1):
                w.event(ref, "ScalingReplicaSet",
                        f"Scaled up replica set {rev.rs_name(d.name)} to {i}" + (f" from {i - 1}" if i > 1 else ""),
                        first=rev.created + secs(25 * (i - 1)), component="deployment-controller")
            gone = [p for p in prev.pods if p.ended and p.ended <= w.now]
            for i, p in enumerate(gone):
                w.event(ref, "ScalingReplicaSet",
                        f"Scaled down replica set {prev.rs_name(d.name)} to {len(gone) - i - 1} from {len(gone) - i}",
                        first=p.ended - secs(30), component="deployment-controller")
    for p in w.pods:
        if p.unschedulable:
            continue
        ref = w.ref(p)
        if p.created >= horizon:
            w.event(ref, "Scheduled", f"Successfully assigned {p.namespace}/{p.name} to {p.node}",
                    first=p.created + secs(1), component="default-scheduler")
        for c in p.containers:
            fp = f"spec.containers{{{c.name}}}"
            starts = [r.start for r in c.runs if horizon <= r.start <= w.now]
            if starts:
                w.event(ref, "Pulled", f'Container image "{c.image}" already present on machine', first=starts[0],
                        last=starts[-1], count=len(starts), host=p.node, field_path=fp)
                w.event(ref, "Created", f"Created container {c.name}", first=starts[0], last=starts[-1],
                        count=len(starts), host=p.node, field_path=fp)
                w.event(ref, "Started", f"Started container {c.name}", first=starts[0], last=starts[-1],
                        count=len(starts), host=p.node, field_path=fp)
            if c.waiting and c.waiting[0] == "CrashLoopBackOff":
                ends = [r.end for r in c.runs if r.end and r.end <= w.now]
                recent = [t for t in ends if t >= horizon] or ends[-1:]
                back = sum(max(1, int((b - a).total_seconds() // 10)) for a, b in
                           zip(recent, [r.start for r in c.runs if r.start > recent[0]] + [w.now]))
                w.event(ref, "BackOff", f"Back-off restarting failed container {c.name} in pod "
                        f"{p.name}_{p.namespace}({p.uid})", first=recent[0] + secs(1), last=w.now - secs(w.rng.randrange(5, 40)),
                        count=back, type="Warning", host=p.node, field_path=fp)
            if p.ended and horizon <= p.ended <= w.now:
                w.event(ref, "Killing", f"Stopping container {c.name}", first=p.ended - secs(30), host=p.node,
                        field_path=fp)


# -- logs ----------------------------------------------------------------------------------------
def fluent_docs(w: World, message_key: str = "log") -> list[dict]:
    docs = []
    for p in w.pods:
        for c in p.containers:
            for r in c.runs:
                for t, text, stream in r.lines:
                    if not (w.start <= t <= w.now):
                        continue
                    docs.append((t, {
                        "@timestamp": rfc3339(t, ms=True), "stream": stream, "_p": "F", message_key: text,
                        "kubernetes": {"pod_name": p.name, "namespace_name": p.namespace, "pod_id": p.uid,
                                       "labels": {k: v for k, v in p.labels.items()}, "host": p.node,
                                       "container_name": c.name, "docker_id": r.container_id.split("//")[-1],
                                       "container_hash": c.image_id, "container_image": c.image}}))
    docs.sort(key=lambda x: x[0])
    return [d for _, d in docs]


def pod_log_files(w: World) -> dict[str, str]:
    """`kubectl logs` content: the newest instance, and with --previous the one before it."""
    files: dict[str, str] = {}
    for p in w.pods:
        if not p.alive_at(w.now) and not p.evicted and p.ended:
            continue
        multi = len(p.containers) > 1
        for c in p.containers:
            runs = [r for r in c.runs if r.start <= w.now]
            base = f"{p.name}.{c.name}" if multi else p.name
            for suffix, r in (("", runs[-1] if runs else None), (".previous", runs[-2] if len(runs) > 1 else None)):
                if r is None:
                    continue
                lines = sorted((x for x in r.lines if x[0] <= w.now), key=lambda x: x[0])
                files[f"{base}{suffix}.log"] = "".join(text + "\n" for _, text, _ in lines)
    return files


def node_objects(w: World) -> list[dict]:
    out = []
    for n in w.nodes:
        n = {k: v for k, v in n.items() if not k.startswith("_")}
        n = json.loads(json.dumps(n))
        name = n["metadata"]["name"]
        overrides = w.node_conditions.get(name, {})
        hb = w.now - secs(w.rng.randrange(5, 50))
        created = n["metadata"]["creationTimestamp"]
        conds = []
        for cond, ok_reason, ok_msg in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ("Ready", "KubeletReady", "kubelet is posting ready status")):
            default = "True" if cond == "Ready" else "False"
            status, reason, message, since = overrides.get(cond, (default, ok_reason, ok_msg, None))
            conds.append({"type": cond, "status": status, "lastHeartbeatTime": rfc3339(hb),
                          "lastTransitionTime": rfc3339(since) if since else created,
                          "reason": reason, "message": message})
        n["status"]["conditions"] = conds
        if any(c["type"] == "MemoryPressure" and c["status"] == "True" for c in conds):
            n["spec"].setdefault("taints", []).append(
                {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule",
                 "timeAdded": rfc3339(overrides["MemoryPressure"][3])})
        out.append(n)
    return out


def all_objects(w: World) -> dict[str, list[dict]]:
    auto_events(w)
    deps = [o for d in w.deployments for o in deployment_objects(w, d)]
    pods = [pod_object(w, p) for p in w.pods if p.alive_at(w.now) or p.evicted or
            (p.ended is None and p.restart_policy != "Always")]
    horizon = w.now - EVENT_TTL
    events = sorted((e for e in w.events if e["lastTimestamp"] >= rfc3339(horizon)
                     and e["firstTimestamp"] <= rfc3339(w.now)), key=lambda e: e["lastTimestamp"])
    groups = {"deployments": [o for o in deps if o["kind"] == "Deployment"],
              "replicasets": [o for o in deps if o["kind"] == "ReplicaSet"],
              "pods": pods, "events": events, "nodes": node_objects(w) if w.nodes else []}
    for o in w.objects:
        groups.setdefault(o["kind"].lower() + "s", []).append(o)
    return {k: v for k, v in groups.items() if v}


def resources_of(spec: dict) -> dict[str, float]:
    r = spec.get("resources", {})
    return {"cpu_request": cpu_cores(r.get("requests", {}).get("cpu")) or 0.0,
            "cpu_limit": cpu_cores(r.get("limits", {}).get("cpu")) or 0.0,
            "memory_request": mem_bytes(r.get("requests", {}).get("memory")) or 0,
            "memory_limit": mem_bytes(r.get("limits", {}).get("memory")) or 0}
