"""The Kubernetes read tools through the real client against the loopback fake: an online shop
namespace mid-incident (a bad rollout OOM-looping, a pod stuck Pending on a pressured node,
a failing nightly CronJob)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tools.base import ToolContext, ToolRegistry
from tools.k8s import FakeKubeAPI, kubernetes_tools, make_api_client

NS = "shop"
NOW = datetime(2025, 11, 20, 10, 0, 0, tzinfo=timezone.utc)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _meta(name: str, **extra) -> dict:
    return {"name": name, "namespace": NS, "creationTimestamp": "2025-11-01T08:00:00Z",
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                               "fieldsV1": {"f:metadata": {"f:annotations": {}}}}], **extra}


def deployment(name: str, uid: str, image: str, revision: int, desired: int, available: int,
               conditions: list[dict]) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta(name, uid=uid, generation=revision, labels={"app": name},
                              annotations={"deployment.kubernetes.io/revision": str(revision),
                                           LAST_APPLIED: '{"apiVersion":"apps/v1","kind":"Deployment"}' * 40}),
            "spec": {"replicas": desired, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}},
            "status": {"observedGeneration": revision, "replicas": desired, "updatedReplicas": desired,
                       "readyReplicas": available, "availableReplicas": available,
                       "unavailableReplicas": desired - available, "conditions": conditions}}


def replicaset(deploy: str, deploy_uid: str, tpl_hash: str, image: str, revision: int, created: str,
               replicas: int, ready: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{deploy}-{tpl_hash}", "namespace": NS, "creationTimestamp": created,
                         "labels": {"app": deploy, "pod-template-hash": tpl_hash},
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deploy,
                                              "uid": deploy_uid, "controller": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": deploy, "pod-template-hash": tpl_hash}},
                     "template": {"spec": {"containers": [{"name": deploy, "image": image}]}}},
            "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}}


def pod(name: str, app: str, tpl_hash: str, *, phase: str = "Running", ready: bool = True, restarts: int = 0,
        state: dict | None = None, last_state: dict | None = None, node: str | None = "node-a",
        conditions: list[dict] | None = None, image: str = "registry.shop/checkout:1.9.0") -> dict:
    status: dict = {"phase": phase, "qosClass": "Burstable",
                    "conditions": conditions or [{"type": "Ready", "status": "True" if ready else "False"}]}
    if phase != "Pending" or node:
        status["startTime"] = "2025-11-20T09:48:30Z"
        status["containerStatuses"] = [{"name": app, "image": image, "imageID": "", "ready": ready,
                                        "restartCount": restarts,
                                        "state": state or {"running": {"startedAt": "2025-11-20T09:48:40Z"}},
                                        "lastState": last_state or {}}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": _meta(name, labels={"app": app, "pod-template-hash": tpl_hash},
                              ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                "name": f"{app}-{tpl_hash}", "uid": f"rs-{tpl_hash}",
                                                "controller": True}]),
            "spec": {**({"nodeName": node} if node else {}),
                     "containers": [{"name": app, "image": image,
                                     "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                   "limits": {"memory": "256Mi"}}}]},
            "status": status}


def core_event(name: str, kind: str, obj: str, reason: str, message: str, etype: str, count: int,
               first: str, last: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": NS},
            "involvedObject": {"kind": kind, "name": obj, "namespace": NS}, "reason": reason, "message": message,
            "type": etype, "count": count, "firstTimestamp": first, "lastTimestamp": last,
            "source": {"component": "kubelet" if kind == "Pod" else "deployment-controller"}}


def node(name: str, *, ready: str = "True", memory_pressure: str = "False", taints: list | None = None,
         unschedulable: bool = False) -> dict:
    conds = [{"type": "MemoryPressure", "status": memory_pressure,
              "reason": "KubeletHasInsufficientMemory" if memory_pressure == "True" else "KubeletHasSufficientMemory",
              "message": "kubelet has insufficient memory available" if memory_pressure == "True" else "ok",
              "lastTransitionTime": "2025-11-20T09:50:00Z"},
             {"type": "DiskPressure", "status": "False"}, {"type": "PIDPressure", "status": "False"},
             {"type": "Ready", "status": ready, "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
              "message": "kubelet is posting ready status" if ready == "True" else "Kubelet stopped posting node status."}]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"node-role.kubernetes.io/worker": "",
                                                   "topology.kubernetes.io/zone": "eu-west-1a"}},
            "spec": {"unschedulable": unschedulable, "taints": taints or []},
            "status": {"conditions": conds,
                       "capacity": {"cpu": "4", "memory": "16331940Ki", "pods": "110", "hugepages-2Mi": "0"},
                       "allocatable": {"cpu": "3920m", "memory": "15180964Ki", "pods": "110"},
                       "nodeInfo": {"kubeletVersion": "v1.31.2"}}}


def job(name: str, *, cron: str | None, start: str, failed: int = 0, succeeded: int = 0,
        condition: dict | None = None) -> dict:
    meta = {"name": name, "namespace": NS, "creationTimestamp": start}
    if cron:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cron, "uid": f"cj-{cron}",
                                    "controller": True}]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": {"backoffLimit": 3, "completions": 1, "parallelism": 1,
                     "template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "report", "image": "registry.shop/report:4.2"}]}}},
            "status": {"startTime": start, "failed": failed, "succeeded": succeeded,
                       **({"conditions": [condition]} if condition else {})}}


CHECKOUT_UID = "4b7f3c1e-0d7a-4c55-9a52-1f2b3c4d5e6f"
WORKER_UID = "9d1e2f3a-aaaa-4bbb-8ccc-000000000001"
FRONTEND_UID = "1a2b3c4d-ffff-4eee-8ddd-000000000002"


def cluster() -> list[dict]:
    progressing_failed = [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
         "message": "Deployment does not have minimum availability.", "lastTransitionTime": "2025-11-20T09:50:00Z"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "checkout-6c8d7f9b5" has timed out progressing.',
         "lastTransitionTime": "2025-11-20T09:58:40Z"}]
    healthy = [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
               {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]
    return [
        deployment("checkout", CHECKOUT_UID, "registry.shop/checkout:1.9.0", 4, 3, 1, progressing_failed),
        deployment("checkout-worker", WORKER_UID, "registry.shop/checkout-worker:2.0.1", 2, 1, 1, healthy),
        deployment("frontend", FRONTEND_UID, "registry.shop/frontend:5.3.0", 7, 2, 2, healthy),
        replicaset("checkout", CHECKOUT_UID, "5f7c9d8b4", "registry.shop/checkout:1.8.2", 3,
                   "2025-11-12T14:05:00Z", 0, 0),
        replicaset("checkout", CHECKOUT_UID, "6c8d7f9b5", "registry.shop/checkout:1.9.0", 4,
                   "2025-11-20T09:48:00Z", 3, 1),
        replicaset("checkout", CHECKOUT_UID, "7a9b8c6d5", "registry.shop/checkout:1.8.1", 2,
                   "2025-11-05T10:00:00Z", 0, 0),
        replicaset("checkout-worker", WORKER_UID, "84c6b5d9f7", "registry.shop/checkout-worker:2.0.1", 2,
                   "2025-11-18T11:00:00Z", 1, 1),
        replicaset("frontend", FRONTEND_UID, "66d5f7c8b9", "registry.shop/frontend:5.3.0", 7,
                   "2025-11-15T16:30:00Z", 2, 2),
        pod("checkout-6c8d7f9b5-x7k2p", "checkout", "6c8d7f9b5"),
        pod("checkout-6c8d7f9b5-q9w4n", "checkout", "6c8d7f9b5", ready=False, restarts=6,
            state={"waiting": {"reason": "CrashLoopBackOff",
                               "message": "back-off 5m0s restarting failed container=checkout"}},
            last_state={"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                       "startedAt": "2025-11-20T09:57:02Z", "finishedAt": "2025-11-20T09:57:31Z"}},
            conditions=[{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                         "message": "containers with unready status: [checkout]"}]),
        pod("checkout-6c8d7f9b5-z2m8r", "checkout", "6c8d7f9b5", phase="Pending", ready=False, node=None,
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                         "message": "0/3 nodes are available: 1 node(s) had untolerated taint "
                                    "{node.kubernetes.io/memory-pressure: }, 2 Insufficient memory."}]),
        pod("frontend-66d5f7c8b9-hq4vz", "frontend", "66d5f7c8b9", image="registry.shop/frontend:5.3.0"),
        pod("frontend-66d5f7c8b9-m2d7c", "frontend", "66d5f7c8b9", image="registry.shop/frontend:5.3.0"),
        # The same BackOff recorded twice (e.g. before and after an event-series compaction).
        core_event("checkout-6c8d7f9b5-q9w4n.1801", "Pod", "checkout-6c8d7f9b5-q9w4n", "BackOff",
                   "Back-off restarting failed container checkout in pod checkout-6c8d7f9b5-q9w4n_shop",
                   "Warning", 14, "2025-11-20T09:49:30Z", "2025-11-20T09:55:00Z"),
        core_event("checkout-6c8d7f9b5-q9w4n.1802", "Pod", "checkout-6c8d7f9b5-q9w4n", "BackOff",
                   "Back-off restarting failed container checkout in pod checkout-6c8d7f9b5-q9w4n_shop",
                   "Warning", 9, "2025-11-20T09:55:10Z", "2025-11-20T09:59:20Z"),
        core_event("checkout-6c8d7f9b5-z2m8r.1803", "Pod", "checkout-6c8d7f9b5-z2m8r", "FailedScheduling",
                   "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }, "
                   "2 Insufficient memory.", "Warning", 31, "2025-11-20T09:48:05Z", "2025-11-20T09:59:00Z"),
        core_event("checkout.1804", "Deployment", "checkout", "ScalingReplicaSet",
                   "Scaled up replica set checkout-6c8d7f9b5 to 3", "Normal", 1,
                   "2025-11-20T09:48:00Z", "2025-11-20T09:48:00Z"),
        core_event("checkout-6c8d7f9b5.1805", "ReplicaSet", "checkout-6c8d7f9b5", "SuccessfulCreate",
                   "Created pod: checkout-6c8d7f9b5-q9w4n", "Normal", 1, "2025-11-20T09:48:01Z",
                   "2025-11-20T09:48:01Z"),
        core_event("checkout-worker-84c6b5d9f7-p2x9d.1806", "Pod", "checkout-worker-84c6b5d9f7-p2x9d", "Unhealthy",
                   "Readiness probe failed: HTTP probe failed with statuscode: 503", "Warning", 2,
                   "2025-11-20T09:30:00Z", "2025-11-20T09:31:00Z"),
        core_event("frontend-66d5f7c8b9-hq4vz.1807", "Pod", "frontend-66d5f7c8b9-hq4vz", "Pulled",
                   'Container image "registry.shop/frontend:5.3.0" already present on machine', "Normal", 1,
                   "2025-11-15T16:31:00Z", "2025-11-15T16:31:00Z"),
        node("node-a"),
        node("node-b", memory_pressure="True",
             taints=[{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]),
        node("node-c", ready="Unknown", unschedulable=True,
             taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                     {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        {"apiVersion": "batch/v1", "kind": "CronJob",
         "metadata": {"name": "nightly-report", "namespace": NS, "uid": "cj-nightly-report"},
         "spec": {"schedule": "0 2 * * *", "concurrencyPolicy": "Forbid",
                  "jobTemplate": {"spec": {"template": {"spec": {"containers": [
                      {"name": "report", "image": "registry.shop/report:4.2"}]}}}}},
         "status": {"lastScheduleTime": "2025-11-20T02:00:00Z", "lastSuccessfulTime": "2025-11-19T02:04:10Z"}},
        job("nightly-report-29391960", cron="nightly-report", start="2025-11-20T02:00:00Z", failed=4,
            condition={"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                       "message": "Job has reached the specified backoff limit",
                       "lastTransitionTime": "2025-11-20T02:09:40Z"}),
        job("nightly-report-29390520", cron="nightly-report", start="2025-11-19T02:00:00Z", succeeded=1,
            condition={"type": "Complete", "status": "True", "lastTransitionTime": "2025-11-19T02:04:10Z"}),
        job("db-migrate-v190", cron=None, start="2025-11-20T09:47:00Z", succeeded=1,
            condition={"type": "Complete", "status": "True"}),
    ]


def crash_log() -> str:
    """A JVM service dying of heap exhaustion: lots of routine lines, then GC trouble, then the OOM."""
    lines = []
    for i in range(300):
        lines.append(f"2025-11-20T09:5{i // 60}:{i % 60:02d}.120Z INFO  [http-nio-8080-exec-{i % 12}] "
                     f"c.s.checkout.CartController - POST /api/cart/{1000 + i}/checkout completed in {20 + i % 37}ms")
        if i % 25 == 0:
            lines.append(f"2025-11-20T09:5{i // 60}:{i % 60:02d}.300Z WARN  [gc] c.s.checkout.Health - "
                         f"heap usage {70 + i // 25}% of 256MiB after full GC")
    lines += ["2025-11-20T09:57:30.001Z ERROR [http-nio-8080-exec-3] c.s.checkout.CartController - "
              "request failed: java.lang.OutOfMemoryError: Java heap space",
              "2025-11-20T09:57:30.002Z ERROR [main] c.s.checkout.App - shutting down after fatal error "
              "java.lang.OutOfMemoryError: Java heap space"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fake():
    logs = {(NS, "checkout-6c8d7f9b5-q9w4n", "checkout", True): crash_log(),
            (NS, "checkout-6c8d7f9b5-q9w4n", "checkout", False):
                "2025-11-20T09:59:50Z INFO  c.s.checkout.App - Starting CheckoutApplication v1.9.0\n"}
    with FakeKubeAPI(cluster(), logs) as api:
        yield api


@pytest.fixture
def registry(fake):
    ctx = ToolContext(now=lambda: NOW, timeout=5)
    return ToolRegistry().register(*kubernetes_tools(make_api_client(fake.url), ctx))


async def test_tool_names_and_schemas(registry):
    assert registry.names() == ["k8s_deployments", "k8s_events", "k8s_find", "k8s_jobs", "k8s_network_policies",
                                "k8s_nodes", "k8s_pod_logs", "k8s_pods", "k8s_subject"]
    logs_schema = registry.get("k8s_pod_logs").input_schema
    assert logs_schema["required"] == ["namespace", "pod"]
    assert all(t.read_only and t.source == "kubernetes" for t in registry.tools.values())


async def test_pods_report_crashloop_oom_and_unschedulable_first(registry):
    r = await registry.run("k8s_pods", {"namespace": NS})
    assert r.status == "ok", r.error
    pods = r.data["pods"]
    assert [p["name"] for p in pods[:2]] == ["checkout-6c8d7f9b5-q9w4n", "checkout-6c8d7f9b5-z2m8r"]
    crash = pods[0]["containers"][0]
    assert crash["reason"] == "CrashLoopBackOff" and crash["restarts"] == 6
    assert crash["last_termination"]["reason"] == "OOMKilled" and crash["last_termination"]["exit_code"] == 137
    assert crash["limits"] == {"memory": "256Mi"} and crash["requests"]["cpu"] == "250m"
    assert pods[0]["owner"] == "Deployment/checkout (via ReplicaSet/checkout-6c8d7f9b5)"
    assert "Unschedulable" in pods[1]["problems"]
    assert "Insufficient memory" in pods[1]["conditions"][0]["message"]
    assert all(not p["problems"] for p in pods[2:])
    assert r.data["by_phase"] == {"Running": 4, "Pending": 1}
    assert "OOMKilled" in r.summary and "exit 137" in r.summary
    assert "managedFields" not in r.to_text()
    # A whole-namespace listing also reads the Services, to say which pods each one selects.
    assert r.query == "GET /api/v1/namespaces/shop/pods ; GET /api/v1/namespaces/shop/services"


async def test_pods_by_label_selector_and_by_name(fake, registry):
    r = await registry.run("k8s_pods", {"namespace": NS, "label_selector": "app in (frontend)"})
    assert sorted(p["name"] for p in r.data["pods"]) == ["frontend-66d5f7c8b9-hq4vz", "frontend-66d5f7c8b9-m2d7c"]
    assert fake.requests[-1]["query"] == {"labelSelector": "app in (frontend)"}
    r = await registry.run("k8s_pods", {"namespace": NS, "name": "checkout-6c8d7f9b5-x7k2p"})
    assert r.status == "ok" and r.data["count"] == 1 and r.data["pods"][0]["problems"] == []
    r = await registry.run("k8s_pods", {"namespace": NS, "label_selector": "app=nothing-here"})
    assert r.status == "no_data"


async def test_pods_reducer_keeps_unhealthy_in_full_for_big_namespaces():
    objs = [pod(f"web-5d8f7c9b6-{i:05d}", "web", "5d8f7c9b6", image="registry.shop/web:3.1") for i in range(150)]
    objs.append(pod("web-5d8f7c9b6-broke", "web", "5d8f7c9b6", ready=False, restarts=3,
                    state={"waiting": {"reason": "ImagePullBackOff",
                                       "message": 'Back-off pulling image "registry.shop/web:3.2"'}}))
    with FakeKubeAPI(objs) as fake:
        tools = {t.name: t for t in kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW))}
        r = await tools["k8s_pods"].run(namespace=NS)
    assert r.status == "ok" and r.reduced
    assert r.size_bytes() <= tools["k8s_pods"].budget_bytes
    assert [p["name"] for p in r.data["pods"]] == ["web-5d8f7c9b6-broke"]
    assert r.data["pods"][0]["containers"][0]["reason"] == "ImagePullBackOff"
    assert r.data["count"] == 151 and r.data["by_phase"] == {"Running": 151}
    healthy = r.data["healthy_pods"]
    assert healthy == "150 healthy, names omitted" or len(healthy) == 150


async def test_events_of_a_deployment_include_its_pods_deduplicated_warnings_first(registry):
    r = await registry.run("k8s_events", {"namespace": NS, "kind": "deployment", "name": "checkout"})
    assert r.status == "ok", r.error
    events = r.data["events"]
    objects = {e["object"] for e in events}
    assert objects == {"Pod/checkout-6c8d7f9b5-q9w4n", "Pod/checkout-6c8d7f9b5-z2m8r", "Deployment/checkout",
                       "ReplicaSet/checkout-6c8d7f9b5"}  # not checkout-worker's or frontend's
    assert [e["type"] for e in events] == ["Warning", "Warning", "Normal", "Normal"]
    backoff = next(e for e in events if e["reason"] == "BackOff")
    assert backoff["count"] == 23
    assert backoff["first"] == "2025-11-20T09:49:30Z" and backoff["last"] == "2025-11-20T09:59:20Z"
    assert events[0]["reason"] == "BackOff"  # most recent warning first
    assert r.data["warnings"] == 2 and "BackOff x23" in r.summary


async def test_events_of_one_pod_use_a_field_selector(fake, registry):
    r = await registry.run("k8s_events", {"namespace": NS, "kind": "Pod", "name": "checkout-6c8d7f9b5-z2m8r"})
    assert [e["reason"] for e in r.data["events"]] == ["FailedScheduling"]
    assert fake.requests[-1]["query"]["fieldSelector"] == \
        "involvedObject.kind=Pod,involvedObject.name=checkout-6c8d7f9b5-z2m8r"
    r = await registry.run("k8s_events", {"namespace": NS})
    assert r.data["distinct"] == 6 and r.data["warnings"] == 3  # 7 events, BackOff twice
    r = await registry.run("k8s_events", {"namespace": NS, "kind": "Pod", "name": "quiet-pod"})
    assert r.status == "no_data"


async def test_previous_logs_are_templated_with_the_fatal_tail(registry):
    r = await registry.run("k8s_pod_logs", {"namespace": NS, "pod": "checkout-6c8d7f9b5-q9w4n", "previous": True})
    assert r.status == "ok", r.error
    assert r.reduced
    prev, current = r.data["sections"]
    assert prev["previous"] is True and prev["line_count"] == 314
    assert prev["templates"][0]["level"] == "ERROR"
    assert sum(t["count"] for t in prev["templates"]) + prev.get("templates_omitted", 0) <= 314
    assert any(t["level"] == "INFO" and t["count"] >= 250 for t in prev["templates"])
    assert prev["most_severe"]["level"] == "ERROR" and prev["most_severe"]["count"] == 2
    assert "OutOfMemoryError" in prev["most_severe"]["tail"][-1]
    assert current["lines"] == ["2025-11-20T09:59:50Z INFO  c.s.checkout.App - Starting CheckoutApplication v1.9.0"]
    assert "OutOfMemoryError" in r.summary
    assert "previous=true" in r.query and "tailLines=500" in r.query


async def test_logs_tail_lines_is_passed_to_the_api(fake, registry):
    r = await registry.run("k8s_pod_logs", {"namespace": NS, "pod": "checkout-6c8d7f9b5-q9w4n",
                                            "container": "checkout", "previous": True, "tail_lines": 20})
    assert r.data["sections"][0]["line_count"] == 20
    assert fake.requests[0]["query"] == {"container": "checkout", "previous": "true", "tailLines": "20"}


async def test_logs_of_a_pod_without_previous_instance_report_the_api_message(registry):
    r = await registry.run("k8s_pod_logs", {"namespace": NS, "pod": "frontend-66d5f7c8b9-hq4vz", "previous": True})
    assert r.status == "no_data"  # no output at all, and the missing previous instance is explained
    assert "previous terminated container" in r.data["unavailable"][0]


async def test_deployments_show_rollout_history_and_latest_change(fake, registry):
    r = await registry.run("k8s_deployments", {"namespace": NS, "name": "checkout"})
    assert r.status == "ok", r.error
    (dep,) = r.data["deployments"]
    assert dep["replicas"] == {"desired": 3, "updated": 3, "ready": 1, "available": 1, "unavailable": 2}
    assert [h["revision"] for h in dep["rollout_history"]] == [4, 3, 2]  # checkout-worker's RS excluded
    assert dep["latest_change"]["created"] == "2025-11-20T09:48:00Z"
    assert dep["latest_change"]["age"] == "12m ago"
    assert dep["latest_change"]["image_changes"] == [
        "checkout: registry.shop/checkout:1.8.2 -> registry.shop/checkout:1.9.0"]
    assert "Progressing=False (ProgressDeadlineExceeded)" in dep["problems"]
    assert "newest revision 4 created 2025-11-20T09:48:00Z" in r.summary
    assert LAST_APPLIED not in r.to_text() and "managedFields" not in r.to_text()
    rs_request = [q for q in fake.requests if q["path"].endswith("/replicasets")][-1]
    assert rs_request["query"] == {"labelSelector": "app=checkout"}


async def test_deployments_list_puts_unhealthy_first(registry):
    r = await registry.run("k8s_deployments", {"namespace": NS})
    names = [d["name"] for d in r.data["deployments"]]
    assert names == ["checkout", "checkout-worker", "frontend"]
    assert r.data["deployments"][2]["problems"] == []
    assert [h["name"] for h in r.data["deployments"][1]["rollout_history"]] == ["checkout-worker-84c6b5d9f7"]
    assert "1 with problems" in r.summary


async def test_nodes_report_pressure_taints_and_cordon(registry):
    r = await registry.run("k8s_nodes", {})
    assert r.status == "ok", r.error
    by_name = {n["name"]: n for n in r.data["nodes"]}
    assert [n["name"] for n in r.data["nodes"]][-1] == "node-a" and by_name["node-a"]["problems"] == []
    assert "MemoryPressure=True (KubeletHasInsufficientMemory)" in by_name["node-b"]["problems"]
    assert by_name["node-b"]["taints"] == ["node.kubernetes.io/memory-pressure:NoSchedule"]
    c = by_name["node-c"]
    assert c["ready"] == "Unknown" and "cordoned" in c["problems"]
    assert "Ready=Unknown (NodeStatusUnknown)" in c["problems"]
    assert by_name["node-a"]["allocatable"] == {"cpu": "3920m", "memory": "15180964Ki", "pods": "110"}
    assert by_name["node-a"]["roles"] == ["worker"]
    assert r.summary.startswith("3 node(s), 2 Ready")
    one = await registry.run("k8s_nodes", {"name": "node-b"})
    # One node: its load too (pods bound to it against allocatable), from a field-selected pod list.
    assert one.data["count"] == 1
    assert one.query == "GET /api/v1/nodes/node-b ; GET /api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b"
    assert one.data["nodes"][0]["load"]["pods_allocatable"] == 110


async def test_jobs_by_cronjob_name_include_its_failed_run(registry):
    r = await registry.run("k8s_jobs", {"namespace": NS, "name": "nightly-report"})
    assert r.status == "ok", r.error
    assert [j["name"] for j in r.data["jobs"]] == ["nightly-report-29391960", "nightly-report-29390520"]
    failed = r.data["jobs"][0]
    assert failed["status"] == "Failed" and failed["failed"] == 4
    assert failed["problems"] == ["Failed (BackoffLimitExceeded)"]
    (cron,) = r.data["cronjobs"]
    assert cron["schedule"] == "0 2 * * *" and cron["last_schedule"] == "2025-11-20T02:00:00Z"
    assert "last job nightly-report-29391960 failed" in cron["problems"]
    everything = await registry.run("k8s_jobs", {"namespace": NS})
    assert {j["name"] for j in everything.data["jobs"]} == {
        "nightly-report-29391960", "nightly-report-29390520", "db-migrate-v190"}
    missing = await registry.run("k8s_jobs", {"namespace": NS, "name": "backup"})
    assert missing.status == "no_data" and "backup" in missing.summary


async def test_events_reducer_keeps_warnings_and_counts_normal_events():
    objs = [core_event(f"batch-{i}.ev", "Pod", f"batch-worker-{i:04d}", "Pulled",
                       f'Successfully pulled image "registry.shop/batch:7.{i}" in 1.2s', "Normal", 1,
                       "2025-11-20T09:00:00Z", "2025-11-20T09:00:00Z") for i in range(120)]
    objs.append(core_event("db-0.ev", "Pod", "db-0", "FailedMount",
                           "MountVolume.SetUp failed for volume \"data\": rpc error: code = DeadlineExceeded",
                           "Warning", 12, "2025-11-20T09:40:00Z", "2025-11-20T09:58:00Z"))
    with FakeKubeAPI(objs) as fake:
        tools = {t.name: t for t in kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW))}
        r = await tools["k8s_events"].run(namespace=NS)
    assert r.status == "ok" and r.reduced and not r.truncated
    assert r.size_bytes() <= tools["k8s_events"].budget_bytes
    assert [e["reason"] for e in r.data["events"]] == ["FailedMount"]
    assert r.data["normal_by_reason"] == {"Pulled": 120}


async def test_logs_with_many_distinct_lines_stay_within_budget():
    # 40 message shapes of different lengths: Drain keeps them apart, so templates alone overflow.
    lines = [f"WARN shape{i % 40} " + " ".join(f"field{k}=value{k}x{i % 40}" for k in range(25 + i % 40))
             for i in range(600)]
    lines[-3] = "FATAL: could not open relation mapping file \"global/pg_filenode.map\": No such file or directory"
    p = pod("pg-7f8d9c6b5-k2l3m", "pg", "7f8d9c6b5")
    with FakeKubeAPI([p], {(NS, "pg-7f8d9c6b5-k2l3m", "pg", False): "\n".join(lines)}) as fake:
        tools = {t.name: t for t in kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW))}
        r = await tools["k8s_pod_logs"].run(namespace=NS, pod="pg-7f8d9c6b5-k2l3m", tail_lines=1000)
    assert r.status == "ok" and r.reduced
    assert r.size_bytes() <= tools["k8s_pod_logs"].budget_bytes
    (section,) = r.data["sections"]
    assert section["line_count"] == 600
    assert section["templates_omitted"] > 0 and len(section["templates"]) <= 6  # reduce_logs ran
    assert section["most_severe"]["level"] == "ERROR"
    assert "pg_filenode.map" in section["most_severe"]["tail"][-1]
