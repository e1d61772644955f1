"""Refusals that need no API call (nothing is sent), the catalog, and quantity parsing."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.actions_support import NS, executor, objects
from tools.actions import CATALOG, RISKS, ActionExecutor, ActionRequest
from tools.actions.quantity import QuantityError, check, parse
from tools.base import ToolContext
from tools.k8s import FakeKubeAPI
from tools.taxonomy import ACTION_RISK


@pytest.fixture
def fake():
    with FakeKubeAPI(objects()) as api:
        yield api


REFUSED = [
    (ActionRequest("drain_node", "node-1", None, {}), "unknown action type 'drain_node'"),
    (ActionRequest("scale_deployment", "cart", NS, {"replicas": 80}), "replicas 80 is outside the allowed range 1..50"),
    (ActionRequest("scale_deployment", "cart", NS, {"replicas": 0}), "replicas 0 is outside the allowed range 1..50"),
    (ActionRequest("scale_deployment", "cart", NS, {"replicas": "6"}), "parameter 'replicas' must be integer"),
    (ActionRequest("scale_deployment", "cart", NS, {"replicas": True}), "parameter 'replicas' must be integer"),
    (ActionRequest("scale_deployment", "cart", NS, {}), "needs the parameter 'replicas'"),
    (ActionRequest("scale_deployment", "cart", "kube-system", {"replicas": 2}),
     "namespace 'kube-system' is outside the namespace allowlist (shop)"),
    (ActionRequest("restart_deployment", "cart", None, {}), "needs the namespace of the deployment"),
    (ActionRequest("restart_deployment", "../nodes/x", NS, {}), "is not a valid Kubernetes deployment name"),
    (ActionRequest("restart_deployment", "cart", NS, {"force": True}),
     "unknown parameter(s) for restart_deployment: force; allowed: none"),
    (ActionRequest("cordon_node", "node-1", NS, {}), "nodes are cluster-scoped"),
    (ActionRequest("rollback_deployment", "cart", NS, {"to_revision": 0}), "'to_revision' must be at least 1"),
    (ActionRequest("set_resources", "cart", NS, {}), "needs at least one of cpu_request"),
    (ActionRequest("set_resources", "cart", NS, {"memory_limit": "512MB"}),
     "memory_limit: '512MB' is not a valid Kubernetes quantity"),
    (ActionRequest("set_resources", "cart", NS, {"cpu_limit": "-1"}), "cpu_limit: '-1' is not a valid"),
    (ActionRequest("set_resources", "cart", NS, {"cpu_limit": "1.5.3"}), "cpu_limit: '1.5.3' is not a valid"),
    (ActionRequest("set_resources", "cart", NS, {"memory_limit": "512m"}), "did you mean \"Mi\"?"),
    (ActionRequest("set_resources", "cart", NS, {"cpu_request": "1Gi"}), "cpu '1Gi' uses a byte suffix"),
    (ActionRequest("set_resources", "cart", NS, {"memory_limit": 512}), "must be string or null"),
    (ActionRequest("set_resources", "cart", NS, {"cpu_request": "2", "cpu_limit": "1500m"}),
     "cpu_request 2 is above cpu_limit 1500m"),
    (ActionRequest("set_resources", "cart", NS, {"container": "Bad_Name", "cpu_limit": "1"}),
     "container 'Bad_Name' is not a valid container name"),
]


@pytest.mark.parametrize("req,reason", REFUSED, ids=[f"{r.action_type}-{i}" for i, (r, _) in enumerate(REFUSED)])
async def test_refused_with_a_clear_reason_and_no_request_sent(fake, req, reason):
    ex = executor(fake)
    why = ex.validate(req)
    assert why is not None and reason in why
    for call in (ex.dry_run, ex.execute, ex.verify):
        out = await call(req)
        assert not out.ok and out.message == f"refused: {why}" and out.details["refused"] is True
    assert fake.requests == []


def test_valid_requests_pass_validation():
    ex = ActionExecutor(None, ToolContext(namespace_allowlist=(NS,)), scale_bounds=(2, 10))
    ok = [ActionRequest("scale_deployment", "cart", NS, {"replicas": 10}),
          ActionRequest("set_resources", "cart", NS, {"memory_limit": "1.5Gi", "cpu_request": "250m",
                                                      "cpu_limit": None}),
          ActionRequest("rollback_deployment", "cart", NS, {"to_revision": 2}),
          ActionRequest("cordon_node", "ip-10-0-1-17.ec2.internal", None, {}),
          ActionRequest("delete_pod", "cart-7d9f-abcde", NS, {})]
    assert [ex.validate(r) for r in ok] == [None] * len(ok)
    assert "outside the allowed range 2..10" in ex.validate(ActionRequest("scale_deployment", "cart", NS,
                                                                          {"replicas": 1}))


async def test_without_a_kubernetes_client_everything_is_refused():
    ex = ActionExecutor(None, ToolContext())
    out = await ex.execute(ActionRequest("restart_deployment", "cart", NS, {}))
    assert not out.ok and "not configured" in out.message


async def test_a_malformed_request_never_raises():
    ex = ActionExecutor(None, ToolContext())
    bad = ActionRequest("scale_deployment", "cart", NS, None)  # type: ignore[arg-type]
    out = await ex.dry_run(bad)
    assert not out.ok and "parameters must be an object" in out.message


def test_catalog_matches_the_contract():
    assert RISKS == ("LOW", "MEDIUM", "HIGH", "CRITICAL")
    assert set(CATALOG) == {"restart_deployment", "scale_deployment", "rollback_deployment", "delete_pod",
                            "cordon_node", "uncordon_node", "set_resources"}
    for name, spec in CATALOG.items():
        assert spec.type == name and spec.risk in RISKS and spec.description
        assert spec.risk == ACTION_RISK.get(name, "MEDIUM")
        assert spec.reversible == (spec.undo is not None)
        if spec.undo:
            assert spec.undo in CATALOG
    assert CATALOG["cordon_node"].undo == "uncordon_node" and CATALOG["uncordon_node"].risk == "MEDIUM"
    assert CATALOG["delete_pod"].undo is None and CATALOG["restart_deployment"].undo is None
    assert CATALOG["scale_deployment"].params_schema["required"] == ["replicas"]


def test_descriptions():
    assert ActionRequest("scale_deployment", "cart", NS, {"replicas": 6, "from_replicas": 3}).describe() == \
        "scale deployment shop/cart from 3 to 6 replicas"
    assert ActionRequest("delete_pod", "cart-x", NS, {}).describe() == "delete pod shop/cart-x"
    assert ActionRequest("uncordon_node", "node-1", None, {}).describe() == "uncordon node node-1 (mark schedulable)"
    assert ActionRequest("set_resources", "cart", NS, {"memory_limit": "1Gi"}).describe() == \
        "set resources of the first container in deployment shop/cart: memory limit to 1Gi"


@pytest.mark.parametrize("text,value", [("512Mi", 512 * 2 ** 20), ("1.5Gi", 3 * 2 ** 29), ("250m", Decimal("0.25")),
                                        ("2", 2), ("1e3", 1000), (".5", Decimal("0.5")), ("1k", 1000),
                                        ("1E", 10 ** 18)])
def test_quantities_parse_like_the_apiserver(text, value):
    assert parse(text) == value


@pytest.mark.parametrize("resource,text", [("memory", "1.5Gi"), ("memory", "128974848"), ("cpu", "250m"),
                                           ("cpu", "1.5"), ("cpu", "2")])
def test_sensible_quantities_pass(resource, text):
    check(resource, text)


@pytest.mark.parametrize("resource,text", [("cpu", " 5"), ("cpu", "Mi"), ("cpu", "0.0001"), ("memory", "100"),
                                           ("memory", "1.5"), ("cpu", "5x"), ("memory", "1.00000001Gi")])
def test_nonsense_quantities_fail(resource, text):
    with pytest.raises(QuantityError):
        check(resource, text)
