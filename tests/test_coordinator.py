"""The coordinator keeps only catalog actions inside the scope computed from the trigger."""
from __future__ import annotations

from agents.coordinator import review
from agents.diagnosis import Diagnosis, ProposedAction
from agents.scope import OUTSIDE, TriggerScope


def _diag(*proposals):
    return Diagnosis(category="oom_killed", component="cart", summary="cart is OOMKilled.", confidence=0.8,
                     proposals=list(proposals))


SCOPE = TriggerScope(namespace="shop", workloads=frozenset({("Deployment", "cart"), ("ReplicaSet", "cart-7d9f8c6b5")}),
                     pods=frozenset({"cart-7d9f8c6b5-x2kqz"}), nodes=frozenset({"gke-pool-1-abcd"}))


def test_in_scope_catalog_action_is_kept_with_table_risk():
    r = review(_diag(ProposedAction(action_type="set_resources", target="cart", namespace="shop",
                                    parameters={"memory_limit": "1Gi"}, risk="LOW")), SCOPE)
    assert [p.target for p in r.kept] == ["cart"] and r.kept[0].risk == "MEDIUM"  # engine's LOW ignored


def test_other_namespace_other_workload_and_name_prefix_are_outside():
    r = review(_diag(
        ProposedAction(action_type="scale_deployment", target="payments", namespace="kube-system", parameters={"replicas": 0}),
        ProposedAction(action_type="restart_deployment", target="payments", namespace="shop"),
        ProposedAction(action_type="restart_deployment", target="cartography", namespace="shop"),
        ProposedAction(action_type="restart_deployment", target="cart-7d9f8c6b5", namespace="shop"),  # the RS
        ProposedAction(action_type="delete_pod", target="payments-5c8d7f9b6-abcde", namespace="shop"),
    ), SCOPE)
    assert r.kept == []
    assert all(why.startswith(OUTSIDE) for _, why in r.dropped), r.dropped


def test_node_action_needs_a_node_hosting_the_subject():
    r = review(_diag(ProposedAction(action_type="cordon_node", target="gke-pool-1-abcd", namespace="shop"),
                     ProposedAction(action_type="cordon_node", target="gke-pool-1-zzzz")), SCOPE)
    assert [(p.target, p.namespace, p.risk) for p in r.kept] == [("gke-pool-1-abcd", None, "HIGH")]
    assert "hosts none of the subject's pods" in r.dropped[0][1]


def test_subject_pod_may_be_deleted():
    r = review(_diag(ProposedAction(action_type="delete_pod", target="cart-7d9f8c6b5-x2kqz", namespace="shop")), SCOPE)
    assert [p.target for p in r.kept] == ["cart-7d9f8c6b5-x2kqz"]


def test_allowlist_risk_override_and_duplicates():
    scope = TriggerScope(namespace="shop", workloads=SCOPE.workloads, namespace_allowlist=("staging",))
    r = review(_diag(ProposedAction(action_type="restart_deployment", target="cart", namespace="shop")), scope)
    assert r.kept == [] and "not in the allowlist" in r.dropped[0][1]
    scope = TriggerScope(namespace="shop", workloads=SCOPE.workloads, risk_overrides={"shop": "CRITICAL"})
    p = ProposedAction(action_type="restart_deployment", target="cart", namespace="shop")
    r = review(_diag(p, p), scope)
    assert len(r.kept) == 1 and r.kept[0].risk == "CRITICAL" and r.dropped[0][1] == "duplicate proposal"


def test_invalid_names_are_dropped():
    r = review(_diag(ProposedAction(action_type="delete_pod", target="x; rm -rf /", namespace="shop")), SCOPE)
    assert r.kept == [] and "not a valid object name" in r.dropped[0][1]


def test_empty_scope_offers_nothing():
    r = review(_diag(ProposedAction(action_type="restart_deployment", target="cart", namespace="shop"),
                     ProposedAction(action_type="cordon_node", target="gke-pool-1-abcd")), TriggerScope())
    assert r.kept == [] and len(r.dropped) == 2


def test_scope_round_trips_through_its_stored_form():
    again = TriggerScope.from_dict(SCOPE.to_dict())
    assert (again.namespace, again.workloads, again.pods, again.nodes) == \
        (SCOPE.namespace, SCOPE.workloads, SCOPE.pods, SCOPE.nodes)
