"""Issue 14: the subject from more of what alerts carry: node-exporter's instance IP (a node's
InternalIP), Datadog's kube_node tag, a service tag without a namespace, and names a person types
that match workloads in several namespaces (where to look, never what to act on)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agents.offline.scope import scope_from_trigger
from agents.offline.subject import merge_subject
from agents.scope import resolve_scope
from agents.trigger import Trigger
from tools.base import ToolContext, ToolRegistry
from tools.intake.model import build_alert
from tools.k8s import FakeKubeAPI, kubernetes_tools, make_api_client

NOW = datetime(2031, 1, 10, 10, 0, tzinfo=timezone.utc)


def _node(name: str, ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _deploy(ns: str, name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "uid": name},
            "spec": {}, "status": {}}


@pytest.fixture
def registry():
    objects = [_node("ip-10-1-2-3.compute.internal", "10.1.2.3"), _node("ip-10-1-2-4.compute.internal", "10.1.2.4"),
               _deploy("shop", "checkout"), _deploy("shop", "cart"), _deploy("payments", "gateway"),
               _deploy("orders", "orders-api")]
    with FakeKubeAPI(objects) as fake:
        yield ToolRegistry().register(*kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW)))


def _alert(labels: dict, description: str = "") -> Trigger:
    a = build_alert(name=labels["alertname"], status="firing", labels=labels, source="alertmanager", raw={},
                    annotations={"description": description})
    return Trigger.from_alert(a, at=NOW)


async def test_a_node_exporter_instance_ip_is_the_node_with_that_address(registry):
    trig = _alert({"alertname": "NodeMemoryHighUtilization", "instance": "10.1.2.4:9100", "job": "node-exporter",
                   "namespace": "monitoring", "pod": "node-exporter-x7k2p"})
    scope = await resolve_scope(trig, registry)
    assert scope.nodes == {"ip-10-1-2-4.compute.internal"}
    assert scope.refusal("cordon_node", "ip-10-1-2-4.compute.internal", None) is None
    assert scope.refusal("cordon_node", "ip-10-1-2-3.compute.internal", None) is not None


async def test_datadog_tags_name_the_node_and_the_service(registry):
    node = await resolve_scope(_alert({"alertname": "Kubernetes node not ready",
                                       "kube_node": "ip-10-1-2-3.compute.internal"}), registry)
    assert node.nodes == {"ip-10-1-2-3.compute.internal"}
    # A service tag without a namespace: the cluster says where that workload lives.
    svc = await resolve_scope(_alert({"alertname": "orders-api p95 latency", "service": "orders-api"}), registry)
    assert svc.namespace == "orders" and ("Deployment", "orders-api") in svc.workloads


async def test_names_in_several_namespaces_guide_the_investigation_but_grant_no_action(registry):
    trig = Trigger.from_text("checkout and cart cannot reach gateway since noon")
    scope = await resolve_scope(trig, registry)
    assert scope.namespace is None and not scope.workloads
    assert {("shop", "Deployment", "checkout"), ("payments", "Deployment", "gateway")} <= scope.mentioned
    assert scope.refusal("restart_deployment", "checkout", "shop") is not None
    offline = scope_from_trigger(trig)
    merge_subject(offline, scope)
    assert offline.namespace == "shop" and {"checkout", "cart", "gateway"} <= set(offline.focus)
