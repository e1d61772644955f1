"""API failures become ActionOutcome(ok=False) with the API's reason and the exact path:
RBAC 403, 404, 409, slow apiserver vs ctx.timeout, 5xx during verification, apiserver down."""
from __future__ import annotations

import time

import pytest

from tests.actions_support import DEP_PATH, NS, executor, objects, writes
from tools.actions import ActionRequest
from tools.k8s import FakeKubeAPI

SA = 'User "system:serviceaccount:chatops:incident-bot"'
# (request, write method, exact write path, RBAC resource named in the 403 message)
ACTIONS = [
    (ActionRequest("restart_deployment", "cart", NS, {}), "PATCH", DEP_PATH, 'patch resource "deployments"'),
    (ActionRequest("scale_deployment", "cart", NS, {"replicas": 5}), "PATCH", f"{DEP_PATH}/scale",
     'patch resource "deployments/scale"'),
    (ActionRequest("rollback_deployment", "cart", NS, {}), "PATCH", DEP_PATH, 'patch resource "deployments"'),
    (ActionRequest("set_resources", "cart", NS, {"memory_limit": "1Gi"}), "PATCH", DEP_PATH,
     'patch resource "deployments"'),
    (ActionRequest("delete_pod", "cart-cart3hash-aaaaa", NS, {}), "DELETE",
     f"/api/v1/namespaces/{NS}/pods/cart-cart3hash-aaaaa", 'delete resource "pods"'),
    (ActionRequest("cordon_node", "node-1", None, {}), "PATCH", "/api/v1/nodes/node-1", 'patch resource "nodes"'),
    (ActionRequest("uncordon_node", "node-2", None, {}), "PATCH", "/api/v1/nodes/node-2", 'patch resource "nodes"'),
]
IDS = [a[0].action_type for a in ACTIONS]


def fresh(req: ActionRequest) -> ActionRequest:
    return ActionRequest(req.action_type, req.target, req.namespace, dict(req.parameters))


@pytest.fixture
def fake():
    with FakeKubeAPI(objects()) as api:
        yield api


@pytest.mark.parametrize("req,method,path,rbac", ACTIONS, ids=IDS)
async def test_rbac_forbidden_write_surfaces_the_message_and_path(fake, req, method, path, rbac):
    fake.fail(method, f"^{path}$", 403)
    out = await executor(fake).dry_run(fresh(req))
    assert not out.ok
    assert "403 Forbidden" in out.message and f"{SA} cannot {rbac}" in out.message
    assert f"({path}?dryRun=All)" in out.message
    assert out.details["code"] == 403 and out.details["failed_request"] == f"{method} {path}?dryRun=All"


@pytest.mark.parametrize("req,method,path,rbac", ACTIONS, ids=IDS)
async def test_conflict_on_execute_is_reported(fake, req, method, path, rbac):
    fake.fail(method, f"^{path}$", 409)
    out = await executor(fake).execute(fresh(req))
    assert not out.ok and out.undo is None
    assert "409 Conflict" in out.message and "the object has been modified" in out.message
    assert f"({path})" in out.message  # the real call carries no dryRun
    assert [w["query"] for w in writes(fake)] == [{}]


@pytest.mark.parametrize("req,method,path,rbac", ACTIONS, ids=IDS)
async def test_missing_target_is_a_404_with_the_path(fake, req, method, path, rbac):
    gone = ActionRequest(req.action_type, "does-not-exist", req.namespace, dict(req.parameters))
    out = await executor(fake).dry_run(gone)
    assert not out.ok
    assert '404 NotFound' in out.message and '"does-not-exist" not found' in out.message
    assert "does-not-exist" in out.details["failed_request"] and out.details["failed_request"].startswith("GET ")
    assert writes(fake) == []


@pytest.mark.parametrize("req,method,path,rbac", ACTIONS, ids=IDS)
async def test_slow_apiserver_fails_quickly_at_the_context_timeout(fake, req, method, path, rbac):
    fake.fail(method, f"^{path}$", None, delay=5)
    started = time.monotonic()
    out = await executor(fake, timeout=0.5).execute(fresh(req))
    elapsed = time.monotonic() - started
    assert not out.ok and elapsed < 2.5
    assert f"did not answer {method} {path} within 0.5s" in out.message


async def test_forbidden_read_before_the_write_is_reported_too(fake):
    fake.fail("GET", f"^{DEP_PATH}$", 403)
    out = await executor(fake).dry_run(ActionRequest("set_resources", "cart", NS, {"memory_limit": "1Gi"}))
    assert not out.ok and "failed while reading the current state" in out.message
    assert f'{SA} cannot get resource "deployments"' in out.message and writes(fake) == []


async def test_verify_rides_over_a_transient_500_but_not_a_403(fake):
    fake.simulate_controllers()
    ex = executor(fake)
    req = ActionRequest("scale_deployment", "cart", NS, {"replicas": 4})
    assert (await ex.execute(req)).ok
    fake.fail("GET", f"^{DEP_PATH}$", 500, times=2)
    out = await ex.verify(req)
    assert out.ok and out.details["polls"] == 3
    fake.fail("GET", f"^{DEP_PATH}$", 403)
    out = await ex.verify(req)
    assert not out.ok and out.message.startswith("cannot verify") and "403 Forbidden" in out.message


async def test_verify_reports_a_persistently_failing_apiserver_at_the_deadline(fake):
    fake.fail("GET", f"^{DEP_PATH}$", 503)
    out = await executor(fake).verify(ActionRequest("restart_deployment", "cart", NS, {}), timeout=0.3)
    assert not out.ok and out.message.startswith("not verified within 0.3s") and "503" in out.message


async def test_apiserver_down():
    fake = FakeKubeAPI(objects())
    fake.start()
    ex = executor(fake)
    fake.stop()
    out = await ex.dry_run(ActionRequest("cordon_node", "node-1", None, {}))
    assert not out.ok and "connection refused" in out.message and "/api/v1/nodes/node-1" in out.message
