"""The action scope is resolved from the trigger's own names through ownerReferences
(k8s_subject against a loopback Kubernetes API), never from names elsewhere in the cluster."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agents.scope import resolve_scope
from agents.trigger import Trigger
from tools.base import ToolContext, ToolRegistry
from tools.intake.model import build_alert
from tools.k8s import FakeKubeAPI, kubernetes_tools, make_api_client

NS = "shop"
NOW = datetime(2025, 11, 20, 10, 0, tzinfo=timezone.utc)


def _meta(name, owner=None, ns=NS, labels=None):
    m = {"name": name, "namespace": ns, "uid": f"{name}-uid", "labels": labels or {},
         "creationTimestamp": "2025-11-20T08:00:00Z"}
    if owner:
        m["ownerReferences"] = [{"apiVersion": "v1", "kind": owner[0], "name": owner[1], "uid": f"{owner[1]}-uid",
                                 "controller": True}]
    return m


def _pod(name, owner, node):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, owner),
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}, "status": {"phase": "Running"}}


def _obj(api, kind, name, owner=None):
    return {"apiVersion": api, "kind": kind, "metadata": _meta(name, owner), "spec": {}, "status": {}}


OBJECTS = [
    _obj("apps/v1", "Deployment", "cart"), _obj("apps/v1", "ReplicaSet", "cart-7d9f8c6b5", ("Deployment", "cart")),
    _pod("cart-7d9f8c6b5-aaaaa", ("ReplicaSet", "cart-7d9f8c6b5"), "node-1"),
    _pod("cart-7d9f8c6b5-bbbbb", ("ReplicaSet", "cart-7d9f8c6b5"), "node-2"),
    # Shares the name prefix, owned by another deployment: never part of cart.
    _obj("apps/v1", "Deployment", "cart-canary"),
    _obj("apps/v1", "ReplicaSet", "cart-canary-5f6d7c8b9", ("Deployment", "cart-canary")),
    _pod("cart-canary-5f6d7c8b9-ccccc", ("ReplicaSet", "cart-canary-5f6d7c8b9"), "node-3"),
    _obj("apps/v1", "Deployment", "payments"), _obj("apps/v1", "ReplicaSet", "payments-6b7c8d9f5", ("Deployment", "payments")),
    _pod("payments-6b7c8d9f5-ddddd", ("ReplicaSet", "payments-6b7c8d9f5"), "node-4"),
    _obj("batch/v1", "CronJob", "report"), _obj("batch/v1", "Job", "report-29000000", ("CronJob", "report")),
    _pod("report-29000000-eeeee", ("Job", "report-29000000"), "node-5"),
    _obj("apps/v1", "StatefulSet", "db"), _pod("db-0", ("StatefulSet", "db"), "node-6"),
    _obj("apps/v1", "DaemonSet", "agent"), _pod("agent-fffff", ("DaemonSet", "agent"), "node-7"),
    _obj("apps/v1", "Deployment", "idle"),  # scaled to zero: no pods, still the subject
    _pod("debug", None, "node-8"),  # a bare pod: no owner, no siblings
    *({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i}"}, "spec": {}} for i in range(1, 9)),
]


@pytest.fixture(scope="module")
def registry():
    with FakeKubeAPI(OBJECTS) as fake:
        ctx = ToolContext(now=lambda: NOW, timeout=5)
        yield ToolRegistry().register(*kubernetes_tools(make_api_client(fake.url), ctx))


def _alert(**labels):
    return Trigger.from_alert(build_alert(name="TestAlert", status="firing", labels={"namespace": NS, **labels},
                                          source="alertmanager", raw={}))


def _shape(scope):
    return scope.namespace, set(scope.workloads), set(scope.pods), set(scope.nodes)


async def test_pod_label_resolves_owner_chain_and_nodes(registry):
    # The pod's workload is the subject: its sibling pods and their nodes are in scope.
    s = await resolve_scope(_alert(pod="cart-7d9f8c6b5-aaaaa"), registry)
    assert _shape(s) == (NS, {("ReplicaSet", "cart-7d9f8c6b5"), ("Deployment", "cart")},
                         {"cart-7d9f8c6b5-aaaaa", "cart-7d9f8c6b5-bbbbb"}, {"node-1", "node-2"})
    bare = await resolve_scope(_alert(pod="debug"), registry)
    assert _shape(bare) == (NS, set(), {"debug"}, {"node-8"})


async def test_deployment_label_takes_all_its_pods_not_prefix_siblings(registry):
    s = await resolve_scope(_alert(deployment="cart"), registry)
    assert set(s.pods) == {"cart-7d9f8c6b5-aaaaa", "cart-7d9f8c6b5-bbbbb"}
    assert set(s.nodes) == {"node-1", "node-2"} and ("Deployment", "cart-canary") not in s.workloads


async def test_cronjob_statefulset_daemonset_chains(registry):
    cron = await resolve_scope(_alert(job_name="report-29000000"), registry)
    assert {("Job", "report-29000000"), ("CronJob", "report")} <= set(cron.workloads)
    assert set(cron.pods) == {"report-29000000-eeeee"} and set(cron.nodes) == {"node-5"}
    sts = await resolve_scope(_alert(statefulset="db"), registry)
    assert _shape(sts)[1:] == ({("StatefulSet", "db")}, {"db-0"}, {"node-6"})
    ds = await resolve_scope(_alert(daemonset="agent"), registry)
    assert _shape(ds)[1:] == ({("DaemonSet", "agent")}, {"agent-fffff"}, {"node-7"})


async def test_workload_without_pods_is_still_the_subject(registry):
    s = await resolve_scope(_alert(deployment="idle"), registry)
    assert _shape(s) == (NS, {("Deployment", "idle")}, set(), set())


async def test_diagnose_target_is_the_scope(registry):
    s = await resolve_scope(Trigger.from_text("shop/cart", requested_by="slack:U1"), registry)
    assert ("Deployment", "cart") in s.workloads and set(s.nodes) == {"node-1", "node-2"}
    assert not any(n == "payments" for _, n in s.workloads)
    pod = await resolve_scope(Trigger.from_text("shop/db-0", requested_by="slack:U1"), registry)
    assert set(pod.workloads) == {("StatefulSet", "db")} and set(pod.pods) == {"db-0"}


async def test_node_alert_scopes_that_node_only(registry):
    s = await resolve_scope(Trigger.from_alert(build_alert(name="KubeNodeNotReady", status="firing",
                                                           labels={"node": "node-4"}, source="alertmanager", raw={})),
                            registry)
    assert _shape(s) == (None, set(), set(), {"node-4"})


async def test_node_label_beside_a_pod_subject_does_not_widen(registry):
    # kube-state-metrics style: the alert names a pod, and a node label of somewhere else.
    s = await resolve_scope(_alert(pod="cart-7d9f8c6b5-aaaaa", node="node-4"), registry)
    assert set(s.nodes) == {"node-1", "node-2"}


async def test_annotations_name_the_subject_only_when_labels_do_not(registry):
    t = Trigger.from_alert(build_alert(name="HighErrorRate", status="firing", labels={"namespace": NS},
                                       annotations={"summary": "shop/cart serves 12% 5xx; see payments docs"},
                                       source="alertmanager", raw={}))
    s = await resolve_scope(t, registry)
    assert ("Deployment", "cart") in s.workloads and ("Deployment", "payments") not in s.workloads


async def test_unreachable_cluster_keeps_only_what_the_trigger_names():
    ctx = ToolContext(now=lambda: NOW, timeout=1)
    registry = ToolRegistry().register(*kubernetes_tools(make_api_client("http://127.0.0.1:9"), ctx))
    s = await resolve_scope(_alert(pod="cart-7d9f8c6b5-aaaaa"), registry)
    assert _shape(s) == (NS, {("Deployment", "cart")}, {"cart-7d9f8c6b5-aaaaa"}, set())
    assert "could not confirm" in s.basis


async def test_free_text_names_a_workload_the_cluster_confirms(registry):
    s = await resolve_scope(Trigger.from_text("why is payments slow since the deploy?", requested_by="slack:U1"),
                            registry)
    assert s.namespace == NS and ("Deployment", "payments") in s.workloads and set(s.nodes) == {"node-4"}
    assert ("Deployment", "cart") not in s.workloads


async def test_a_name_in_two_namespaces_needs_the_namespace():
    objs = [_obj("apps/v1", "Deployment", "web"),
            {**_obj("apps/v1", "Deployment", "web"), "metadata": _meta("web", ns="staging")}]
    with FakeKubeAPI(objs) as fake:
        reg = ToolRegistry().register(*kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW)))
        vague = await resolve_scope(Trigger.from_text("web is down", requested_by="slack:U1"), reg)
        assert (vague.namespace, set(vague.workloads)) == (None, set()) and "several namespaces" in vague.basis
        said = await resolve_scope(Trigger.from_text("web is down in staging", requested_by="slack:U1"), reg)
        assert (said.namespace, set(said.workloads)) == ("staging", {("Deployment", "web")})


async def test_masked_credentials_in_urls_do_not_break_resolution(registry):
    t = Trigger.from_text("shop/cart fails to clone https://[REDACTED:github_token]@github.com/acme/cart.git",
                          requested_by="slack:U1")
    s = await resolve_scope(t, registry)
    assert ("Deployment", "cart") in s.workloads and "could not be computed" not in s.basis
