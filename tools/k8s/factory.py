"""The Kubernetes read tools as a list of Tool objects, with descriptions written for a model."""
from __future__ import annotations

from kubernetes.client import ApiClient

from tools.base import Tool, ToolContext
from tools.k8s.deployments import read_deployments
from tools.k8s.events import read_events, reduce_events
from tools.k8s.jobs import read_jobs
from tools.k8s.logs import read_pod_logs, reduce_logs
from tools.k8s.netpol import read_network_policies
from tools.k8s.nodes import read_nodes
from tools.k8s.pods import read_pods
from tools.k8s.subject import WORKLOAD_KINDS, find_workloads, read_subject
from tools.k8s.toolkit import k8s_tool, problems_reducer

_NS = {"type": "string", "description": "Kubernetes namespace"}


def _find_in(ctx: ToolContext):  # noqa: ANN202
    """k8s_find bound to the allowlist; a closure, so no argument a model sends can replace it."""
    async def find(kube, now, names):  # noqa: ANN001, ANN202
        return await find_workloads(kube, now, names, ctx.namespace_allowlist)
    return find


def _nodes_in(ctx: ToolContext):  # noqa: ANN202
    """k8s_nodes bound to the allowlist: a node's pods are counted in the allowed namespaces only."""
    async def nodes(kube, now, name=None):  # noqa: ANN001, ANN202
        return await read_nodes(kube, now, name, ctx.namespace_allowlist)
    return nodes


def kubernetes_tools(api_client: ApiClient | None, ctx: ToolContext) -> list[Tool]:
    common = {"api": api_client, "ctx": ctx}
    return [
        k8s_tool(
            name="k8s_pods",
            description=("Pods in a namespace (or one pod, or those matching a label selector) with phase, "
                         "conditions, container states (waiting reason such as CrashLoopBackOff/ImagePullBackOff, "
                         "last termination reason such as OOMKilled with exit code), restarts, node, owner "
                         "deployment, images and resource requests/limits. Pods with problems come first."),
            properties={"namespace": _NS, "name": {"type": "string", "description": "pod name"},
                        "label_selector": {"type": "string", "description": "e.g. app=checkout,tier in (web,api)"}},
            required=["namespace"], impl=read_pods, budget=8000,
            reducer=problems_reducer("pods", slim_fields=("conditions", "qos"), healthy_fields=("node", "workload")),
            **common),
        k8s_tool(
            name="k8s_events",
            description=("Kubernetes events of a namespace or of one object (kind + name), deduplicated with "
                         "counts and first/last times, warnings first. For a Deployment, StatefulSet, DaemonSet, "
                         "Job or CronJob the events of its ReplicaSets/Jobs/Pods are included."),
            properties={"namespace": _NS, "kind": {"type": "string", "description": "e.g. Pod, Deployment, Node"},
                        "name": {"type": "string", "description": "object name"}},
            required=["namespace"], impl=read_events, budget=6000, reducer=reduce_events, **common),
        k8s_tool(
            name="k8s_pod_logs",
            description=("Container logs of a pod. previous=true also returns the logs of the previous, crashed "
                         "instance (use it for CrashLoopBackOff/OOMKilled). Long logs are returned as templates "
                         "with counts, plus the last lines of the most severe level."),
            properties={"namespace": _NS, "pod": {"type": "string"},
                        "container": {"type": "string", "description": "required for multi-container pods"},
                        "previous": {"type": "boolean", "default": False},
                        "tail_lines": {"type": "integer", "default": 500, "minimum": 1, "maximum": 5000}},
            required=["namespace", "pod"], impl=read_pod_logs, budget=8000, reducer=reduce_logs, **common),
        k8s_tool(
            name="k8s_deployments",
            description=("Deployments with desired/updated/ready/available replicas, conditions (e.g. "
                         "ProgressDeadlineExceeded), images and rollout history (ReplicaSet revisions with images "
                         "and creation times) to correlate an incident with the latest change."),
            properties={"namespace": _NS, "name": {"type": "string", "description": "deployment name"}},
            required=["namespace"], impl=read_deployments, budget=8000,
            reducer=problems_reducer("deployments", slim_fields=("rollout_history",)), **common),
        k8s_tool(
            name="k8s_nodes",
            description=("Cluster nodes with Ready/MemoryPressure/DiskPressure/PIDPressure conditions, taints, "
                         "cordon state, addresses (InternalIP), allocatable and capacity (extended resources such "
                         "as nvidia.com/gpu included). With a name, also the node's load: pods bound to it against "
                         "its allocatable pods, and their memory/CPU requests and limits against allocatable."),
            properties={"name": {"type": "string", "description": "node name"}},
            required=[], impl=_nodes_in(ctx), budget=6000,
            reducer=problems_reducer("nodes", slim_fields=("capacity",)), **common),
        k8s_tool(
            name="k8s_subject",
            description=("Resolve what a pod or workload is, by ownerReferences: its pods with their owner chain "
                         "(Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, StatefulSet, DaemonSet), the "
                         "workloads on those chains and the nodes hosting the pods. Start an investigation here."),
            properties={"namespace": _NS, "pod": {"type": "string", "description": "pod name"},
                        "workload": {"type": "string", "description": "workload name"},
                        "kind": {"type": "string", "enum": list(WORKLOAD_KINDS)}},
            required=["namespace"], impl=read_subject, budget=6000, **common),
        k8s_tool(
            name="k8s_find",
            description=("Which namespaces hold a Deployment, StatefulSet, DaemonSet or CronJob of exactly one of "
                         "the given names (only allowed namespaces are searched)."),
            properties={"names": {"type": "array", "items": {"type": "string"}, "maxItems": 50}},
            required=["names"], impl=_find_in(ctx),
            budget=4000, **common),
        k8s_tool(
            name="k8s_network_policies",
            description=("NetworkPolicies of a namespace (or those selecting one pod): which pods each selects, "
                         "policy types, the egress it allows (ports and destinations) and whether DNS (UDP 53 to "
                         "kube-dns) is allowed. An egress policy without DNS makes every name lookup of its pods "
                         "fail while CoreDNS is healthy."),
            properties={"namespace": _NS, "pod": {"type": "string", "description": "only policies selecting this pod"}},
            required=["namespace"], impl=read_network_policies, budget=6000, **common),
        k8s_tool(
            name="k8s_jobs",
            description=("Jobs and CronJobs with status (Complete/Failed/Running), succeeded/failed counts, "
                         "failure reasons (BackoffLimitExceeded, DeadlineExceeded), schedule and last runs. "
                         "A CronJob name also returns its Jobs."),
            properties={"namespace": _NS, "name": {"type": "string", "description": "job or cronjob name"}},
            required=["namespace"], impl=read_jobs, budget=6000,
            reducer=problems_reducer("jobs", slim_fields=("images", "conditions", "command")), **common),
    ]
