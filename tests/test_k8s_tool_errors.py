"""Failure paths of the Kubernetes tools through the real client: RBAC 403, 404, apiserver down,
slow apiserver vs the tool timeout, garbage bodies, 5xx, the namespace allowlist, no config."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tools.base import ToolContext, ToolRegistry
from tools.k8s import FakeKubeAPI, KubeConfigError, kubernetes_tools, make_api_client

NS = "billing"
NOW = datetime(2025, 11, 20, 10, 0, 0, tzinfo=timezone.utc)

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "invoicer-7b9d4c8f6-2mxqz", "namespace": NS, "labels": {"app": "invoicer"}},
       "spec": {"nodeName": "node-1", "containers": [{"name": "invoicer", "image": "registry.local/invoicer:3.2.0"}]},
       "status": {"phase": "Running", "containerStatuses": [
           {"name": "invoicer", "ready": True, "restartCount": 0, "image": "registry.local/invoicer:3.2.0",
            "imageID": "", "state": {"running": {"startedAt": "2025-11-20T08:00:00Z"}}}]}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}

# One representative call per tool, with the path each one reads first.
CALLS = [
    ("k8s_pods", {"namespace": NS}, f"/api/v1/namespaces/{NS}/pods"),
    ("k8s_events", {"namespace": NS, "kind": "Pod", "name": POD["metadata"]["name"]},
     f"/api/v1/namespaces/{NS}/events"),
    ("k8s_pod_logs", {"namespace": NS, "pod": POD["metadata"]["name"]},
     f"/api/v1/namespaces/{NS}/pods/{POD['metadata']['name']}/log"),
    ("k8s_deployments", {"namespace": NS}, f"/apis/apps/v1/namespaces/{NS}/deployments"),
    ("k8s_nodes", {}, "/api/v1/nodes"),
    ("k8s_jobs", {"namespace": NS}, f"/apis/batch/v1/namespaces/{NS}/jobs"),
]


def registry_for(url: str, timeout: float = 5, allowlist: tuple[str, ...] = ()) -> ToolRegistry:
    ctx = ToolContext(now=lambda: NOW, timeout=timeout, namespace_allowlist=allowlist)
    return ToolRegistry().register(*kubernetes_tools(make_api_client(url), ctx))


@pytest.fixture
def fake():
    with FakeKubeAPI([POD, NODE], logs={(NS, POD["metadata"]["name"], "invoicer", False): "ready\n"}) as api:
        yield api


@pytest.mark.parametrize("tool,args,path", CALLS, ids=[c[0] for c in CALLS])
async def test_rbac_forbidden_returns_the_api_message_and_path(fake, tool, args, path):
    fake.fail("*", ".*", 403)
    r = await registry_for(fake.url).run(tool, args)
    assert r.status == "error"
    assert "403 Forbidden" in r.error and "is forbidden: User" in r.error
    assert path in r.error and path in r.query


@pytest.mark.parametrize("tool,args,path", CALLS, ids=[c[0] for c in CALLS])
async def test_apiserver_down_gives_error_with_url(tool, args, path):
    fake = FakeKubeAPI()
    url = fake.start()
    fake.stop()
    started = time.monotonic()
    r = await registry_for(url, timeout=2).run(tool, args)
    assert r.status == "error"
    assert f"{url}{path}" in r.error and "connection refused" in r.error
    assert time.monotonic() - started < 2


# Logs are text/plain by contract, so any body is valid log text; every other read expects JSON.
JSON_CALLS = [c for c in CALLS if c[0] != "k8s_pod_logs"]


@pytest.mark.parametrize("tool,args,path", JSON_CALLS, ids=[c[0] for c in JSON_CALLS])
async def test_garbage_body_is_an_error_not_a_crash(fake, tool, args, path):
    fake.fail("GET", ".*", 200, body="<html><body>502 Bad Gateway (nginx)</body></html>")
    r = await registry_for(fake.url).run(tool, args)
    assert r.status == "error"
    assert "non-JSON body" in r.error and "502 Bad Gateway" in r.error and path in r.error


async def test_slow_apiserver_hits_the_tool_timeout(fake):
    fake.fail("GET", "/pods$", None, delay=3)
    started = time.monotonic()
    r = await registry_for(fake.url, timeout=0.5).run("k8s_pods", {"namespace": NS})
    elapsed = time.monotonic() - started
    assert r.status == "error"
    assert f"did not answer GET /api/v1/namespaces/{NS}/pods" in r.error and "within 0.5s" in r.error
    assert f"{fake.url}/api/v1/namespaces/{NS}/pods" in r.error
    assert elapsed < 1.6  # one attempt, not urllib3's default retries
    # A delay shorter than the timeout is just a slow answer.
    fake.clear_failures()
    fake.fail("GET", "/pods$", None, delay=0.2)
    r = await registry_for(fake.url, timeout=2).run("k8s_pods", {"namespace": NS})
    assert r.status == "ok" and r.data["count"] == 1


async def test_server_error_reports_the_status_message(fake):
    fake.fail("GET", "/nodes$", 500)
    r = await registry_for(fake.url).run("k8s_nodes", {})
    assert r.status == "error" and "500 InternalError" in r.error and "etcdserver" in r.error


@pytest.mark.parametrize("tool,args,expected", [
    ("k8s_pods", {"namespace": NS, "name": "invoicer-gone"}, 'pods "invoicer-gone" not found'),
    ("k8s_deployments", {"namespace": NS, "name": "invoicer"}, 'deployments.apps "invoicer" not found'),
    ("k8s_nodes", {"name": "node-9"}, 'nodes "node-9" not found'),
    ("k8s_pod_logs", {"namespace": NS, "pod": "invoicer-gone"}, 'pods "invoicer-gone" not found'),
])
async def test_missing_object_is_no_data_saying_not_found(fake, tool, args, expected):
    r = await registry_for(fake.url).run(tool, args)
    assert r.status == "no_data"
    assert expected in r.summary and "404" in r.summary


async def test_unknown_api_path_404_is_an_error(fake):
    fake.fail("GET", "/cronjobs$", 404, message="the server could not find the requested resource")
    r = await registry_for(fake.url).run("k8s_jobs", {"namespace": NS})
    assert r.status == "error" and "could not find the requested resource" in r.error


async def test_multi_container_logs_need_a_container(fake):
    fake.add({**POD, "metadata": {"name": "invoicer-meshed", "namespace": NS},
              "spec": {"containers": [{"name": "invoicer", "image": "i:1"}, {"name": "linkerd-proxy", "image": "l:2"}]}})
    r = await registry_for(fake.url).run("k8s_pod_logs", {"namespace": NS, "pod": "invoicer-meshed"})
    assert r.status == "error" and "choose one of: [invoicer linkerd-proxy]" in r.error


@pytest.mark.parametrize("tool,args,path", [c for c in CALLS if "namespace" in c[1]], ids=lambda v: str(v)[:20])
async def test_namespace_outside_allowlist_is_refused_without_calling_the_api(fake, tool, args, path):
    r = await registry_for(fake.url, allowlist=("shop", "payments")).run(tool, args)
    assert r.status == "error"
    assert "'billing'" in r.error and "shop, payments" in r.error
    assert fake.requests == []
    allowed = await registry_for(fake.url, allowlist=(NS,)).run(tool, args)
    assert allowed.status in ("ok", "no_data") and fake.requests


async def test_unconfigured_source_and_bad_arguments(fake):
    reg = ToolRegistry().register(*kubernetes_tools(None, ToolContext()))
    for tool, args, _ in CALLS:
        r = await reg.run(tool, args)
        assert r.status == "error" and r.error == "Kubernetes source not configured"
    r = await registry_for(fake.url).run("k8s_pods", {"namespace": NS, "selector": "app=x"})
    assert r.status == "error" and "invalid arguments" in r.error
    r = await registry_for(fake.url).run("k8s_pods", {})
    assert r.status == "error" and "invalid arguments" in r.error
    assert fake.requests == []


def test_make_api_client_without_any_config_raises_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(KubeConfigError, match="no usable Kubernetes configuration"):
        make_api_client()
    with pytest.raises(KubeConfigError, match="absent-too"):
        make_api_client(kubeconfig=str(tmp_path / "absent-too"))


def test_make_api_client_from_kubeconfig_context(tmp_path, fake):
    cfg = tmp_path / "config"
    cfg.write_text(f"""
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{fake.url}"}}
users:
- name: bot
  user: {{token: s3cr3t-token}}
contexts:
- name: incident
  context: {{cluster: fake, user: bot, namespace: {NS}}}
current-context: incident
""")
    api = make_api_client(kubeconfig=str(cfg), context="incident")
    assert api.configuration.host == fake.url
    from kubernetes import client
    assert client.CoreV1Api(api).read_node("node-1").metadata.name == "node-1"
