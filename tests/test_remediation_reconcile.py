"""Crash recovery of proposals left `executing` (bot/remediation/reconcile.py), on SQLite and
PostgreSQL, with the real ActionExecutor against the fake Kubernetes API and its controllers.

For every catalog action the process is killed at both points where a crash loses the outcome:
after `executing` was committed but before the Kubernetes call (nothing applied: failed), and
after the call but before the outcome was committed (applied: succeeded, undo offered). The
reconciler reads the cluster and never writes to it: the store and the list of real writes are
the same before and after it runs."""
from __future__ import annotations

import asyncio
import copy
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import audit
from bot.db import make_engine, session_factory
from bot.models import RemediationProposal
from bot.remediation import click, propose
from bot.remediation.reconcile import DEFERRED, RECONCILER, reconcile_executing
from tests.actions_support import NOW, NS, executor, objects
from tests.remediation_support import LEAD, OPS, SIGNER, audit_events, count_events, policy, real_writes, seed
from tools.actions import ActionRequest
from tools.k8s import FakeKubeAPI, make_api_client
from tools.k8s.fake_store import resource_for_kind

AGE = timedelta(minutes=5)
LATER = NOW + timedelta(hours=1)
KINDS = ("Deployment", "ReplicaSet", "Pod", "Node")


def _proposal(action_type, target, namespace=NS, **parameters):
    return {"action_type": action_type, "target": target, "namespace": namespace, "parameters": parameters}


# action -> (proposal, the undo offered once it was applied)
CASES = {
    "restart_deployment": (_proposal("restart_deployment", "cart"), None),
    "scale_deployment": (_proposal("scale_deployment", "cart", replicas=6), "scale_deployment"),
    "rollback_deployment": (_proposal("rollback_deployment", "cart"), "rollback_deployment"),
    "delete_pod": (_proposal("delete_pod", "cart-cart3hash-aaaaa"), None),
    "cordon_node": (_proposal("cordon_node", "node-1", None), "uncordon_node"),
    "uncordon_node": (_proposal("uncordon_node", "node-2", None), "cordon_node"),
    "set_resources": (_proposal("set_resources", "cart", cpu_request="500m", memory_limit="1Gi"), "set_resources"),
}


class Killed(BaseException):
    """kill -9: nothing after this point runs (a BaseException, so no `except Exception` records it)."""


class Crashing:
    """The real executor, killed right before its write (after_write=False) or right after it."""

    def __init__(self, real, after_write: bool):
        self.real, self.after_write = real, after_write

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def execute(self, req):
        if self.after_write:
            done = await self.real.execute(req)
            assert done.ok, done.message
        raise Killed


class NoExecute:
    """The real executor; execute() is recorded and refused: a reconciler must never call it."""

    def __init__(self, real):
        self.real, self.executed = real, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    async def execute(self, req):
        self.executed.append(req)
        raise RuntimeError("execute called during reconciliation")


@pytest.fixture
def cluster():
    with FakeKubeAPI(objects()) as fake:
        fake.simulate_controllers(0)
        yield fake


@pytest.fixture
def env(migrated, cluster):
    _, factory = migrated
    return factory, cluster, NoExecute(executor(cluster))


def snapshot(fake) -> dict:
    return {kind: copy.deepcopy(fake.store.list(resource_for_kind(kind), None)) for kind in KINDS}


async def crash(factory, fake, ex, proposal, after_write: bool) -> str:
    """Propose, approve and kill the executing process at one of the two points; the proposal id."""
    inc, diag = seed(factory)
    [view] = await propose(factory, ex.real, inc, diag, [proposal], OPS, (NS,), policy=policy(), signer=SIGNER,
                           now=NOW)
    assert view.offerable, view.reason
    with pytest.raises(Killed):
        await click(factory, Crashing(ex.real, after_write), view.proposal_id, view.token, LEAD, "approve",
                    policy=policy(), signer=SIGNER, now=NOW)
    assert state_of(factory, view.proposal_id) == "executing"
    assert len(real_writes(fake)) == (1 if after_write else 0)
    return view.proposal_id


def state_of(factory, proposal_id: str) -> str:
    with factory() as s:
        return s.get(RemediationProposal, proposal_id).state


def undos_of(factory, proposal_id: str) -> list[RemediationProposal]:
    with factory() as s:
        return list(s.execute(select(RemediationProposal).where(RemediationProposal.undo_of == proposal_id))
                    .scalars())


def chain_ok(factory) -> None:
    with factory() as s:
        result = audit.verify(s)
    assert result.ok, result.reason


async def sweep(factory, ex, now=LATER, older_than=AGE):
    return await reconcile_executing(factory, ex, older_than=older_than, now=now, policy=policy(), signer=SIGNER)


@pytest.mark.parametrize("action", sorted(CASES))
async def test_crash_before_the_write_is_reconciled_as_failed(env, action):
    factory, fake, ex = env
    proposal, _ = CASES[action]
    pid = await crash(factory, fake, ex, proposal, after_write=False)
    before = snapshot(fake)

    [r] = await sweep(factory, ex)
    assert (r.proposal_id, r.outcome) == (pid, "failed"), r.message
    assert "not applied" in r.message and "propose it again" in r.message
    assert state_of(factory, pid) == "failed"
    [row] = audit_events(factory, "proposal.failed")
    assert (row["actor"], row["subject"], row["payload"]["reconciled"]) == (RECONCILER.key, f"proposal/{pid}", True)
    observed = row["payload"]["result"]["observed"]
    assert observed["ok"] is False and observed["details"]["applied"] is False, observed
    assert row["payload"]["result"]["verify"] is None
    # Nothing written to the cluster, before or by the reconciler; no undo for a change never made.
    assert real_writes(fake) == [] and snapshot(fake) == before and ex.executed == []
    assert undos_of(factory, pid) == []
    # Settled: the next sweep finds nothing.
    assert await sweep(factory, ex) == []
    chain_ok(factory)


@pytest.mark.parametrize("action", sorted(CASES))
async def test_crash_after_the_write_is_reconciled_as_succeeded(env, action):
    factory, fake, ex = env
    proposal, undo = CASES[action]
    pid = await crash(factory, fake, ex, proposal, after_write=True)
    writes, before = real_writes(fake), snapshot(fake)

    [r] = await sweep(factory, ex)
    assert (r.proposal_id, r.outcome) == (pid, "succeeded"), r.message
    assert "the executing process stopped; applied" in r.message
    assert state_of(factory, pid) == "succeeded"
    [row] = audit_events(factory, "proposal.succeeded")
    assert (row["actor"], row["subject"], row["payload"]["reconciled"]) == (RECONCILER.key, f"proposal/{pid}", True)
    result = row["payload"]["result"]
    assert result["observed"]["details"]["applied"] is True and result["verify"]["ok"] is True, result
    # The one write is the crashed execution's; the reconciler only read (and dry-ran the undo).
    assert real_writes(fake) == writes and snapshot(fake) == before and ex.executed == []
    undos = undos_of(factory, pid)
    assert [u.action_type for u in undos] == ([undo] if undo else [])
    if undo:
        assert r.undo is not None and r.undo.offerable and r.undo.proposal_id == undos[0].id, r.undo
        assert count_events(factory, "proposal.created") == 2
    assert await sweep(factory, ex) == []
    chain_ok(factory)


async def test_undo_offered_after_reconciliation_restores_the_state(env):
    """The undo is built from the request alone, as the executor builds it: approving it works."""
    factory, fake, ex = env
    pid = await crash(factory, fake, ex, CASES["rollback_deployment"][0], after_write=True)

    def image() -> str:
        dep = fake.store.get(resource_for_kind("Deployment"), NS, "cart")
        return dep["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image() == "registry.local/cart:1.2"
    [r] = await sweep(factory, ex)
    assert r.undo.action_text == "roll back deployment shop/cart from revision 4 to revision 3", r.undo.action_text
    done = await click(factory, ex.real, r.undo.proposal_id, r.undo.token, LEAD, "approve", policy=policy(),
                       signer=SIGNER, now=LATER)
    assert done.status == "executed", done.message
    assert image() == "registry.local/cart:1.3" and state_of(factory, pid) == "succeeded"


async def test_a_young_executing_proposal_is_left_alone(env):
    factory, fake, ex = env
    pid = await crash(factory, fake, ex, CASES["scale_deployment"][0], after_write=True)
    asked, events = len(fake.requests), len(audit_events(factory))
    assert await sweep(factory, ex, now=NOW + timedelta(seconds=10)) == []
    assert state_of(factory, pid) == "executing"
    assert len(fake.requests) == asked and len(audit_events(factory)) == events
    [r] = await sweep(factory, ex, now=NOW + AGE)
    assert r.outcome == "succeeded"


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_api_leaves_it_executing_with_one_note_per_reason(env):
    factory, fake, ex = env
    pid = await crash(factory, fake, ex, CASES["scale_deployment"][0], after_write=True)
    offline = executor(fake)
    offline.api = make_api_client(f"http://127.0.0.1:{closed_port()}")

    for attempt in (1, 2):
        [r] = await sweep(factory, offline)
        assert r.outcome == "unknown" and "cannot reach Kubernetes API" in r.message, r.message
        assert state_of(factory, pid) == "executing"
        with factory() as s:
            note = s.get(RemediationProposal, pid).result["reconcile"]
        assert note["attempts"] == attempt and "cannot tell whether it was applied" in note["note"]
    [deferred] = audit_events(factory, DEFERRED)  # the same reason twice: one audit row
    assert deferred["actor"] == RECONCILER.key and deferred["payload"]["reconciled"] is False
    assert deferred["payload"]["observed"]["details"]["applied"] is None

    fake.fail("GET", "/deployments/cart$", 503)  # reachable, but answering errors: a new reason
    [r] = await sweep(factory, ex)
    assert r.outcome == "unknown" and "503" in r.message
    assert count_events(factory, DEFERRED) == 2 and state_of(factory, pid) == "executing"

    fake.clear_failures()
    [r] = await sweep(factory, ex)
    assert r.outcome == "succeeded" and state_of(factory, pid) == "succeeded"
    assert len(real_writes(fake)) == 1 and ex.executed == []
    chain_ok(factory)


def _reconcile_in_own_process(url: str, ex, barrier: threading.Barrier, results: list, errors: list) -> None:
    engine = make_engine(url)  # its own pool and connection, as another process would have
    try:
        barrier.wait(timeout=30)
        results.extend(asyncio.run(sweep(session_factory(engine), ex)))
    except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
        errors.append(exc)
    finally:
        engine.dispose()


class Together(NoExecute):
    """Both sweeps have found the proposal before either looks at the cluster, so both race to record."""

    def __init__(self, real, barrier: threading.Barrier):
        super().__init__(real)
        self.barrier = barrier

    async def observe(self, req, since):
        await asyncio.to_thread(self.barrier.wait, 30)
        return await self.real.observe(req, since)


async def test_two_concurrent_reconcilers_record_one_outcome(migrated, cluster):
    engine, factory = migrated
    ex = Together(executor(cluster), threading.Barrier(2))
    pid = await crash(factory, cluster, ex, CASES["scale_deployment"][0], after_write=True)
    url = engine.url.render_as_string(hide_password=False)
    barrier, results, errors = threading.Barrier(2), [], []
    threads = [threading.Thread(target=_reconcile_in_own_process, args=(url, ex, barrier, results, errors))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join, 60)
    assert not errors, errors
    assert sorted(r.outcome for r in results) == ["skipped", "succeeded"], results
    assert count_events(factory, "proposal.succeeded") == 1 and count_events(factory, "proposal.failed") == 0
    assert len(undos_of(factory, pid)) == 1  # the loser writes nothing, not even an undo
    assert len(real_writes(cluster)) == 1 and ex.executed == []
    chain_ok(factory)


async def test_a_late_execution_after_reconciliation_records_nothing(env):
    """A process that was only slow finishes after a sweep settled its proposal: the conditional
    update refuses its outcome, and it offers no second undo."""
    factory, fake, ex = env
    inc, diag = seed(factory)
    [view] = await propose(factory, ex.real, inc, diag, [CASES["scale_deployment"][0]], OPS, (NS,), policy=policy(),
                           signer=SIGNER, now=NOW)
    swept = []

    class Slow:
        def __getattr__(self, name):
            return getattr(ex.real, name)

        async def execute(self, req):
            done = await ex.real.execute(req)
            swept.extend(await sweep(factory, ex, older_than=timedelta(0)))
            return done

    r = await click(factory, Slow(), view.proposal_id, view.token, LEAD, "approve", policy=policy(), signer=SIGNER,
                    now=NOW)
    assert [s.outcome for s in swept] == ["succeeded"]
    assert r.view.state == "succeeded" and r.undo is None
    [row] = audit_events(factory, "proposal.succeeded")
    assert row["actor"] == RECONCILER.key
    assert len(undos_of(factory, view.proposal_id)) == 1 and len(real_writes(fake)) == 1


async def test_observe_pod_without_a_recorded_uid_says_so(cluster):
    ex = executor(cluster)
    req = ActionRequest("delete_pod", "cart-cart3hash-aaaaa", NS, {})
    seen = await ex.observe(req, NOW)
    assert seen.details["applied"] is None and "no uid was recorded" in seen.message, seen.message
    assert (await ex.execute(req)).ok
    seen = await ex.observe(ActionRequest("delete_pod", "cart-cart3hash-aaaaa", NS, {}), NOW)
    assert seen.ok and "is gone (no uid was recorded at the dry run)" in seen.message, seen.message


async def test_observe_restart_before_execution_began_is_not_applied(cluster):
    ex = executor(cluster)  # its clock says NOW: the restart stamps NOW
    req = ActionRequest("restart_deployment", "cart", NS, {})
    assert (await ex.execute(req)).ok
    assert (await ex.observe(req, NOW + timedelta(milliseconds=900))).ok  # same second: the stamp's precision
    late = await ex.observe(req, NOW + timedelta(seconds=1))
    assert late.details["applied"] is False and "before execution began" in late.message, late.message


async def test_observe_scale_changed_by_someone_else_is_not_applied(cluster):
    ex = executor(cluster)
    req = ActionRequest("scale_deployment", "cart", NS, {"replicas": 6, "from_replicas": 3})
    cluster.store.patch(resource_for_kind("Deployment"), NS, "cart", "application/merge-patch+json",
                        {"spec": {"replicas": 9}}, False)
    seen = await ex.observe(req, NOW)
    assert seen.details["applied"] is False and "neither the requested 6 nor the 3" in seen.message, seen.message
    assert seen.undo is None and real_writes(cluster) == []
