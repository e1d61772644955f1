"""rollback_deployment as `kubectl rollout undo`: ReplicaSet history by owner, the JSON patch of
the template (minus pod-template-hash) and annotations, to_revision, undo and verification."""
from __future__ import annotations

import pytest

from tests.actions_support import DEP_PATH, NS, REVISION, executor, objects, template, writes
from tools.actions import ActionRequest
from tools.k8s import FakeKubeAPI
from tools.k8s.fake_store import resource_for_kind

DEP = resource_for_kind("Deployment")
RS = resource_for_kind("ReplicaSet")


@pytest.fixture
def fake():
    with FakeKubeAPI(objects()) as api:
        yield api


def cart(fake):
    return fake.store.get(DEP, NS, "cart")


def image(fake):
    return cart(fake)["spec"]["template"]["spec"]["containers"][0]["image"]


async def test_rollback_dry_run_sends_kubectls_json_patch(fake):
    ex = executor(fake)
    req = ActionRequest("rollback_deployment", "cart", NS, {})
    assert req.describe() == "roll back deployment shop/cart to the previous revision"
    before = cart(fake)
    out = await ex.dry_run(req)
    assert out.ok, out.message
    reads = [(r["method"], r["path"], r["query"]) for r in fake.requests if r["method"] == "GET"]
    assert reads == [("GET", DEP_PATH, {}),
                     ("GET", f"/apis/apps/v1/namespaces/{NS}/replicasets", {"labelSelector": "app=cart"})]
    [w] = writes(fake)
    assert (w["method"], w["path"], w["query"], w["content_type"]) == (
        "PATCH", DEP_PATH, {"dryRun": "All"}, "application/json-patch+json")
    assert w["body"] == [
        {"op": "replace", "path": "/spec/template", "value": template("registry.local/cart:1.2")},
        {"op": "replace", "path": "/metadata/annotations",
         "value": {REVISION: "3", "kubernetes.io/change-cause": "deploy registry.local/cart:1.2"}}]
    assert out.details["after"]["images"] == {"cart": "registry.local/cart:1.2", "envoy": "envoyproxy/envoy:v1.31.0"}
    assert cart(fake) == before
    # The target is pinned so the approved change is the one executed.
    assert req.parameters == {"to_revision": 2, "from_revision": 3, "to_replicaset": "cart-cart2hash"}
    assert req.describe() == "roll back deployment shop/cart from revision 3 to revision 2"


async def test_rollback_execute_undo_and_verify_with_the_controller(fake):
    fake.simulate_controllers(delay=0.05)
    ex = executor(fake)
    req = ActionRequest("rollback_deployment", "cart", NS, {})
    done = await ex.execute(req)
    assert done.ok, done.message
    assert writes(fake)[-1]["query"] == {}
    assert image(fake) == "registry.local/cart:1.2"
    assert "pod-template-hash" not in cart(fake)["spec"]["template"]["metadata"]["labels"]
    assert done.undo == ActionRequest("rollback_deployment", "cart", NS, {"to_revision": 3})
    verified = await ex.verify(req)
    assert verified.ok, verified.message
    # The controller reused revision 2's ReplicaSet as revision 4.
    assert cart(fake)["metadata"]["annotations"][REVISION] == "4"
    assert fake.store.get(RS, NS, "cart-cart2hash")["metadata"]["annotations"][REVISION] == "4"

    undone = await ex.execute(done.undo)
    assert undone.ok, undone.message
    assert writes(fake)[-1]["body"][0]["value"] == template("registry.local/cart:1.3")
    assert image(fake) == "registry.local/cart:1.3"
    assert (await ex.verify(done.undo)).ok
    assert cart(fake)["metadata"]["annotations"][REVISION] == "5"


async def test_rollback_to_a_named_revision(fake):
    ex = executor(fake)
    out = await ex.execute(ActionRequest("rollback_deployment", "cart", NS, {"to_revision": 1}))
    assert out.ok, out.message
    assert image(fake) == "registry.local/cart:1.1"
    assert cart(fake)["metadata"]["annotations"]["kubernetes.io/change-cause"] == "deploy registry.local/cart:1.1"


async def test_unknown_revision_lists_only_the_deployments_own_history(fake):
    out = await executor(fake).dry_run(ActionRequest("rollback_deployment", "cart", NS, {"to_revision": 9}))
    # Revision 9 belongs to a ReplicaSet with the same labels but another owner.
    assert not out.ok and "revision 9 of deployment shop/cart is not in its history (revisions: 1, 2, 3)" in out.message
    assert writes(fake) == []


async def test_rollback_to_the_current_template_is_a_noop(fake):
    out = await executor(fake).dry_run(ActionRequest("rollback_deployment", "cart", NS, {"to_revision": 3}))
    assert not out.ok and "already matches revision 3" in out.message and writes(fake) == []


async def test_no_previous_revision_and_paused_are_refused(fake):
    ex = executor(fake)
    out = await ex.dry_run(ActionRequest("rollback_deployment", "fresh", NS, {}))
    assert not out.ok and "has no revision before 1" in out.message
    out = await ex.dry_run(ActionRequest("rollback_deployment", "paused-api", NS, {}))
    assert not out.ok and "is paused" in out.message
    assert writes(fake) == []


async def test_rollback_verify_times_out_while_the_old_revision_is_unavailable(fake):
    fake.simulate_controllers().stall(NS, "cart", available=0)
    ex = executor(fake)
    req = ActionRequest("rollback_deployment", "cart", NS, {})
    assert (await ex.execute(req)).ok
    out = await ex.verify(req, timeout=0.3)
    assert not out.ok and "0 of 3 updated replicas of shop/cart are available" in out.message
