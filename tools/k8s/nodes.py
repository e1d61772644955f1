"""k8s_nodes: readiness, pressure conditions, taints, cordon state and allocatable resources."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import Kube
from tools.k8s.compact import conditions, prune

# Good status per node condition; anything else is a problem.
HEALTHY = {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False",
           "NetworkUnavailable": "False"}
_RESOURCES = ("cpu", "memory", "pods", "ephemeral-storage")


async def read_nodes(kube: Kube, now: datetime, name: str | None = None) -> ToolResult:
    if name:
        nodes = [await kube.json(f"/api/v1/nodes/{name}", kube.core.read_node, name=name)]
    else:
        nodes = (await kube.json("/api/v1/nodes", kube.core.list_node)).get("items") or []
    if not nodes:
        return ToolResult(status="no_data", summary="no nodes returned")
    views = sorted((node_view(n) for n in nodes), key=lambda v: (not v.get("problems"), v["name"]))
    bad = [v for v in views if v.get("problems")]
    summary = f"{len(views)} node(s), {sum(1 for v in views if v['ready'] == 'True')} Ready"
    if bad:
        summary += "; problems: " + "; ".join(f"{v['name']} ({', '.join(v['problems'])})" for v in bad[:5])
    return ToolResult(status="ok", data={"count": len(views), "nodes": views}, summary=summary)


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
        "allocatable": {k: v for k, v in (status.get("allocatable") or {}).items() if k in _RESOURCES},
        "capacity": {k: v for k, v in (status.get("capacity") or {}).items() if k in _RESOURCES},
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
