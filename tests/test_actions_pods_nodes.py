"""delete_pod (replacement verified) and cordon/uncordon (undo of each other)."""
from __future__ import annotations

import pytest

from tests.actions_support import NS, executor, objects, writes
from tools.actions import ActionRequest
from tools.k8s import FakeKubeAPI
from tools.k8s.fake_store import resource_for_kind

POD = resource_for_kind("Pod")
NODE = resource_for_kind("Node")
POD_PATH = f"/api/v1/namespaces/{NS}/pods/cart-cart3hash-aaaaa"


@pytest.fixture
def fake():
    with FakeKubeAPI(objects()) as api:
        yield api


def pod_names(fake):
    return sorted(p["metadata"]["name"] for p in fake.store.list(POD, NS))


async def test_delete_pod_dry_run_keeps_it_execute_deletes_and_verify_sees_the_replacement(fake):
    fake.simulate_controllers(delay=0.2)
    ex = executor(fake)
    req = ActionRequest("delete_pod", "cart-cart3hash-aaaaa", NS, {})
    dry = await ex.dry_run(req)
    assert dry.ok, dry.message
    [w] = writes(fake)
    assert (w["method"], w["path"], w["query"]) == ("DELETE", POD_PATH, {"dryRun": "All"})
    assert "cart-cart3hash-aaaaa" in pod_names(fake)

    done = await ex.execute(req)
    assert done.ok and done.undo is None  # not reversible
    assert (writes(fake)[-1]["method"], writes(fake)[-1]["query"]) == ("DELETE", {})
    assert "cart-cart3hash-aaaaa" not in pod_names(fake)
    assert req.parameters["owner"] == {"kind": "ReplicaSet", "name": "cart-cart3hash", "uid": "cart-cart3hash-uid"}
    assert req.parameters["pod_uid"] and req.parameters["deleted_at"]

    early = await ex.verify(req, timeout=0.05)
    assert not early.ok and "ReplicaSet/cart-cart3hash has not created a replacement yet" in early.message
    out = await ex.verify(req, timeout=3)
    assert out.ok, out.message
    replacement = out.details["state"]["replacement"]
    assert replacement.startswith("cart-cart3hash-") and replacement in pod_names(fake)
    assert replacement not in ("cart-cart3hash-aaaaa", "cart-cart3hash-bbbbb")  # a sibling is no replacement


async def test_delete_pod_verify_reports_a_replacement_that_never_runs(fake):
    fake.simulate_controllers().stall(NS, "cart")
    ex = executor(fake)
    req = ActionRequest("delete_pod", "cart-cart3hash-aaaaa", NS, {})
    assert (await ex.execute(req)).ok
    out = await ex.verify(req, timeout=0.3)
    assert not out.ok and out.message.startswith("not verified within 0.3s")
    assert "is Pending (ContainerCreating)" in out.message


async def test_deleting_a_bare_pod_warns_and_verifies_that_it_is_gone(fake):
    ex = executor(fake)
    req = ActionRequest("delete_pod", "debug-shell", NS, {})
    dry = await ex.dry_run(req)
    assert dry.ok and dry.details["warnings"] == ["pod shop/debug-shell has no controller: nothing will recreate it"]
    assert "warning" in dry.message
    assert (await ex.execute(req)).ok
    out = await ex.verify(req)
    assert out.ok and "it had no controller" in out.message


async def test_cordon_then_uncordon_as_its_undo(fake):
    ex = executor(fake)
    req = ActionRequest("cordon_node", "node-1", None, {})
    dry = await ex.dry_run(req)
    assert dry.ok, dry.message
    [w] = writes(fake)
    assert (w["method"], w["path"], w["query"], w["content_type"], w["body"]) == (
        "PATCH", "/api/v1/nodes/node-1", {"dryRun": "All"}, "application/strategic-merge-patch+json",
        {"spec": {"unschedulable": True}})
    assert not fake.store.get(NODE, None, "node-1")["spec"].get("unschedulable")

    done = await ex.execute(req)
    assert done.ok and fake.store.get(NODE, None, "node-1")["spec"]["unschedulable"] is True
    assert done.undo == ActionRequest("uncordon_node", "node-1", None, {})
    verified = await ex.verify(req)
    assert verified.ok and verified.message == "verified: node node-1 is unschedulable (cordoned)"

    undone = await ex.execute(done.undo)
    assert undone.ok, undone.message
    w = writes(fake)[-1]
    assert (w["path"], w["body"], w["query"]) == ("/api/v1/nodes/node-1", {"spec": {"unschedulable": None}}, {})
    assert "unschedulable" not in fake.store.get(NODE, None, "node-1")["spec"]
    assert (await ex.verify(done.undo)).ok
    # Verifying the original cordon now fails: the node is schedulable again.
    late = await ex.verify(req, timeout=0.1)
    assert not late.ok and "node node-1 is schedulable" in late.message


async def test_cordoning_a_cordoned_node_changes_nothing(fake):
    ex = executor(fake)
    dry = await ex.dry_run(ActionRequest("cordon_node", "node-2", None, {}))
    assert not dry.ok and dry.message == "nothing to change: node node-2 is already cordoned"
    done = await ex.execute(ActionRequest("cordon_node", "node-2", None, {}))
    assert done.ok and done.undo is None  # we changed nothing, so there is nothing to undo
    assert writes(fake) == []


async def test_verifying_a_delete_that_never_happened_does_not_pass(fake):
    out = await executor(fake).verify(ActionRequest("delete_pod", "cart-cart3hash-aaaaa", NS, {}), timeout=0.1)
    assert not out.ok and "still exists and is not being deleted" in out.message
