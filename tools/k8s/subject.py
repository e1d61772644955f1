"""k8s_subject: what an alert is about, following ownerReferences, never names in free text.

Given a namespace and a pod and/or a workload, it returns the subject's pods, their owner chains
(Pod → ReplicaSet → Deployment, Pod → Job → CronJob, Pod → StatefulSet / DaemonSet), the
workloads on those chains and the nodes that host the pods. Ownership comes from each object's
controller ownerReference, so a workload that merely shares a name prefix is not part of it.

The incident scope (agents.scope) is built from this tool's answer to the *trigger's* names;
a model may call it too, but what it asks never widens a scope.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import ApiFailure, Kube

MAX_PODS = 200
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet")


def _controller(meta: dict[str, Any]) -> tuple[str, str] | None:
    refs = meta.get("ownerReferences") or []
    ref = next((r for r in refs if r.get("controller")), None) or (refs[0] if refs else None)
    if ref and ref.get("kind") and ref.get("name"):
        return str(ref["kind"]), str(ref["name"])
    return None


async def _items(kube: Kube, path: str, fn: Any, namespace: str) -> list[dict[str, Any]]:
    return (await kube.json(path, fn, namespace=namespace)).get("items") or []


async def _exists(kube: Kube, namespace: str, kind: str, name: str) -> bool:
    """One GET for a workload that has no pods right now (scaled to zero, all Pending...)."""
    api = {"Deployment": ("apps/v1", "deployments", kube.apps.read_namespaced_deployment),
           "StatefulSet": ("apps/v1", "statefulsets", kube.apps.read_namespaced_stateful_set),
           "DaemonSet": ("apps/v1", "daemonsets", kube.apps.read_namespaced_daemon_set),
           "ReplicaSet": ("apps/v1", "replicasets", kube.apps.read_namespaced_replica_set),
           "Job": ("batch/v1", "jobs", kube.batch.read_namespaced_job),
           "CronJob": ("batch/v1", "cronjobs", kube.batch.read_namespaced_cron_job)}[kind]
    try:
        await kube.json(f"/apis/{api[0]}/namespaces/{namespace}/{api[1]}/{name}", api[2], name=name,
                        namespace=namespace)
        return True
    except ApiFailure as exc:
        if exc.code == 404:
            return False
        raise


async def read_subject(kube: Kube, now: datetime, namespace: str, pod: str | None = None,
                       workload: str | None = None, kind: str | None = None) -> ToolResult:
    if not pod and not workload:
        return ToolResult.fail("k8s_subject()", "give a pod or a workload (with its kind if known)")
    if kind and kind not in WORKLOAD_KINDS:
        return ToolResult.fail("k8s_subject()", f"kind must be one of {', '.join(WORKLOAD_KINDS)}")
    pods = await _items(kube, f"/api/v1/namespaces/{namespace}/pods", kube.core.list_namespaced_pod, namespace)
    rs_owner = {m["name"]: _controller(m) for m in (
        (r.get("metadata") or {}) for r in await _items(kube, f"/apis/apps/v1/namespaces/{namespace}/replicasets",
                                                         kube.apps.list_namespaced_replica_set, namespace))}
    job_owner = {m["name"]: _controller(m) for m in (
        (j.get("metadata") or {}) for j in await _items(kube, f"/apis/batch/v1/namespaces/{namespace}/jobs",
                                                         kube.batch.list_namespaced_job, namespace))}

    def chain(meta: dict[str, Any]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        ref = _controller(meta)
        while ref is not None and len(out) < 4:
            out.append(ref)
            parents = rs_owner if ref[0] == "ReplicaSet" else job_owner if ref[0] == "Job" else {}
            ref = parents.get(ref[1])
        return out

    # The subject is a workload: a named pod stands for the top of its owner chain, so its
    # siblings (and their nodes) belong to the incident too; a bare pod is only itself.
    chains = [(p, chain(p.get("metadata") or {})) for p in pods]
    roots = {links[-1] for p, links in chains if pod and (p.get("metadata") or {}).get("name") == pod and links}

    def wanted(name: str, links: list[tuple[str, str]]) -> bool:
        if pod and name == pod:
            return True
        if any(link in roots for link in links):
            return True
        return bool(workload) and any(n == workload and (kind is None or k == kind) for k, n in links)

    subject: list[dict[str, Any]] = []
    for p, links in chains:
        meta = p.get("metadata") or {}
        if wanted(str(meta.get("name")), links):
            subject.append({"name": meta.get("name"), "node": (p.get("spec") or {}).get("nodeName"),
                            "owner_chain": [f"{k}/{n}" for k, n in links]})
    workloads = {(k, n) for s in subject for k, n in (c.split("/", 1) for c in s["owner_chain"])}
    missing: list[str] = []
    if workload and not any(n == workload and (kind is None or k == kind) for k, n in workloads):
        for k in ([kind] if kind else ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"]):
            if await _exists(kube, namespace, k, workload):
                workloads.add((k, workload))
                break
        else:
            missing.append(f"{kind or 'workload'} {workload}")
    if pod and not any(s["name"] == pod for s in subject):
        missing.append(f"pod {pod}")
    nodes = sorted({s["node"] for s in subject if s.get("node")})
    data = {"namespace": namespace, "pods": sorted(subject, key=lambda s: s["name"])[:MAX_PODS],
            "pod_count": len(subject), "workloads": [{"kind": k, "name": n} for k, n in sorted(workloads)],
            "nodes": nodes, "not_found": missing}
    asked = ", ".join(x for x in (f"pod {pod}" if pod else "", f"{kind or 'workload'} {workload}" if workload else "")
                      if x)
    if not subject and not workloads:
        return ToolResult(status="no_data", data=data, summary=f"{asked} not found in namespace {namespace}")
    summary = (f"{asked} in {namespace}: {len(subject)} pod(s) on {len(nodes)} node(s) "
               f"({', '.join(nodes[:5]) or 'none scheduled'}); workloads "
               + ", ".join(f"{k}/{n}" for k, n in sorted(workloads)))
    if missing:
        summary += f"; not found: {', '.join(missing)}"
    return ToolResult(status="ok", data=data, summary=summary)


_CLUSTER_LISTS = (("Deployment", "apps/v1", "deployments", "list_deployment_for_all_namespaces",
                   "list_namespaced_deployment", "apps"),
                  ("StatefulSet", "apps/v1", "statefulsets", "list_stateful_set_for_all_namespaces",
                   "list_namespaced_stateful_set", "apps"),
                  ("DaemonSet", "apps/v1", "daemonsets", "list_daemon_set_for_all_namespaces",
                   "list_namespaced_daemon_set", "apps"),
                  ("CronJob", "batch/v1", "cronjobs", "list_cron_job_for_all_namespaces",
                   "list_namespaced_cron_job", "batch"))
MAX_NAMES = 50


async def find_workloads(kube: Kube, now: datetime, names: list[str],
                         allowlist: tuple[str, ...] = ()) -> ToolResult:
    """Which namespaces hold a workload of exactly one of these names. With a namespace allowlist
    only the allowed namespaces are listed (never a cluster-wide list)."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return ToolResult.fail("k8s_find()", "names must be a list of strings")
    wanted = {n for n in names[:MAX_NAMES] if n}
    matches: list[dict[str, str]] = []
    for kind, api, plural, all_fn, ns_fn, group in _CLUSTER_LISTS:
        client = getattr(kube, group)
        if allowlist:
            items = [i for ns in allowlist for i in await _items(
                kube, f"/apis/{api}/namespaces/{ns}/{plural}", getattr(client, ns_fn), ns)]
        else:
            items = (await kube.json(f"/apis/{api}/{plural}", getattr(client, all_fn))).get("items") or []
        for item in items:
            meta = item.get("metadata") or {}
            if meta.get("name") in wanted:
                matches.append({"namespace": str(meta.get("namespace")), "kind": kind, "name": str(meta["name"])})
    matches.sort(key=lambda m: (m["name"], m["namespace"], m["kind"]))
    if not matches:
        return ToolResult(status="no_data", data={"matches": []}, summary="no workload has any of those names")
    text = ", ".join(f"{m['kind']} {m['namespace']}/{m['name']}" for m in matches[:10])
    return ToolResult(status="ok", data={"matches": matches}, summary=f"{len(matches)} workload(s): {text}")
