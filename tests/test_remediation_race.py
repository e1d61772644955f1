"""50 simultaneous approve clicks, each from its own engine and connection (as separate web
processes would be), execute a proposal exactly once; the audit chain stays consistent."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from bot import audit, migrate
from bot.db import make_engine, session_factory
from bot.models import Approval
from bot.remediation import Identity, click, propose
from tests.actions_support import NS, executor, objects
from tests.remediation_support import SIGNER, Controller, count_events, policy, real_writes, seed
from tools.k8s import FakeKubeAPI

CLICKS = 50


def _race(url: str, critical: bool) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    factory = session_factory(engine)
    pol = policy(critical=["slack-group:SOPS"]) if critical else policy()
    with FakeKubeAPI(objects()) as fake, Controller(fake):
        ex = executor(fake)
        inc, diag = seed(factory)
        [view] = asyncio.run(propose(factory, ex, inc, diag, [{"action_type": "scale_deployment", "target": "cart",
                                                               "namespace": NS, "parameters": {"replicas": 4}}],
                                     Identity("slack", "UREQ"), (NS,), {NS: "CRITICAL"} if critical else None,
                                     policy=pol, signer=SIGNER))
        assert view.offerable and view.risk == ("CRITICAL" if critical else "MEDIUM")
        barrier = threading.Barrier(CLICKS)
        results: list = [None] * CLICKS
        errors: list[BaseException] = []

        def one(i: int) -> None:
            own = make_engine(url)  # its own pool and connection: nothing shared but the database
            try:
                who = Identity("slack", f"U{i:03d}", frozenset({"SOPS"}))
                barrier.wait(timeout=30)
                results[i] = asyncio.run(click(session_factory(own), ex, view.proposal_id, view.token, who,
                                               "approve", policy=pol, signer=SIGNER))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                own.dispose()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(CLICKS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors[:3]
        writes = real_writes(fake)

    statuses = Counter(r.status for r in results)
    needed = 2 if critical else 1
    assert sum(r.executed for r in results) == 1, statuses
    assert statuses["executed"] == 1 and statuses["recorded"] == needed - 1
    assert statuses["already_decided"] == CLICKS - needed, statuses
    assert len(writes) == 1 and writes[0]["path"].endswith("/deployments/cart/scale")
    assert count_events(factory, "proposal.executing") == 1
    assert count_events(factory, "proposal.approved") == 1
    assert count_events(factory, "proposal.succeeded") == 1
    assert count_events(factory, "approval.recorded") == needed
    assert count_events(factory, "token.rejected") == CLICKS - needed
    with factory() as s:
        assert s.execute(select(func.count()).select_from(Approval)).scalar_one() == needed
        result = audit.verify(s)
    # created + (needed recorded) + approved + executing + succeeded + undo created + late clicks
    assert result.ok and result.count == 1 + needed + 3 + 1 + (CLICKS - needed), result
    engine.dispose()


@pytest.mark.parametrize("critical", [False, True], ids=["medium", "critical"])
def test_concurrent_clicks_execute_once_postgresql(pg_url, critical):
    _race(pg_url, critical)


@pytest.mark.parametrize("critical", [False, True], ids=["medium", "critical"])
def test_concurrent_clicks_execute_once_sqlite(tmp_path, critical):
    _race(f"sqlite:///{tmp_path / 'race.db'}", critical)
