"""A small shop namespace for the action tests: a deployment with three ReplicaSet revisions,
its pods, a bare pod, a paused deployment, two nodes, and an executor pointed at the fake."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

from tools.actions import ActionExecutor
from tools.base import ToolContext
from tools.k8s import FakeKubeAPI, make_api_client

NS = "shop"
NOW = datetime(2025, 11, 20, 10, 0, 0, tzinfo=timezone.utc)
DEP_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/cart"
CART_UID = "0b6c5a4e-1111-4c3b-9d55-000000000001"
REVISION = "deployment.kubernetes.io/revision"


def template(image: str, hash_label: str | None = None) -> dict:
    labels = {"app": "cart"}
    if hash_label:
        labels["pod-template-hash"] = hash_label
    return {"metadata": {"labels": labels},
            "spec": {"containers": [
                {"name": "cart", "image": image,
                 "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}},
                {"name": "envoy", "image": "envoyproxy/envoy:v1.31.0",
                 "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "200m"}}}]}}


def replicaset(rev: int, image: str, owner_uid: str = CART_UID, owner: str = "cart", replicas: int = 0) -> dict:
    h = f"{owner}{rev}hash"
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{owner}-{h}", "namespace": NS, "labels": {"app": "cart", "pod-template-hash": h},
                         "annotations": {REVISION: str(rev), "kubernetes.io/change-cause": f"deploy {image}"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner,
                                              "uid": owner_uid, "controller": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "cart", "pod-template-hash": h}},
                     "template": template(image, h)},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}}


def pod(name: str, owner_rs: dict | None, phase: str = "Running") -> dict:
    meta: dict = {"name": name, "namespace": NS, "labels": {"app": "cart"},
                  "creationTimestamp": "2025-11-20T08:00:00Z"}
    if owner_rs:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                    "name": owner_rs["metadata"]["name"], "uid": owner_rs["metadata"]["name"] + "-uid"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": "node-1", "containers": [{"name": "cart", "image": "cart:1.3"}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}}


def objects() -> list[dict]:
    rs = [replicaset(1, "registry.local/cart:1.1"), replicaset(2, "registry.local/cart:1.2"),
          replicaset(3, "registry.local/cart:1.3", replicas=3),
          # Same labels, another owner: never part of cart's history.
          replicaset(9, "registry.local/cart:canary", owner_uid="another-uid", owner="cart-canary")]
    for r in rs:
        r["metadata"]["uid"] = r["metadata"]["name"] + "-uid"
    cart = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cart", "namespace": NS, "uid": CART_UID, "generation": 7,
                         "annotations": {REVISION: "3"}, "labels": {"app": "cart"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "cart"}},
                     "template": template("registry.local/cart:1.3")},
            "status": {"observedGeneration": 7, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                       "availableReplicas": 3}}
    paused = copy.deepcopy(cart)
    paused["metadata"].update(name="paused-api", uid="paused-uid")
    paused["spec"]["paused"] = True
    fresh = copy.deepcopy(cart)
    fresh["metadata"].update(name="fresh", uid="fresh-uid", annotations={REVISION: "1"})
    fresh["spec"]["selector"] = {"matchLabels": {"app": "fresh"}}
    fresh["spec"]["template"]["metadata"]["labels"] = {"app": "fresh"}
    nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}, "spec": {}},
             {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-2"}, "spec": {"unschedulable": True}}]
    pods = [pod("cart-cart3hash-aaaaa", rs[2]), pod("cart-cart3hash-bbbbb", rs[2]), pod("debug-shell", None)]
    return [cart, paused, fresh, *rs, *nodes, *pods]


def executor(fake: FakeKubeAPI, timeout: float = 3, allowlist: tuple[str, ...] = (NS,), **kw) -> ActionExecutor:
    ctx = ToolContext(now=lambda: NOW, timeout=timeout, namespace_allowlist=allowlist)
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("verify_timeout", 3)
    return ActionExecutor(make_api_client(fake.url), ctx, **kw)


def writes(fake: FakeKubeAPI) -> list[dict]:
    return [r for r in fake.requests if r["method"] != "GET"]
