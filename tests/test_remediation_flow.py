"""The approval state machine end to end: real ActionExecutor against the fake Kubernetes API,
on SQLite and PostgreSQL. Every path is checked for its state, its audit rows and what the
cluster received."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from agents.diagnosis import ProposedAction
from bot import audit
from bot.models import RemediationProposal
from bot.remediation import Identity, Signer, click, expire_due, get_view, propose
from tests.actions_support import DEP_PATH, NS, executor, objects
from tests.remediation_support import (ALICE, LEAD, OPS, OPS2, SIGNER, STRANGER, Controller, audit_events,
                                       count_events, policy, real_writes, seed)
from tools.actions import CATALOG
from tools.k8s import FakeKubeAPI


@pytest.fixture
def cluster():
    with FakeKubeAPI(objects()) as fake, Controller(fake):
        yield fake


@pytest.fixture
def env(migrated, cluster):
    _, factory = migrated
    return factory, cluster, executor(cluster)


def pa(action_type, target, namespace=NS, **parameters):
    fields = dict(action_type=action_type, target=target, namespace=namespace, parameters=parameters)
    # uncordon_node is only ever an undo, so the model's type does not know it; propose takes plain dicts too.
    return ProposedAction(**fields) if action_type != "uncordon_node" else fields


async def _propose(factory, ex, actions, requested_by=OPS, pol=None, now=None, findings=(), **kw):
    inc, diag = seed(factory, findings=findings)
    return await propose(factory, ex, inc, diag, actions, requested_by, (NS,), kw.pop("risk_overrides", None),
                         policy=pol or policy(), signer=SIGNER, now=now, **kw)


def _chain_ok(factory):
    with factory() as s:
        result = audit.verify(s)
    assert result.ok, result.reason
    return result.count


async def test_propose_dry_runs_and_renders(env):
    factory, fake, ex = env
    [v] = await _propose(factory, ex, [pa("scale_deployment", "cart", replicas=6)])
    assert v.offerable and v.state == "proposed" and v.reason is None
    assert v.action_text == "scale deployment shop/cart from 3 to 6 replicas"
    assert v.parameters == {"replicas": 6, "from_replicas": 3}
    assert v.risk == "MEDIUM" and v.approvals_required == 1 and v.approvals_received == 0
    assert v.confirm_text == ("This will scale deployment shop/cart from 3 to 6 replicas. Risk MEDIUM. "
                              "Needs 1 approval from an allowed approver.")
    assert v.expires_at - datetime.now(timezone.utc) > timedelta(minutes=29)
    assert v.token and v.requested_by == OPS.key
    dry = [r for r in fake.requests if r["method"] != "GET"]
    assert len(dry) == 1 and dry[0]["query"].get("dryRun") == "All" and real_writes(fake) == []
    [created] = audit_events(factory, "proposal.created")
    assert created["subject"] == f"proposal/{v.proposal_id}" and created["payload"]["action"] == v.action_text
    _chain_ok(factory)


async def test_failed_dry_run_or_validation_offers_no_button(env):
    factory, fake, ex = env
    fake.fail("PATCH", "/deployments/cart$", 403)
    views = await _propose(factory, ex, [pa("restart_deployment", "cart"), pa("scale_deployment", "cart", replicas=99)])
    assert [v.offerable for v in views] == [False, False] and all(v.token == "" for v in views)
    assert views[0].reason.startswith("dry run failed") and "forbidden" in views[0].reason
    assert "outside the allowed range 1..20" in views[1].reason
    assert [v.state for v in views] == ["proposed", "proposed"]
    # Even a correctly minted token cannot approve it.
    with factory() as s:
        token = SIGNER.sign(s.get(RemediationProposal, views[0].proposal_id))
    r = await click(factory, ex, views[0].proposal_id, token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status) == (False, "not_offerable") and "dry run failed" in r.message
    assert count_events(factory, "approval.denied") == 1 and real_writes(fake) == []
    _chain_ok(factory)


async def test_medium_approval_executes_verifies_and_offers_undo(env):
    factory, fake, ex = env
    [v] = await _propose(factory, ex, [pa("scale_deployment", "cart", replicas=6)])
    r = await click(factory, ex, v.proposal_id, v.token, OPS2, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status, r.executed) == (True, "executed", True), r.message
    assert r.view.state == "succeeded" and r.view.result["verify"]["ok"] is True
    assert r.view.result["executed_by"] == OPS2.key
    assert fake.store.get(_dep(), NS, "cart")["spec"]["replicas"] == 6
    writes = real_writes(fake)
    assert [(w["method"], w["path"]) for w in writes] == [("PATCH", DEP_PATH + "/scale")]
    u = r.undo
    assert u.undo_of == v.proposal_id and u.offerable and u.state == "proposed"
    assert u.action_text == "scale deployment shop/cart from 6 to 3 replicas"
    events = [e["event"] for e in audit_events(factory)]
    assert events == ["proposal.created", "approval.recorded", "proposal.approved", "proposal.executing",
                      "proposal.succeeded", "proposal.created"]
    r2 = await click(factory, ex, u.proposal_id, u.token, ALICE, "approve", policy=policy(), signer=SIGNER)
    assert r2.status == "executed" and fake.store.get(_dep(), NS, "cart")["spec"]["replicas"] == 3
    _chain_ok(factory)


def _dep():
    from tools.k8s.fake_store import resource_for_kind

    return resource_for_kind("Deployment")


async def test_high_refuses_self_approval(env):
    factory, fake, ex = env
    [v] = await _propose(factory, ex, [pa("rollback_deployment", "cart")], requested_by=LEAD)
    assert v.risk == "HIGH" and "you cannot approve your own request" in v.confirm_text
    r = await click(factory, ex, v.proposal_id, v.token, LEAD, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status) == (False, "denied") and "cannot approve it yourself" in r.message
    r = await click(factory, ex, v.proposal_id, v.token, Identity("slack", "UOPS9", frozenset({"SOPS"})), "approve",
                    policy=policy(), signer=SIGNER)
    assert r.status == "denied" and "not an allowed approver for HIGH" in r.message  # MEDIUM-only group
    assert real_writes(fake) == [] and count_events(factory, "approval.denied") == 2
    r = await click(factory, ex, v.proposal_id, v.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert r.status == "executed", r.message
    assert r.view.action_text == "roll back deployment shop/cart from revision 3 to revision 2"
    _chain_ok(factory)


async def test_critical_needs_two_distinct_approvers(env):
    factory, fake, ex = env
    [v] = await _propose(factory, ex, [pa("delete_pod", "cart-cart3hash-aaaaa")], requested_by=LEAD,
                         risk_overrides={NS: "CRITICAL"}, findings=("pod cart-cart3hash-aaaaa restarted 9 times",))
    assert v.risk == "CRITICAL" and v.approvals_required == 2
    p = policy()
    r = await click(factory, ex, v.proposal_id, v.token, OPS, "approve", policy=p, signer=SIGNER)
    assert (r.ok, r.status, r.view.approvals_received) == (True, "recorded", 1)
    assert "1 more approval" in r.view.confirm_text
    r = await click(factory, ex, v.proposal_id, v.token, OPS, "approve", policy=p, signer=SIGNER)
    assert (r.ok, r.status, r.view.approvals_received) == (False, "duplicate", 1)
    r = await click(factory, ex, v.proposal_id, v.token, LEAD, "approve", policy=p, signer=SIGNER)
    assert r.status == "denied"  # the requester is a CRITICAL approver but not for their own request
    assert real_writes(fake) == [] and get_view(factory, v.proposal_id, SIGNER).state == "proposed"
    r = await click(factory, ex, v.proposal_id, v.token, OPS2, "approve", policy=p, signer=SIGNER)
    assert r.status == "executed", r.message
    assert set(r.view.approvers) == {OPS.key, OPS2.key}
    assert [(w["method"], w["path"]) for w in real_writes(fake)] == [("DELETE", f"/api/v1/namespaces/{NS}/pods/cart-cart3hash-aaaaa")]
    [approved] = audit_events(factory, "proposal.approved")
    assert approved["payload"]["approvers"] == sorted([OPS.key, OPS2.key])
    assert count_events(factory, "approval.duplicate") == 1
    _chain_ok(factory)


async def test_expiry_on_click_and_by_sweep(env):
    factory, fake, ex = env
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    views = await _propose(factory, ex, [pa("restart_deployment", "cart"), pa("scale_deployment", "cart", replicas=4)],
                           now=t0, pol=policy(ttl_minutes=30))
    a, b = views
    r = await click(factory, ex, a.proposal_id, a.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status, r.view.state) == (False, "expired", "expired")
    r = await click(factory, ex, a.proposal_id, a.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert r.status == "already_decided"
    # Not yet due at t0+29m, due at t0+31m; a second sweep finds nothing.
    assert expire_due(factory, t0 + timedelta(minutes=29)) == []
    assert expire_due(factory, t0 + timedelta(minutes=31)) == [b.proposal_id]
    assert expire_due(factory, t0 + timedelta(minutes=32)) == []
    assert get_view(factory, b.proposal_id, SIGNER).state == "expired"
    expired = audit_events(factory, "proposal.expired")
    assert [(e["actor"], e["subject"]) for e in expired] == [(OPS.key, f"proposal/{a.proposal_id}"),
                                                              ("system:clock", f"proposal/{b.proposal_id}")]
    assert real_writes(fake) == []
    _chain_ok(factory)


async def test_rejection_ends_the_proposal(env):
    factory, fake, ex = env
    [v] = await _propose(factory, ex, [pa("restart_deployment", "cart")])
    r = await click(factory, ex, v.proposal_id, v.token, STRANGER, "reject", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status) == (False, "denied")  # an outsider cannot even reject
    r = await click(factory, ex, v.proposal_id, v.token, ALICE, "reject", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status, r.view.state) == (True, "rejected", "rejected")
    r = await click(factory, ex, v.proposal_id, v.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status) == (False, "already_decided")
    [replay] = audit_events(factory, "token.rejected")
    assert replay["payload"]["kind"] == "replayed" and replay["actor"] == OPS.key
    assert real_writes(fake) == [] and count_events(factory, "proposal.rejected") == 1
    _chain_ok(factory)


async def test_forged_foreign_and_replayed_tokens(env):
    factory, fake, ex = env
    a, b = await _propose(factory, ex, [pa("restart_deployment", "cart"), pa("scale_deployment", "cart", replicas=5)])
    with factory() as s:
        forged = Signer(b"an-attacker-guessed-key-000000000").sign(s.get(RemediationProposal, a.proposal_id))
    for token in (forged, b.token, "", a.token[:-1] + ("A" if a.token[-1] != "A" else "B")):
        r = await click(factory, ex, a.proposal_id, token, OPS, "approve", policy=policy(), signer=SIGNER)
        assert (r.ok, r.status) == (False, "invalid_token"), token
    r = await click(factory, ex, "f" * 32, a.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert r.status == "not_found"
    rejected = audit_events(factory, "token.rejected")
    assert [e["payload"]["kind"] for e in rejected] == ["forged"] * 4 + ["unknown_proposal"]
    assert get_view(factory, a.proposal_id, SIGNER).state == "proposed" and real_writes(fake) == []
    # A valid click executes; the same token replayed afterwards is refused and audited.
    assert (await click(factory, ex, a.proposal_id, a.token, OPS, "approve", policy=policy(), signer=SIGNER)).executed
    r = await click(factory, ex, a.proposal_id, a.token, OPS2, "approve", policy=policy(), signer=SIGNER)
    assert (r.status, r.executed) == ("already_decided", False) and "already succeeded" in r.message
    assert audit_events(factory, "token.rejected")[-1]["payload"]["kind"] == "replayed"
    assert len(real_writes(fake)) == 1
    _chain_ok(factory)


def _type(action):
    return action["action_type"] if isinstance(action, dict) else action.action_type


ACTIONS = [  # (proposal, approver, expected undo type or None)
    (pa("restart_deployment", "cart"), OPS, None),
    (pa("scale_deployment", "cart", replicas=5), OPS, "scale_deployment"),
    (pa("rollback_deployment", "cart"), LEAD, "rollback_deployment"),
    (pa("set_resources", "cart", container="cart", memory_limit="1Gi"), OPS, "set_resources"),
    (pa("delete_pod", "cart-cart3hash-bbbbb"), OPS, None),
    (pa("cordon_node", "node-1", namespace=None), LEAD, "uncordon_node"),
    (pa("uncordon_node", "node-2", namespace=None), OPS, "cordon_node"),
]


@pytest.mark.parametrize("action,approver,undo", ACTIONS, ids=[_type(a[0]) for a in ACTIONS])
async def test_every_action_end_to_end(env, action, approver, undo):
    factory, fake, ex = env
    findings = ("pod cart-cart3hash-bbbbb OOMKilled on node node-1", "node node-2 is cordoned")
    [v] = await _propose(factory, ex, [action], requested_by=Identity("slack", "UREQ"), findings=findings)
    assert v.offerable, v.reason
    assert v.risk == CATALOG[_type(action)].risk
    r = await click(factory, ex, v.proposal_id, v.token, approver, "approve", policy=policy(), signer=SIGNER)
    assert (r.status, r.view.state) == ("executed", "succeeded"), r.message
    assert r.view.result["verify"]["ok"] and len(real_writes(fake)) == 1
    assert (r.undo.action_type if r.undo else None) == undo
    if r.undo:
        assert r.undo.offerable, r.undo.reason
    assert count_events(factory, "proposal.succeeded") == 1
    _chain_ok(factory)


async def test_execution_failure_is_recorded_and_reported(env):
    factory, fake, ex = env
    [v] = await _propose(factory, ex, [pa("scale_deployment", "cart", replicas=7)])
    fake.fail("PATCH", "/deployments/cart/scale$", 403)
    r = await click(factory, ex, v.proposal_id, v.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status, r.executed, r.undo) == (False, "failed", False, None)
    assert "forbidden" in r.message and r.view.state == "failed"
    assert r.view.result["execute"]["ok"] is False and r.view.result["verify"] is None
    [failed] = audit_events(factory, "proposal.failed")
    assert "forbidden" in failed["payload"]["result"]["execute"]["message"]
    assert fake.store.get(_dep(), NS, "cart")["spec"]["replicas"] == 3
    _chain_ok(factory)


async def test_auto_approve_low_only_when_enabled(env, monkeypatch):
    factory, fake, ex = env
    monkeypatch.setitem(CATALOG, "uncordon_node", dataclasses.replace(CATALOG["uncordon_node"], risk="LOW"))
    action = [pa("uncordon_node", "node-2", namespace=None)]
    [v] = await _propose(factory, ex, action, findings=("node node-2 cordoned",))
    assert (v.risk, v.state, v.offerable) == ("LOW", "proposed", True) and real_writes(fake) == []
    [w] = await _propose(factory, ex, action, pol=policy(auto_approve_low=True), findings=("node node-2 cordoned",))
    assert w.state == "succeeded" and len(real_writes(fake)) == 1
    [approved] = audit_events(factory, "proposal.approved")
    assert approved["actor"] == "system:auto-approve"
    _chain_ok(factory)


async def test_unverified_change_fails_but_offers_its_undo(migrated):
    _, factory = migrated
    with FakeKubeAPI(objects()) as fake:  # no controller: the rollout never converges
        ex = executor(fake, verify_timeout=0.3)
        [v] = await _propose(factory, ex, [pa("scale_deployment", "cart", replicas=8)])
        r = await click(factory, ex, v.proposal_id, v.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status, r.executed, r.view.state) == (False, "failed", True, "failed")
    assert "but not verified" in r.message and r.view.result["verify"]["ok"] is False
    # The change was applied, so its undo is offered even though it did not converge.
    assert r.undo is not None and r.undo.action_text == "scale deployment shop/cart from 8 to 3 replicas"
    _chain_ok(factory)
