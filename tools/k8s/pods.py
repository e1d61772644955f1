"""k8s_pods: pod phase, conditions, container states, restarts and last termination."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import ApiFailure, Kube
from tools.k8s.compact import conditions, owner, parse_time, prune, resources, short
from tools.k8s.selectors import labels_match, label_selector_string
from tools.k8s.views import PodView, config_hosts, pod_uses, pod_workload

# A pod that is Pending this long is a problem, younger ones are probably just starting.
PENDING_GRACE_S = 120


async def read_pods(kube: Kube, now: datetime, namespace: str, name: str | None = None,
                    label_selector: str | None = None) -> ToolResult:
    base = f"/api/v1/namespaces/{namespace}/pods"
    if name:
        pods = [await kube.json(f"{base}/{name}", kube.core.read_namespaced_pod, name=name, namespace=namespace)]
    else:
        body = await kube.json(base, kube.core.list_namespaced_pod, namespace=namespace,
                               label_selector=label_selector or None)
        pods = body.get("items") or []
    if not pods:
        where = f" matching {label_selector!r}" if label_selector else ""
        return ToolResult(status="no_data", summary=f"no pods in namespace {namespace}{where}")
    views = [pod_view(p, now) for p in pods]
    views.sort(key=lambda v: (not v.get("problems"), v["name"]))
    phases = Counter(v["phase"] for v in views)
    reasons = Counter(r for v in views for r in v.get("problems", []) if not r.startswith("restarts"))
    data = {"namespace": namespace, "count": len(views), "by_phase": dict(phases),
            "by_problem": dict(reasons), "pods": views}
    if not name and not label_selector:
        try:
            data["services"] = await _services(kube, namespace, pods)
        except ApiFailure as failure:  # RBAC without services must not cost the pods themselves
            data["services_unavailable"] = failure.message[:200]
    return ToolResult(status="ok", data=data, summary=_summary(namespace, views, phases))


async def _services(kube: Kube, namespace: str, pods: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each Service of the namespace and the pods its selector picks: a name clients use for them,
    and a link between workloads behind one Service."""
    body = await kube.json(f"/api/v1/namespaces/{namespace}/services", kube.core.list_namespaced_service,
                           namespace=namespace)
    out: dict[str, list[str]] = {}
    for svc in body.get("items") or []:
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            continue
        text = label_selector_string({"matchLabels": selector})
        picked = [p["metadata"]["name"] for p in pods if labels_match(text, (p.get("metadata") or {}).get("labels"))]
        out[(svc.get("metadata") or {}).get("name", "?")] = picked[:50]
    return out


def pod_view(pod: dict[str, Any], now: datetime) -> PodView:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    controller, workload = pod_workload(meta)
    statuses = {s.get("name"): s for s in status.get("containerStatuses") or []}
    containers = [_container(c, statuses.get(c.get("name"))) for c in spec.get("containers") or []]
    init_statuses = {s.get("name"): s for s in status.get("initContainerStatuses") or []}
    inits = [_container(c, init_statuses.get(c.get("name"))) | {"init": True} for c in spec.get("initContainers") or []]
    # Init containers that finished cleanly are noise.
    inits = [c for c in inits if not (c.get("state") == "terminated" and c.get("exit_code") == 0)]
    ready = sum(1 for c in containers if c.get("ready"))
    phase = status.get("phase") or "Unknown"
    view = prune({
        "name": meta.get("name"),
        "phase": phase,
        "ready": f"{ready}/{len(containers)}",
        "restarts": sum(c.get("restarts", 0) for c in containers),
        "reason": status.get("reason"),
        "message": short(status.get("message")),
        "node": spec.get("nodeName"),
        "owner": _owner_chain(meta),
        "controller": controller,
        "workload": workload,
        "start_time": status.get("startTime"),
        "deleting_since": meta.get("deletionTimestamp"),
        "qos": status.get("qosClass"),
        "conditions": conditions(status.get("conditions")),
        "containers": inits + containers,
        "uses": pod_uses(spec),
        "config_hosts": config_hosts(spec),
    })
    view["problems"] = _problems(view, phase, meta, now)
    return view


def _container(spec: dict[str, Any], st: dict[str, Any] | None) -> dict[str, Any]:
    st = st or {}
    out: dict[str, Any] = {"name": spec.get("name"), "image": spec.get("image"), "ready": bool(st.get("ready")),
                           "restarts": int(st.get("restartCount") or 0)}
    state = st.get("state") or {}
    for kind in ("waiting", "running", "terminated"):
        if kind in state and state[kind] is not None:
            s = state[kind]
            out.update(prune({"state": kind, "reason": s.get("reason"), "message": short(s.get("message")),
                              "exit_code": s.get("exitCode"), "since": s.get("startedAt") or s.get("finishedAt")}))
            break
    last = (st.get("lastState") or {}).get("terminated")
    if last:
        out["last_termination"] = prune({"reason": last.get("reason"), "exit_code": last.get("exitCode"),
                                         "signal": last.get("signal"), "message": short(last.get("message")),
                                         "started_at": last.get("startedAt"), "finished_at": last.get("finishedAt")})
    if st.get("started") is False and out.get("state") == "running":
        out["started"] = False  # startup probe still failing
    out.update(resources(spec))
    ports = [p["containerPort"] for p in spec.get("ports") or [] if isinstance(p.get("containerPort"), int)]
    if ports:
        out["ports"] = ports
    if st.get("imageID") and st.get("image") and st.get("image") != spec.get("image"):
        out["running_image"] = st.get("image")
    return out


def _owner_chain(meta: dict[str, Any]) -> str | None:
    """ReplicaSet owners also name their Deployment: the RS name is <deployment>-<pod-template-hash>."""
    own = owner(meta)
    tpl_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if own and own.startswith("ReplicaSet/") and tpl_hash and own.endswith(f"-{tpl_hash}"):
        return f"Deployment/{own[len('ReplicaSet/'):-len(tpl_hash) - 1]} (via {own})"
    return own


def _problems(view: dict[str, Any], phase: str, meta: dict[str, Any], now: datetime) -> list[str]:
    problems: list[str] = []
    if view.get("reason"):
        problems.append(view["reason"])
    if phase in ("Failed", "Unknown"):
        problems.append(phase)
    for c in view.get("containers", []):
        if c.get("state") == "waiting" and c.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            problems.append(c["reason"])
        if c.get("state") == "terminated" and c.get("exit_code") not in (0, None) and not c.get("init"):
            problems.append(c.get("reason") or f"exit {c.get('exit_code')}")
        if c.get("init") and c.get("state") == "terminated" and c.get("exit_code") not in (0, None):
            problems.append(f"init:{c.get('reason') or 'Error'}")
        last = c.get("last_termination", {})
        if c.get("restarts") and last.get("reason") not in (None, "Completed"):
            problems.append(f"last terminated {last['reason']}"
                            + (f" (exit {last['exit_code']})" if last.get("exit_code") is not None else ""))
    if phase == "Running" and not all(c.get("ready") for c in view.get("containers", []) if not c.get("init")):
        problems.append("NotReady")
    if phase == "Pending":
        unscheduled = next((c for c in view.get("conditions", [])
                            if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
        if unscheduled:
            problems.append(unscheduled.get("reason") or "Unschedulable")
        else:
            created = parse_time(meta.get("creationTimestamp"))
            if created is None or (now - created).total_seconds() > PENDING_GRACE_S:
                problems.append("Pending")
    if view.get("restarts"):
        problems.append(f"restarts={view['restarts']}")
    return list(dict.fromkeys(problems))


def _summary(namespace: str, views: list[dict[str, Any]], phases: Counter) -> str:
    bad = [v for v in views if v.get("problems")]
    head = f"{len(views)} pod(s) in {namespace}: " + ", ".join(f"{n} {p}" for p, n in phases.most_common())
    if not bad:
        return head + "; all healthy"
    parts = []
    for v in bad[:5]:
        detail = ", ".join(v["problems"][:4])
        parts.append(f"{v['name']} ({detail})")
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{head}; {len(bad)} with problems: " + "; ".join(parts) + more
