"""The RBAC in deploy/k8s, derived from what the code really asks the API server.

Every catalog action is validated, dry-run, executed, verified and observed (and its undo run
the same way) through the official client against the loopback Kubernetes API, which records
every request; every read tool is called with each of its argument shapes. Each request maps to
(apiGroup, resource[/subresource], verb) the way the API server authorises it. The action roles
must grant exactly that set (a verb an action stopped using is flagged too), split by scope; the
read role must grant what the tools need, only get/list/watch, and never secrets.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.actions_support import NOW, NS, executor, objects
from tests.deploy_support import BASE, yaml_documents
from tools.actions import CATALOG, ActionRequest, ActionSpec
from tools.actions import executor as executor_module
from tools.actions import observe as observe_module
from tools.actions import verify as verify_module
from tools.actions.calls import Plan
from tools.actions.observe import Seen
from tools.actions.verify import Check
from tools.base import ToolContext
from tools.k8s import FakeKubeAPI, kubernetes_tools, make_api_client

Permission = tuple[str, str, str]  # (apiGroup, resource or resource/subresource, verb)
READ_VERBS = {"get", "list", "watch"}
_WRITE_VERBS = {"PATCH": "patch", "PUT": "update", "DELETE": "delete", "POST": "create"}

# One request per catalog action that succeeds against actions_support's shop namespace.
ACTION_EXAMPLES: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "restart_deployment": ("cart", NS, {}),
    "scale_deployment": ("cart", NS, {"replicas": 4}),
    "rollback_deployment": ("cart", NS, {}),
    "delete_pod": ("cart-cart3hash-aaaaa", NS, {}),
    "cordon_node": ("node-1", None, {}),
    "uncordon_node": ("node-2", None, {}),
    "set_resources": ("cart", NS, {"container": "cart", "cpu_limit": "500m"}),
}


STATEFULSET = {"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "cache", "namespace": NS, "uid": "cache-uid", "generation": 1},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cache"}},
                        "template": {"metadata": {"labels": {"app": "cache"}},
                                     "spec": {"containers": [{"name": "cache", "image": "redis:7"}]}}}}


def permission(request: dict[str, Any]) -> tuple[Permission, bool]:
    """((group, resource, verb), namespaced) for one recorded request, as RBAC sees it."""
    parts = [p for p in request["path"].split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    else:
        assert parts[0] == "apis", request["path"]
        group, rest = parts[1], parts[3:]
    namespaced = rest[0] == "namespaces" and len(rest) > 2
    if namespaced:
        rest = rest[2:]
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None
    if request["method"] == "GET":
        verb = "get" if name else ("watch" if request["query"].get("watch") == "true" else "list")
    else:  # dryRun=All is authorised as the same verb as the real write
        verb = _WRITE_VERBS[request["method"]]
    return (group, f"{resource}/{sub}" if sub else resource, verb), namespaced


def granted(role: dict[str, Any]) -> set[Permission]:
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


def role(path_name: str, name: str) -> dict[str, Any]:
    [found] = [d for d in yaml_documents(BASE / path_name) if d["kind"] == "ClusterRole"
               and d["metadata"]["name"] == name]
    return found


async def run_action(fake: FakeKubeAPI, action: str, target: str, namespace: str | None,
                     params: dict[str, Any]) -> None:
    """Everything the bot may do with one action: validate, dry run, execute, verify, observe (crash
    recovery), and the same for its undo."""
    ex = executor(fake)
    req: ActionRequest | None = ActionRequest(action, target, namespace, dict(params))
    for _ in ("the action", "its undo"):
        if req is None:
            break
        assert ex.validate(req) is None
        dry, done, verified = await ex.dry_run(req), await ex.execute(req), await ex.verify(req)
        for stage, outcome in (("dry run", dry), ("execution", done), ("verification", verified)):
            assert outcome.ok, f"{req.action_type} {stage}: {outcome.message}"
        await ex.observe(req, NOW - timedelta(minutes=1))
        req = done.undo


async def action_requests(action: str) -> list[dict[str, Any]]:
    target, namespace, params = ACTION_EXAMPLES[action]
    with FakeKubeAPI(objects() + [STATEFULSET]) as fake:
        fake.simulate_controllers(delay=0)
        await run_action(fake, action, target, namespace, params)
        return list(fake.requests)


def derive(requests: list[dict[str, Any]]) -> tuple[set[Permission], set[Permission]]:
    """(namespaced, cluster-scoped) permissions the requests need."""
    namespaced, cluster = set(), set()
    for r in requests:
        perm, is_namespaced = permission(r)
        (namespaced if is_namespaced else cluster).add(perm)
    return namespaced, cluster


def ungranted(needed: set[Permission], roles: list[dict[str, Any]]) -> set[Permission]:
    have = set().union(*(granted(r) for r in roles))
    return needed - have


def test_every_catalog_action_has_an_example():
    # A new catalog action fails here until it is exercised below, and then fails the RBAC
    # comparison until rbac-actions.yaml grants what it calls.
    assert set(ACTION_EXAMPLES) == set(CATALOG)


@pytest.mark.parametrize("action", sorted(CATALOG))
async def test_each_action_writes_and_every_request_is_granted(action):
    requests = await action_requests(action)
    writes = [r for r in requests if r["method"] != "GET"]
    assert any(r["query"].get("dryRun") == "All" for r in writes) and any("dryRun" not in r["query"] for r in writes)
    namespaced, cluster = derive(requests)
    assert not ungranted(namespaced, [role("rbac-actions.yaml", "chatops-actions")])
    assert not ungranted(cluster, [role("rbac-actions.yaml", "chatops-actions-nodes")])


async def test_action_roles_grant_exactly_what_the_catalog_uses():
    namespaced, cluster = set(), set()
    for action in CATALOG:
        ns_perms, cluster_perms = derive(await action_requests(action))
        namespaced |= ns_perms
        cluster |= cluster_perms
    # The namespaced role may be bound per namespace (overlays/prod); node writes need a cluster role.
    assert granted(role("rbac-actions.yaml", "chatops-actions")) == namespaced
    assert granted(role("rbac-actions.yaml", "chatops-actions-nodes")) == cluster
    assert ("apps", "deployments/scale", "patch") in namespaced and ("", "nodes", "patch") in cluster


async def test_an_action_added_without_its_verb_fails_the_comparison(monkeypatch):
    """A made-up catalog action that patches StatefulSets: the derivation finds the calls, and the
    roles, which do not grant them, fail the check this file applies to real actions."""
    path = f"/apis/apps/v1/namespaces/{NS}/statefulsets/cache"

    async def plan(kube, req, now):  # noqa: ANN001, ANN202
        await kube.json(path, kube.apps.read_namespaced_stateful_set, name=req.target, namespace=req.namespace)
        body = {"spec": {"template": {"metadata": {"annotations": {"restarted": "now"}}}}}
        return Plan(method="PATCH", path=path, call=kube.apps.patch_namespaced_stateful_set,
                    kwargs={"name": req.target, "namespace": req.namespace, "body": body,
                            "_content_type": "application/strategic-merge-patch+json"}, body=body)

    async def check(kube, req):  # noqa: ANN001, ANN202
        await kube.json(path, kube.apps.read_namespaced_stateful_set, name=req.target, namespace=req.namespace)
        return Check(True, "restarted")

    async def seen(kube, req, since):  # noqa: ANN001, ANN202
        return Seen(True, "restarted")

    monkeypatch.setitem(CATALOG, "restart_statefulset", ActionSpec("restart_statefulset", "MEDIUM", False, None,
                                                                   "restart a statefulset", {"type": "object"}))
    monkeypatch.setitem(executor_module.PLANNERS, "restart_statefulset", plan)
    monkeypatch.setitem(verify_module.CHECKS, "restart_statefulset", check)
    monkeypatch.setitem(observe_module.OBSERVERS, "restart_statefulset", seen)
    with pytest.raises(AssertionError):  # no example yet
        test_every_catalog_action_has_an_example()
    monkeypatch.setitem(ACTION_EXAMPLES, "restart_statefulset", ("cache", NS, {}))
    test_every_catalog_action_has_an_example()
    requests = await action_requests("restart_statefulset")
    assert ("PATCH", path, {"dryRun": "All"}) in [(r["method"], r["path"], r["query"]) for r in requests]
    assert derive(requests)[0] == {("apps", "statefulsets", "get"), ("apps", "statefulsets", "patch")}
    with pytest.raises(AssertionError, match="statefulsets"):
        await test_each_action_writes_and_every_request_is_granted("restart_statefulset")
    with pytest.raises(AssertionError, match="statefulsets"):
        await test_action_roles_grant_exactly_what_the_catalog_uses()


# -- read tools --------------------------------------------------------------------------------

READ_OBJECTS = (
    STATEFULSET,
    {"apiVersion": "apps/v1", "kind": "DaemonSet",
     "metadata": {"name": "agent", "namespace": NS, "uid": "agent-uid"},
     "spec": {"selector": {"matchLabels": {"app": "agent"}},
              "template": {"metadata": {"labels": {"app": "agent"}},
                           "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}}},
    {"apiVersion": "batch/v1", "kind": "CronJob",
     "metadata": {"name": "nightly", "namespace": NS, "uid": "nightly-uid"},
     "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
         "restartPolicy": "Never", "containers": [{"name": "report", "image": "report:1"}]}}}}}},
    {"apiVersion": "batch/v1", "kind": "Job",
     "metadata": {"name": "nightly-1", "namespace": NS, "uid": "nightly-1-uid",
                  "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
                                       "uid": "nightly-uid", "controller": True}]},
     "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "report", "image": "r:1"}]}}},
     "status": {"failed": 1}},
)
POD = "cart-cart3hash-aaaaa"
# Each read tool with each shape of arguments that changes what it asks for.
READ_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("k8s_pods", {"namespace": NS}),
    ("k8s_pods", {"namespace": NS, "name": POD}),
    ("k8s_pods", {"namespace": NS, "label_selector": "app=cart"}),
    ("k8s_events", {"namespace": NS}),
    ("k8s_events", {"namespace": NS, "kind": "Pod", "name": POD}),
    ("k8s_events", {"namespace": NS, "kind": "Deployment", "name": "cart"}),
    ("k8s_pod_logs", {"namespace": NS, "pod": POD, "container": "cart"}),
    ("k8s_pod_logs", {"namespace": NS, "pod": POD, "container": "cart", "previous": True}),
    ("k8s_deployments", {"namespace": NS}),
    ("k8s_deployments", {"namespace": NS, "name": "cart"}),
    ("k8s_nodes", {}),
    ("k8s_nodes", {"name": "node-1"}),
    ("k8s_jobs", {"namespace": NS}),
    ("k8s_jobs", {"namespace": NS, "name": "nightly"}),
    ("k8s_subject", {"namespace": NS, "pod": POD}),
    *[("k8s_subject", {"namespace": NS, "workload": name, "kind": kind}) for kind, name in (
        ("Deployment", "cart"), ("StatefulSet", "cache"), ("DaemonSet", "agent"), ("CronJob", "nightly"),
        ("Job", "nightly-1"), ("ReplicaSet", "cart-cart3hash"))],
    ("k8s_subject", {"namespace": NS, "workload": "cart"}),
    ("k8s_find", {"names": ["cart", "cache", "agent", "nightly"]}),
    ("k8s_network_policies", {"namespace": NS}),
    ("k8s_network_policies", {"namespace": NS, "pod": POD}),
]


async def read_requests(allowlist: tuple[str, ...]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(tool, its requests) for every READ_CALLS entry, with the given namespace allowlist."""
    ctx = ToolContext(now=lambda: NOW, timeout=3, namespace_allowlist=allowlist)
    out = []
    with FakeKubeAPI(objects() + list(READ_OBJECTS)) as fake:
        fake.set_log(NS, POD, "cart", "2025-11-20T09:59:00Z ERROR boom\n")
        fake.set_log(NS, POD, "cart", "2025-11-20T09:58:00Z ERROR earlier\n", previous=True)
        tools = {t.name: t for t in kubernetes_tools(make_api_client(fake.url), ctx)}
        for name, args in READ_CALLS:
            before = len(fake.requests)
            result = await tools[name].run(**args)
            assert result.status != "error", (name, args, result.summary)
            out.append((name, fake.requests[before:]))
    return out


def test_every_read_tool_is_exercised():
    with FakeKubeAPI() as fake:
        names = {t.name for t in kubernetes_tools(make_api_client(fake.url), ToolContext())}
    assert names == {name for name, _ in READ_CALLS}


@pytest.mark.parametrize("allowlist", [(), (NS,)], ids=["cluster-wide", "allowlisted"])
async def test_read_role_grants_what_every_read_tool_asks(allowlist):
    calls = await read_requests(allowlist)
    needed: set[Permission] = set()
    for name, requests in calls:
        assert requests, f"{name} made no request"
        assert all(r["method"] == "GET" for r in requests), name
        needed |= {permission(r)[0] for r in requests}
    read = role("rbac-read.yaml", "chatops-read")
    assert not ungranted(needed, [read]), ungranted(needed, [read])
    assert ("", "pods/log", "get") in needed and ("", "nodes", "list") in needed
    if not allowlist:  # k8s_find lists workloads across namespaces: only a cluster binding allows it
        assert any(r["path"] == "/apis/apps/v1/deployments" for _, reqs in calls for r in reqs)


def test_read_role_is_read_only_and_covers_the_issue_list():
    read = role("rbac-read.yaml", "chatops-read")
    perms = granted(read)
    assert {v for _, _, v in perms} <= READ_VERBS
    resources = {(g, r) for g, r, _ in perms}
    assert {("", "pods"), ("", "pods/log"), ("", "events"), ("apps", "deployments"), ("apps", "replicasets"),
            ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"),
            ("", "nodes"), ("networking.k8s.io", "networkpolicies")} <= resources


def test_no_role_reaches_secrets_or_wildcards():
    roles = [d for name in ("rbac-read.yaml", "rbac-actions.yaml") for d in yaml_documents(BASE / name)
             if d["kind"] in ("ClusterRole", "Role")]
    assert len(roles) == 3
    for r in roles:
        for rule in r["rules"]:
            assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
            assert not {"secrets", "configmaps", "serviceaccounts/token"} & set(rule["resources"]), rule
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
