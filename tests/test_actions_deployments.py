"""restart_deployment, scale_deployment and set_resources through the real client against the
loopback fake: exact requests, dry run leaves the object alone, execute changes it, undo, verify."""
from __future__ import annotations

import pytest

from tests.actions_support import DEP_PATH, NS, executor, objects, writes
from tools.actions import ActionRequest
from tools.k8s import FakeKubeAPI

RESTART_BODY = {"spec": {"template": {"metadata": {"annotations": {
    "kubectl.kubernetes.io/restartedAt": "2025-11-20T10:00:00Z"}}}}}


@pytest.fixture
def fake():
    with FakeKubeAPI(objects()) as api:
        yield api


def deployment(fake):
    from tools.k8s.fake_store import resource_for_kind
    return fake.store.get(resource_for_kind("Deployment"), NS, "cart")


def cart_resources(fake, name="cart"):
    return next(c for c in deployment(fake)["spec"]["template"]["spec"]["containers"] if c["name"] == name)["resources"]


async def test_restart_dry_run_then_execute_is_the_kubectl_patch(fake):
    ex = executor(fake)
    req = ActionRequest("restart_deployment", "cart", NS, {})
    before = deployment(fake)
    dry = await ex.dry_run(req)
    assert dry.ok, dry.message
    assert dry.details["after"]["restarted_at"] == "2025-11-20T10:00:00Z"
    [w] = writes(fake)
    assert (w["method"], w["path"], w["query"], w["content_type"], w["body"]) == (
        "PATCH", DEP_PATH, {"dryRun": "All"}, "application/strategic-merge-patch+json", RESTART_BODY)
    assert deployment(fake) == before  # nothing persisted, not even resourceVersion

    done = await ex.execute(req)
    assert done.ok and done.undo is None  # a restart cannot be undone
    w = writes(fake)[-1]
    assert (w["method"], w["path"], w["query"], w["body"]) == ("PATCH", DEP_PATH, {}, RESTART_BODY)
    after = deployment(fake)
    assert after["spec"]["template"]["metadata"]["annotations"] == RESTART_BODY["spec"]["template"]["metadata"][
        "annotations"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert req.describe() == "restart deployment shop/cart (rollout restart)"


async def test_restart_refuses_a_paused_deployment_without_writing(fake):
    out = await executor(fake).dry_run(ActionRequest("restart_deployment", "paused-api", NS, {}))
    assert not out.ok and "paused" in out.message and "resume" in out.message
    assert writes(fake) == []


async def test_restart_verify_converges_with_the_controller(fake):
    fake.simulate_controllers(delay=0.3)
    ex = executor(fake)
    req = ActionRequest("restart_deployment", "cart", NS, {})
    assert (await ex.execute(req)).ok
    early = await ex.verify(req, timeout=0.1)  # controller has not observed the new generation yet
    assert not early.ok and "has not observed generation 8" in early.message
    out = await ex.verify(req, timeout=3)
    assert out.ok, out.message
    assert "rolled out: 3/3 replicas available" in out.message and out.details["polls"] > 1
    # The new template got its own ReplicaSet and the next revision, as the real controller does.
    assert deployment(fake)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"


async def test_restart_verify_times_out_saying_what_is_missing(fake):
    fake.simulate_controllers().stall(NS, "cart", available=1)
    ex = executor(fake)
    req = ActionRequest("restart_deployment", "cart", NS, {})
    assert (await ex.execute(req)).ok
    out = await ex.verify(req, timeout=0.4)
    assert not out.ok
    assert out.message.startswith("not verified within 0.4s")
    assert "1 of 3 updated replicas of shop/cart are available" in out.message
    assert out.details["state"]["available"] == 1


async def test_verify_stops_at_once_when_the_progress_deadline_is_exceeded(fake):
    fake.simulate_controllers().stall(NS, "cart", deadline_exceeded=True)
    ex = executor(fake)
    req = ActionRequest("restart_deployment", "cart", NS, {})
    assert (await ex.execute(req)).ok
    out = await ex.verify(req, timeout=5)
    assert not out.ok and "exceeded its progress deadline" in out.message
    assert out.details["polls"] == 1


async def test_scale_dry_run_execute_undo_and_verify(fake):
    fake.simulate_controllers(delay=0.1)
    ex = executor(fake)
    req = ActionRequest("scale_deployment", "cart", NS, {"replicas": 6})
    assert req.describe() == "scale deployment shop/cart to 6 replicas"
    dry = await ex.dry_run(req)
    assert dry.ok, dry.message
    assert req.describe() == "scale deployment shop/cart from 3 to 6 replicas"
    [w] = writes(fake)
    assert (w["method"], w["path"], w["query"], w["content_type"], w["body"]) == (
        "PATCH", f"{DEP_PATH}/scale", {"dryRun": "All"}, "application/merge-patch+json", {"spec": {"replicas": 6}})
    assert deployment(fake)["spec"]["replicas"] == 3

    done = await ex.execute(req)
    assert done.ok and done.message == "done: scale deployment shop/cart from 3 to 6 replicas"
    assert writes(fake)[-1]["query"] == {}
    assert deployment(fake)["spec"]["replicas"] == 6
    assert done.undo == ActionRequest("scale_deployment", "cart", NS, {"replicas": 3, "from_replicas": 6})
    verified = await ex.verify(req)
    assert verified.ok and "6/6 replicas available" in verified.message

    undone = await ex.execute(done.undo)
    assert undone.ok, undone.message
    w = writes(fake)[-1]
    assert (w["path"], w["body"], w["query"]) == (f"{DEP_PATH}/scale", {"spec": {"replicas": 3}}, {})
    assert deployment(fake)["spec"]["replicas"] == 3
    assert (await ex.verify(done.undo)).ok


async def test_scale_to_the_current_replicas_is_not_offered(fake):
    ex = executor(fake)
    out = await ex.dry_run(ActionRequest("scale_deployment", "cart", NS, {"replicas": 3}))
    assert not out.ok and out.message == "nothing to change: deployment shop/cart already has 3 replicas"
    assert out.details["noop"] is True and writes(fake) == []


async def test_scale_verify_fails_when_someone_else_changes_replicas(fake):
    ex = executor(fake)
    req = ActionRequest("scale_deployment", "cart", NS, {"replicas": 5})
    assert (await ex.execute(req)).ok
    from tools.k8s.fake_store import resource_for_kind
    fake.store.patch(resource_for_kind("Deployment"), NS, "cart", "application/merge-patch+json",
                     {"spec": {"replicas": 4}}, False)
    out = await ex.verify(req, timeout=2)
    assert not out.ok and "now asks for 4 replicas, not 5" in out.message and out.details["polls"] == 1


async def test_set_resources_patches_one_container_by_name_and_undo_restores(fake):
    ex = executor(fake)
    original = cart_resources(fake)
    envoy = cart_resources(fake, "envoy")
    req = ActionRequest("set_resources", "cart", NS, {"memory_limit": "1Gi", "cpu_request": "500m", "cpu_limit": "1"})
    dry = await ex.dry_run(req)
    assert dry.ok, dry.message
    body = {"spec": {"template": {"spec": {"containers": [{"name": "cart", "resources": {
        "requests": {"cpu": "500m"}, "limits": {"memory": "1Gi", "cpu": "1"}}}]}}}}
    [w] = writes(fake)
    assert (w["method"], w["path"], w["query"], w["content_type"], w["body"]) == (
        "PATCH", DEP_PATH, {"dryRun": "All"}, "application/strategic-merge-patch+json", body)
    assert dry.details["after"] == {"requests": {"cpu": "500m", "memory": "256Mi"},
                                    "limits": {"memory": "1Gi", "cpu": "1"}}
    assert cart_resources(fake) == original
    # The first container was chosen and pinned; the description shows before and after.
    assert req.parameters["container"] == "cart"
    assert req.describe() == ("set resources of container cart in deployment shop/cart: cpu request from 250m to "
                              "500m, cpu limit from (unset) to 1, memory limit from 512Mi to 1Gi")

    done = await ex.execute(req)
    assert done.ok, done.message
    assert (writes(fake)[-1]["query"], writes(fake)[-1]["body"]) == ({}, body)
    assert cart_resources(fake) == {"requests": {"cpu": "500m", "memory": "256Mi"},
                                    "limits": {"memory": "1Gi", "cpu": "1"}}
    assert cart_resources(fake, "envoy") == envoy
    assert done.undo == ActionRequest("set_resources", "cart", NS, {
        "container": "cart", "cpu_request": "250m", "cpu_limit": None, "memory_limit": "512Mi",
        "previous": {"memory_limit": "1Gi", "cpu_request": "500m", "cpu_limit": "1"}})

    undone = await ex.execute(done.undo)
    assert undone.ok, undone.message
    assert writes(fake)[-1]["body"] == {"spec": {"template": {"spec": {"containers": [{"name": "cart", "resources": {
        "requests": {"cpu": "250m"}, "limits": {"cpu": None, "memory": "512Mi"}}}]}}}}
    assert cart_resources(fake) == original


async def test_set_resources_unknown_container_reads_but_never_writes(fake):
    out = await executor(fake).dry_run(ActionRequest("set_resources", "cart", NS,
                                                     {"container": "sidecar", "memory_limit": "1Gi"}))
    assert not out.ok
    assert out.message == ("refused: container 'sidecar' not found in deployment shop/cart; "
                           "its containers: cart, envoy")
    assert [r["method"] for r in fake.requests] == ["GET"]


async def test_set_resources_request_above_the_current_limit_is_refused(fake):
    # cart's memory limit is 512Mi; raising only the request past it would be rejected later anyway.
    out = await executor(fake).dry_run(ActionRequest("set_resources", "cart", NS, {"memory_request": "1Gi"}))
    assert not out.ok and "memory request 1Gi above its memory limit 512Mi" in out.message
    assert writes(fake) == []


async def test_set_resources_with_equal_values_is_a_noop(fake):
    out = await executor(fake).dry_run(ActionRequest("set_resources", "cart", NS,
                                                     {"container": "envoy", "cpu_limit": "0.2"}))
    assert not out.ok and out.message.startswith("nothing to change") and writes(fake) == []


async def test_set_resources_verify_converges(fake):
    fake.simulate_controllers(delay=0.1)
    ex = executor(fake)
    req = ActionRequest("set_resources", "cart", NS, {"memory_limit": "768Mi"})
    assert (await ex.execute(req)).ok
    out = await ex.verify(req)
    assert out.ok and "rolled out" in out.message
