"""The Kubernetes read tools' typed fields added for issue 14, through the real client against the
loopback fake: pods' workload, controller, mounted objects and configured hosts, Services, a node's
addresses and load, NetworkPolicies and DNS egress, what a revision or a failed CronJob run changed."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tools.base import ToolContext, ToolRegistry, ToolResult
from tools.k8s import FakeKubeAPI, kubernetes_tools, make_api_client
from tools.k8s.logs import reduce_logs

NS = "pay"
NOW = datetime(2031, 4, 1, 12, 0, tzinfo=timezone.utc)


def _pod(name: str, rs: str, tpl: str, node: str, *, labels: dict | None = None, phase: str = "Running",
         reason: str | None = None, spec_extra: dict | None = None) -> dict:
    spec = {"nodeName": node, "containers": [{"name": "app", "image": "registry.example/app:1",
                                              "resources": {"requests": {"memory": "1Gi", "cpu": "500m"},
                                                            "limits": {"memory": "2Gi"}},
                                              "ports": [{"containerPort": 8080}]}]}
    spec.update(spec_extra or {})
    status = {"phase": phase, **({"reason": reason} if reason else {}),
              "containerStatuses": [{"name": "app", "ready": phase == "Running", "restartCount": 0,
                                     "state": {"running": {"startedAt": "2031-04-01T10:00:00Z"}}}]}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"pod-template-hash": tpl, **(labels or {})},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": rs, "controller": True}]},
            "spec": spec, "status": status}


def _rs(deploy: str, tpl: str, revision: int, created: str, template: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{deploy}-{tpl}", "namespace": NS, "creationTimestamp": created,
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                         "ownerReferences": [{"kind": "Deployment", "name": deploy, "uid": f"uid-{deploy}",
                                              "controller": True}]},
            "spec": {"replicas": 1, "template": template}, "status": {"replicas": 1}}


def _job(name: str, cron: str, start: str, cmd: str, env: dict, done: str) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "ownerReferences": [{"kind": "CronJob", "name": cron,
                                                                              "controller": True}]},
            "spec": {"template": {"metadata": {"labels": {"job-name": name}}, "spec": {"containers": [
                {"name": "run", "image": "registry.example/jobs:3", "command": ["/bin/sh", "-c", cmd],
                 "env": [{"name": k, "value": v} for k, v in env.items()]}]}}},
            "status": {"startTime": start, "conditions": [{"type": done, "status": "True",
                                                            **({"reason": "BackoffLimitExceeded"}
                                                               if done == "Failed" else {})}]}}


def cluster() -> list[dict]:
    tpl = {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}
    restarted = {"metadata": {"labels": {"app": "api"},
                              "annotations": {"kubectl.kubernetes.io/restartedAt": "2031-04-01T11:40:00Z"}},
                 "spec": tpl["spec"]}
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "egress-web-only", "namespace": NS, "creationTimestamp": "2031-04-01T11:30:00Z"},
              "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"],
                       "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}]}}
    open_dns = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "worker-egress", "namespace": NS},
                "spec": {"podSelector": {"matchLabels": {"app": "worker"}}, "policyTypes": ["Egress"],
                         "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                             "kubernetes.io/metadata.name": "kube-system"}}}],
                                     "ports": [{"protocol": "UDP", "port": 53}]}]}}
    return [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
         "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}, {"type": "Hostname", "address": "n1"}],
                    "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "30", "nvidia.com/gpu": "1",
                                    "hugepages-2Mi": "0"},
                    "conditions": [{"type": "Ready", "status": "True"}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "api", "namespace": NS, "uid": "uid-api",
                      "annotations": {"deployment.kubernetes.io/revision": "2"}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}}, "template": restarted},
         "status": {"replicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "readyReplicas": 1}},
        _rs("api", "6d5f8b9c7", 1, "2031-03-01T00:00:00Z", tpl),
        _rs("api", "7f9c6d8b5", 2, "2031-04-01T11:40:00Z", restarted),
        _pod("api-7f9c6d8b5-x2x4q", "api-7f9c6d8b5", "7f9c6d8b5", "n1", labels={"app": "api"}, spec_extra={
            "volumes": [{"name": "cfg", "configMap": {"name": "api-config"}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "api-data"}}],
            "initContainers": [{"name": "migrate", "image": "registry.example/migrate:1",
                                "env": [{"name": "DB_URL", "value": "postgres://ledger-db.pay.svc:5432/ledger"}]}]}),
        _pod("worker-5c8d7f6b9-q9w4n", "worker-5c8d7f6b9", "5c8d7f6b9", "n1", labels={"app": "worker"}),
        _pod("old-5c8d7f6b9-e4v1c", "old-5c8d7f6b9", "5c8d7f6b9", "n1", phase="Failed", reason="Evicted"),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api-svc", "namespace": NS},
         "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}},
        policy, open_dns,
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "settle", "namespace": NS},
         "spec": {"schedule": "0 1 * * *"}, "status": {"lastScheduleTime": "2031-04-01T01:00:00Z"}},
        _job("settle-29500000", "settle", "2031-03-31T01:00:00Z", "psql -c 'call settle()'", {"PGPORT": "5432"},
             "Complete"),
        _job("settle-29501440", "settle", "2031-04-01T01:00:00Z", "psqll -c 'call settle()'", {"PGPORT": "6432"},
             "Failed"),
    ]


@pytest.fixture
def registry():
    with FakeKubeAPI(cluster()) as fake:
        yield ToolRegistry().register(*kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW)))


async def test_pods_carry_typed_workload_mounted_objects_configured_hosts_and_services(registry):
    r = await registry.run("k8s_pods", {"namespace": NS})
    api = next(p for p in r.data["pods"] + r.data.get("healthy_pods", []) if p["name"] == "api-7f9c6d8b5-x2x4q")
    assert api["workload"] == {"kind": "Deployment", "name": "api"}
    assert api["controller"] == {"kind": "ReplicaSet", "name": "api-7f9c6d8b5"}
    assert api["uses"] == {"configmaps": ["api-config"], "pvcs": ["api-data"]}
    assert api["config_hosts"] == ["ledger-db.pay.svc"]
    assert [c["name"] for c in api["containers"] if c.get("init")] == ["migrate"]
    assert next(c for c in api["containers"] if c["name"] == "app")["ports"] == [8080]
    assert r.data["services"] == {"api-svc": ["api-7f9c6d8b5-x2x4q"]}


async def test_a_named_node_gives_addresses_load_and_extended_resources(registry):
    r = await registry.run("k8s_nodes", {"name": "n1"})
    (n,) = r.data["nodes"]
    assert n["addresses"]["InternalIP"] == "10.0.0.11"
    assert n["allocatable"]["nvidia.com/gpu"] == "1" and "hugepages-2Mi" not in n["allocatable"]
    load = n["load"]
    assert (load["pods"], load["pods_allocatable"], load["evicted"]) == (2, 30, [f"{NS}/old-5c8d7f6b9-e4v1c"])
    assert (load["memory_requests"], load["memory_limits"], load["memory_limits_ratio"]) == ("2Gi", "4Gi", 0.5)
    assert r.data["at"] == NOW.isoformat() and "2 pod(s) of 30 allocatable, 1 evicted" in r.summary


async def test_network_policies_say_which_pods_lose_dns(registry):
    r = await registry.run("k8s_network_policies", {"namespace": NS})
    by = {p["name"]: p for p in r.data["policies"]}
    assert by["egress-web-only"]["selects"] == ["api-7f9c6d8b5-x2x4q"] and by["egress-web-only"]["allows_dns"] is False
    assert by["egress-web-only"]["egress"] == ["TCP 443 to 0.0.0.0/0"]
    assert by["worker-egress"]["allows_dns"] is True
    one = await registry.run("k8s_network_policies", {"namespace": NS, "pod": "api-7f9c6d8b5-x2x4q"})
    assert [p["name"] for p in one.data["policies"]] == ["egress-web-only"] and one.data["dns_egress"] == "blocked"
    assert "name lookups are blocked" in one.summary
    other = await registry.run("k8s_network_policies", {"namespace": NS, "pod": "worker-5c8d7f6b9-q9w4n"})
    assert other.data["dns_egress"] == "allowed"


async def test_revisions_and_failed_cron_runs_say_what_changed(registry):
    r = await registry.run("k8s_deployments", {"namespace": NS})
    (dep,) = r.data["deployments"]
    newest = dep["rollout_history"][0]
    assert newest["revision"] == 2 and newest.get("restart_only") is True
    jobs = await registry.run("k8s_jobs", {"namespace": NS})
    (cron,) = jobs.data["cronjobs"]
    assert cron["changes_since_last_success"] == [
        "run command: psql -> psqll (last success settle-29500000)",
        "run env PGPORT: 5432 -> 6432 (last success settle-29500000)"]
    assert next(j for j in jobs.data["jobs"] if j["name"] == "settle-29501440")["command"] == \
        "/bin/sh -c psqll -c 'call settle()'"


def test_reduced_pod_logs_keep_an_example_per_template():
    long = "ERROR payout failed reason=" + "x" * 600 + " account=acct_42"
    result = ToolResult(status="ok", data={"sections": [{"previous": True, "templates": [
        {"template": "ERROR payout failed reason=<*> account=<*>", "count": 40, "example": long}] * 8}]})
    out = reduce_logs(result, 100)
    t = out.data["sections"][0]["templates"][0]
    assert t["example"].startswith("ERROR payout failed") and t["example"].endswith("account=acct_42")


async def test_pods_answer_when_services_are_forbidden():
    with FakeKubeAPI(cluster()) as fake:
        fake.fail("GET", r"/services$", 403)
        reg = ToolRegistry().register(*kubernetes_tools(make_api_client(fake.url), ToolContext(now=lambda: NOW)))
        r = await reg.run("k8s_pods", {"namespace": NS})
    assert r.status == "ok" and "services" not in r.data and "forbidden" in r.data["services_unavailable"]
