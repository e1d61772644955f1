"""k8s_nodes: readiness, pressure conditions, taints, cordon state and allocatable resources."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import Kube
from tools.k8s.compact import as_int, conditions, prune
from tools.k8s.quantity import cpu_cores, cpu_text, mem_bytes, mem_text

# Good status per node condition; anything else is a problem.
HEALTHY = {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False",
           "NetworkUnavailable": "False"}
_RESOURCES = ("cpu", "memory", "pods", "ephemeral-storage")
_ADDRESSES = ("InternalIP", "ExternalIP", "Hostname")


def _kept(resource: str) -> bool:
    """The core resources and every extended one (nvidia.com/gpu...): whether a node offers a GPU is
    what a Pending pod's 'Insufficient nvidia.com/gpu' needs checked; hugepages are noise here."""
    return resource in _RESOURCES or ("/" in resource and not resource.startswith("hugepages"))


async def read_nodes(kube: Kube, now: datetime, name: str | None = None,
                     allowlist: tuple[str, ...] = ()) -> ToolResult:
    if name:
        nodes = [await kube.json(f"/api/v1/nodes/{name}", kube.core.read_node, name=name)]
    else:
        nodes = (await kube.json("/api/v1/nodes", kube.core.list_node)).get("items") or []
    if not nodes:
        return ToolResult(status="no_data", summary="no nodes returned")
    views = sorted((node_view(n) for n in nodes), key=lambda v: (not v.get("problems"), v["name"]))
    if name:
        views[0]["load"] = await node_load(kube, name, views[0], allowlist)
    bad = [v for v in views if v.get("problems")]
    summary = f"{len(views)} node(s), {sum(1 for v in views if v['ready'] == 'True')} Ready"
    if bad:
        summary += "; problems: " + "; ".join(f"{v['name']} ({', '.join(v['problems'])})" for v in bad[:5])
    if name:
        summary += "; " + load_text(views[0]["load"])
    # "at": the cluster's clock when read, so a reader dates the incident by it, not by its own.
    return ToolResult(status="ok", data={"count": len(views), "nodes": views, "at": now.isoformat()}, summary=summary)


async def node_load(kube: Kube, name: str, view: dict[str, Any], allowlist: tuple[str, ...]) -> dict[str, Any]:
    """What `kubectl describe node` calls allocated resources: the pods bound to the node (not yet
    Succeeded/Failed) against its allocatable pods, and their memory/CPU requests and limits.
    With a namespace allowlist only the allowed namespaces are listed (never a cluster-wide list)."""
    selector = f"spec.nodeName={name}"
    if allowlist:
        pods = [p for ns in allowlist for p in (await kube.json(
            f"/api/v1/namespaces/{ns}/pods", kube.core.list_namespaced_pod, namespace=ns,
            field_selector=selector)).get("items") or []]
    else:
        pods = (await kube.json("/api/v1/pods", kube.core.list_pod_for_all_namespaces,
                                field_selector=selector)).get("items") or []
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    sums: dict[str, float] = {}
    for p in live:
        for c in (p.get("spec") or {}).get("containers") or []:
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r, parse in (("memory", mem_bytes), ("cpu", cpu_cores)):
                    v = parse((res.get(kind) or {}).get(r))
                    if v:
                        sums[f"{r}_{kind}"] = sums.get(f"{r}_{kind}", 0.0) + v
    alloc = view.get("allocatable") or {}
    evicted = [f"{(p.get('metadata') or {}).get('namespace')}/{(p.get('metadata') or {}).get('name')}"
               for p in pods if (p.get("status") or {}).get("reason") == "Evicted"]
    out: dict[str, Any] = {"pods": len(live), "pods_allocatable": as_int(alloc.get("pods"))}
    if evicted:
        out["evicted"] = evicted[:10]
    for key, value in sorted(sums.items()):
        out[key] = mem_text(value) if key.startswith("memory") else cpu_text(value)
        cap = (mem_bytes if key.startswith("memory") else cpu_cores)(alloc.get(key.split("_")[0]))
        if cap:
            out[f"{key}_ratio"] = round(value / cap, 2)
    if allowlist:
        out["counted_in"] = list(allowlist)
    return out


def load_text(load: dict[str, Any]) -> str:
    text = f"{load['pods']} pod(s) of {load.get('pods_allocatable') or '?'} allocatable"
    if load.get("evicted"):
        text += f", {len(load['evicted'])} evicted"
    for key in ("memory_limits", "memory_requests"):
        if load.get(f"{key}_ratio") is not None:
            text += f", {key.replace('_', ' ')} {load[key]} = {load[key + '_ratio']:.0%} of allocatable"
    return text



def node_view(node: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    labels = meta.get("labels") or {}
    conds = conditions(status.get("conditions"), HEALTHY)
    ready = next((c["status"] for c in conds if c["type"] == "Ready"), "Unknown")
    info = status.get("nodeInfo") or {}
    view = prune({
        "name": meta.get("name"),
        "ready": ready,
        "roles": sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")),
        "unschedulable": spec.get("unschedulable"),
        "taints": [f"{t.get('key')}{'=' + t['value'] if t.get('value') else ''}:{t.get('effect')}"
                   for t in spec.get("taints") or []],
        "conditions": conds,
        "addresses": {a["type"]: a["address"] for a in status.get("addresses") or [] if a.get("type") in _ADDRESSES
                      and a.get("address")},
        "allocatable": {k: v for k, v in (status.get("allocatable") or {}).items() if _kept(k)},
        "capacity": {k: v for k, v in (status.get("capacity") or {}).items() if _kept(k)},
        "kubelet": info.get("kubeletVersion"),
        "zone": labels.get("topology.kubernetes.io/zone"),
        "instance_type": labels.get("node.kubernetes.io/instance-type"),
        "created": meta.get("creationTimestamp"),
    })
    problems = [f"{c['type']}={c['status']}" + (f" ({c['reason']})" if c.get("reason") else "")
                for c in conds if HEALTHY.get(c["type"], c["status"]) != c["status"]]
    if not any(c["type"] == "Ready" for c in conds):
        problems.append("no Ready condition reported")
    if spec.get("unschedulable"):
        problems.append("cordoned")
    # The node lifecycle controller taints sick nodes (not-ready, unreachable, *-pressure).
    problems += [f"taint {t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or []
                 if str(t.get("key", "")).startswith("node.kubernetes.io/")
                 and t.get("key") != "node.kubernetes.io/unschedulable"]
    view["problems"] = problems
    return view
