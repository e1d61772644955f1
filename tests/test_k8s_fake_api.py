"""FakeKubeAPI driven by the real `kubernetes` client: reads, selectors, logs, writes, dryRun,
failure injection and load_dir."""
from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tools.k8s import FakeKubeAPI, make_api_client

NS = "payments"


def deployment(name: str, image: str, replicas: int = 2) -> dict:
    labels = {"app": name, "tier": "api"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "strategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [
                                  {"name": name, "image": image, "env": [{"name": "LOG_LEVEL", "value": "info"}],
                                   "resources": {"limits": {"memory": "512Mi"}}},
                                  {"name": "envoy", "image": "envoyproxy/envoy:v1.31.0"}]}}},
        "status": {"replicas": replicas, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": replicas,
                   "observedGeneration": 1},
    }


def pod(name: str, app: str, containers: tuple[str, ...] = ("ledger",), tier: str = "api",
        namespace: str = NS) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": app, "tier": tier}},
            "spec": {"nodeName": "ip-10-0-1-17.ec2.internal",
                     "containers": [{"name": c, "image": f"registry.local/{c}:1.4.2"} for c in containers]},
            "status": {"phase": "Running"}}


def event(name: str, obj_kind: str, obj_name: str, reason: str, etype: str = "Warning") -> dict:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": obj_kind, "name": obj_name, "namespace": NS},
            "reason": reason, "type": etype, "message": f"{reason} on {obj_name}", "count": 2,
            "firstTimestamp": "2025-11-20T09:40:00Z", "lastTimestamp": "2025-11-20T09:55:00Z"}


@pytest.fixture
def fake():
    objects = [
        deployment("ledger", "registry.local/ledger:1.4.2"),
        deployment("fraud-check", "registry.local/fraud-check:0.9.1", replicas=1),
        {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "ledger-6b7f9c5d48", "namespace": NS, "labels": {"app": "ledger"}},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ledger"}}}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "fraud-check-59d8f6c7b", "namespace": NS, "labels": {"app": "fraud-check"}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "fraud-check"}}}},
        pod("ledger-6b7f9c5d48-4xk2p", "ledger"),
        pod("ledger-6b7f9c5d48-9qwzt", "ledger", containers=("ledger", "envoy")),
        pod("fraud-check-59d8f6c7b-ab12c", "fraud-check", tier="worker"),
        pod("coredns-5d78c9869d-l2xkq", "kube-dns", namespace="kube-system"),
        event("ledger-6b7f9c5d48-4xk2p.17a1", "Pod", "ledger-6b7f9c5d48-4xk2p", "BackOff"),
        event("ledger.17a2", "Deployment", "ledger", "ScalingReplicaSet", "Normal"),
        event("fraud-check-59d8f6c7b-ab12c.17a3", "Pod", "fraud-check-59d8f6c7b-ab12c", "Unhealthy"),
        {"apiVersion": "v1", "kind": "Node",
         "metadata": {"name": "ip-10-0-1-17.ec2.internal", "labels": {"kubernetes.io/os": "linux"}},
         "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    ]
    logs = {(NS, "ledger-6b7f9c5d48-4xk2p", "ledger", False): "".join(f"line {i}\n" for i in range(1, 101)),
            (NS, "ledger-6b7f9c5d48-4xk2p", "ledger", True): "panic: runtime error: index out of range\n"}
    with FakeKubeAPI(objects, logs) as api:
        yield api


@pytest.fixture
def apis(fake):
    c = make_api_client(fake.url)
    return client.CoreV1Api(c), client.AppsV1Api(c)


def test_list_and_get_pods_across_and_within_namespaces(apis):
    core, _ = apis
    everywhere = core.list_pod_for_all_namespaces()
    assert {p.metadata.namespace for p in everywhere.items} == {NS, "kube-system"}
    scoped = core.list_namespaced_pod(NS)
    assert sorted(p.metadata.name for p in scoped.items) == [
        "fraud-check-59d8f6c7b-ab12c", "ledger-6b7f9c5d48-4xk2p", "ledger-6b7f9c5d48-9qwzt"]
    one = core.read_namespaced_pod("ledger-6b7f9c5d48-9qwzt", NS)
    assert [c.name for c in one.spec.containers] == ["ledger", "envoy"]
    assert one.metadata.uid and one.metadata.resource_version


def test_label_selectors_equality_and_set_based(apis):
    core, apps = apis
    names = lambda resp: sorted(i.metadata.name for i in resp.items)  # noqa: E731
    assert names(core.list_namespaced_pod(NS, label_selector="app=ledger,tier=api")) == [
        "ledger-6b7f9c5d48-4xk2p", "ledger-6b7f9c5d48-9qwzt"]
    assert names(core.list_namespaced_pod(NS, label_selector="tier in (worker,batch)")) == [
        "fraud-check-59d8f6c7b-ab12c"]
    assert names(core.list_namespaced_pod(NS, label_selector="app!=ledger")) == ["fraud-check-59d8f6c7b-ab12c"]
    assert names(apps.list_namespaced_replica_set(NS, label_selector="app=fraud-check")) == ["fraud-check-59d8f6c7b"]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod(NS, label_selector="app in in (")
    assert exc.value.status == 400


def test_event_field_selectors_and_events_api_group(fake, apis):
    core, _ = apis
    pod_events = core.list_namespaced_event(
        NS, field_selector="involvedObject.kind=Pod,involvedObject.name=ledger-6b7f9c5d48-4xk2p")
    assert [e.reason for e in pod_events.items] == ["BackOff"]
    warnings = core.list_event_for_all_namespaces(field_selector="type=Warning")
    assert sorted(e.reason for e in warnings.items) == ["BackOff", "Unhealthy"]
    new_api = client.EventsV1Api(core.api_client).list_namespaced_event(NS)
    assert len(new_api.items) == 3
    assert fake.requests[0]["query"]["fieldSelector"].startswith("involvedObject.kind=Pod")


def test_not_found_is_a_kubernetes_status(apis):
    core, apps = apis
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment("missing", NS)
    body = json.loads(exc.value.body)
    assert exc.value.status == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'deployments.apps "missing" not found', "reason": "NotFound", "code": 404,
                    "details": {"name": "missing", "group": "apps", "kind": "deployments"}}
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod("missing", NS)
    assert json.loads(exc.value.body)["message"] == 'pods "missing" not found'


def test_pod_logs_container_rules_tail_and_previous(apis):
    core, _ = apis
    text = core.read_namespaced_pod_log("ledger-6b7f9c5d48-4xk2p", NS, tail_lines=3)
    assert text.splitlines() == ["line 98", "line 99", "line 100"]
    assert core.read_namespaced_pod_log("ledger-6b7f9c5d48-4xk2p", NS, previous=True).startswith("panic:")
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("ledger-6b7f9c5d48-9qwzt", NS)
    assert exc.value.status == 400
    assert "choose one of: [ledger envoy]" in json.loads(exc.value.body)["message"]
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("ledger-6b7f9c5d48-9qwzt", NS, container="ledger", previous=True)
    assert "previous terminated container" in json.loads(exc.value.body)["message"]
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_log("ledger-6b7f9c5d48-9qwzt", NS, container="sidecar")
    assert "is not valid for pod" in json.loads(exc.value.body)["message"]


def test_strategic_merge_restart_patch_dry_run_then_real(fake, apis):
    _, apps = apis
    before = apps.read_namespaced_deployment("ledger", NS)
    restart = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-11-20T10:00:00Z"}}}}}
    dry = apps.patch_namespaced_deployment("ledger", NS, restart, dry_run="All")
    assert dry.spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == "2025-11-20T10:00:00Z"
    unchanged = apps.read_namespaced_deployment("ledger", NS)
    assert unchanged.spec.template.metadata.annotations is None
    assert unchanged.metadata.resource_version == before.metadata.resource_version
    patch_req = [r for r in fake.requests if r["method"] == "PATCH"][0]
    assert patch_req["query"] == {"dryRun": "All"}
    assert patch_req["content_type"] == "application/strategic-merge-patch+json"
    assert patch_req["body"] == restart

    done = apps.patch_namespaced_deployment("ledger", NS, restart)
    assert int(done.metadata.resource_version) > int(before.metadata.resource_version)
    assert done.metadata.generation == before.metadata.generation + 1
    assert done.status.ready_replicas == 1  # status is kept as loaded
    stored = apps.read_namespaced_deployment("ledger", NS)
    assert stored.spec.template.metadata.annotations == {"kubectl.kubernetes.io/restartedAt": "2025-11-20T10:00:00Z"}


def test_strategic_merge_merges_containers_and_env_by_name(apis):
    _, apps = apis
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "ledger", "image": "registry.local/ledger:1.4.1",
         "env": [{"name": "GOMEMLIMIT", "value": "400MiB"}]}]}}}}
    apps.patch_namespaced_deployment("ledger", NS, body)
    containers = apps.read_namespaced_deployment("ledger", NS).spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [
        ("ledger", "registry.local/ledger:1.4.1"), ("envoy", "envoyproxy/envoy:v1.31.0")]
    assert [(e.name, e.value) for e in containers[0].env] == [("LOG_LEVEL", "info"), ("GOMEMLIMIT", "400MiB")]
    assert containers[0].resources.limits == {"memory": "512Mi"}


def test_merge_patch_replaces_lists_and_json_patch_ops(apis):
    _, apps = apis
    apps.patch_namespaced_deployment(
        "fraud-check", NS, {"spec": {"template": {"spec": {"containers": [
            {"name": "fraud-check", "image": "registry.local/fraud-check:0.9.0"}]}}}},
        _content_type="application/merge-patch+json")
    containers = apps.read_namespaced_deployment("fraud-check", NS).spec.template.spec.containers
    assert [c.name for c in containers] == ["fraud-check"]  # RFC 7386 replaces the whole list
    apps.patch_namespaced_deployment("fraud-check", NS, [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/owner", "value": "payments-team"}])
    dep = apps.read_namespaced_deployment("fraud-check", NS)
    assert dep.spec.replicas == 4 and dep.metadata.labels["owner"] == "payments-team"
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("fraud-check", NS, [{"op": "test", "path": "/spec/replicas", "value": 1}])
    assert exc.value.status == 422


def test_scale_subresource_read_patch_replace_and_validation(apis):
    _, apps = apis
    scale = apps.read_namespaced_deployment_scale("ledger", NS)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=ledger"
    dry = apps.patch_namespaced_deployment_scale("ledger", NS, {"spec": {"replicas": 5}}, dry_run="All")
    assert dry.spec.replicas == 5
    assert apps.read_namespaced_deployment("ledger", NS).spec.replicas == 2
    apps.patch_namespaced_deployment_scale("ledger", NS, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("ledger", NS).spec.replicas == 5
    apps.replace_namespaced_deployment_scale(
        "ledger", NS, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                       "metadata": {"name": "ledger", "namespace": NS}, "spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("ledger", NS).spec.replicas == 3
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment_scale("ledger", NS, {"spec": {"replicas": -1}})
    assert exc.value.status == 422 and "spec.replicas" in json.loads(exc.value.body)["message"]


def test_delete_pod_dry_run_keeps_it_real_delete_removes_it(apis):
    core, _ = apis
    name = "ledger-6b7f9c5d48-4xk2p"
    core.delete_namespaced_pod(name, NS, dry_run="All")
    assert core.read_namespaced_pod(name, NS).metadata.name == name
    deleted = core.delete_namespaced_pod(name, NS)
    assert deleted.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod(name, NS)
    assert exc.value.status == 404


def test_cordon_node_and_stale_update_conflict(apis):
    core, apps = apis
    core.patch_node("ip-10-0-1-17.ec2.internal", {"spec": {"unschedulable": True}})
    assert core.read_node("ip-10-0-1-17.ec2.internal").spec.unschedulable is True
    dep = apps.read_namespaced_deployment("ledger", NS)
    apps.patch_namespaced_deployment("ledger", NS, {"metadata": {"labels": {"touched": "yes"}}})
    dep.spec.replicas = 7
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("ledger", NS, dep)
    assert exc.value.status == 409 and json.loads(exc.value.body)["reason"] == "Conflict"


def test_injected_failures_are_status_objects_and_expire(fake, apis):
    core, _ = apis
    fake.fail("GET", r"/namespaces/payments/pods$", 403, times=1)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_pod(NS)
    status = json.loads(exc.value.body)
    assert status["reason"] == "Forbidden" and status["code"] == 403
    assert status["message"] == ('pods is forbidden: User "system:serviceaccount:chatops:incident-bot" cannot list '
                                 'resource "pods" in API group "" in the namespace "payments"')
    assert len(core.list_namespaced_pod(NS).items) == 3  # the rule was used up
    fake.fail("PATCH", r"/deployments/ledger$", 409)
    with pytest.raises(ApiException) as exc:
        client.AppsV1Api(core.api_client).patch_namespaced_deployment("ledger", NS, {"spec": {"replicas": 3}})
    assert exc.value.status == 409 and "the object has been modified" in json.loads(exc.value.body)["message"]


def test_namespaces_list_includes_namespaces_that_only_hold_objects(apis):
    core, _ = apis
    names = sorted(n.metadata.name for n in core.list_namespace().items)
    assert names == ["kube-system", NS]


def test_load_dir_reads_yaml_lists_json_and_log_files(tmp_path):
    (tmp_path / "workloads.yaml").write_text("""
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: search-7c9d-xk2lp, namespace: catalog}
  spec: {containers: [{name: search, image: search:2.1}, {name: istio-proxy, image: istio/proxyv2:1.23}]}
  status: {phase: Running}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: reindex, namespace: catalog}
spec: {schedule: "*/30 * * * *", jobTemplate: {spec: {template: {spec: {containers: [{name: r, image: r:1}]}}}}}
""")
    (tmp_path / "node.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Node",
                                                    "metadata": {"name": "worker-3"}, "status": {}}))
    logs = tmp_path / "logs"
    (logs / "catalog").mkdir(parents=True)
    (logs / "catalog" / "search-7c9d-xk2lp.search.previous.log").write_text("fatal: index corrupted\n")
    (logs / "search-7c9d-xk2lp.istio-proxy.log").write_text("upstream connect error\n")
    fake = FakeKubeAPI()
    fake.load_dir(tmp_path)
    with fake:
        c = make_api_client(fake.url)
        core, batch = client.CoreV1Api(c), client.BatchV1Api(c)
        assert [p.metadata.name for p in core.list_namespaced_pod("catalog").items] == ["search-7c9d-xk2lp"]
        assert batch.read_namespaced_cron_job("reindex", "catalog").spec.schedule == "*/30 * * * *"
        assert core.read_node("worker-3").metadata.name == "worker-3"
        assert core.read_namespaced_pod_log("search-7c9d-xk2lp", "catalog", container="search",
                                            previous=True) == "fatal: index corrupted\n"
        assert core.read_namespaced_pod_log("search-7c9d-xk2lp", "catalog",
                                            container="istio-proxy") == "upstream connect error\n"


def test_strategic_delete_directive_and_unsupported_patch_type(apis):
    _, apps = apis
    apps.patch_namespaced_deployment("ledger", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "envoy", "$patch": "delete"}]}}}})
    containers = apps.read_namespaced_deployment("ledger", NS).spec.template.spec.containers
    assert [c.name for c in containers] == ["ledger"]
    with pytest.raises(ApiException) as exc:
        apps.patch_namespaced_deployment("ledger", NS, {"spec": {"replicas": 1}}, _content_type="application/json")
    assert exc.value.status == 415
