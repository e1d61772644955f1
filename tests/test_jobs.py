"""The durable job layer: enqueue in the caller's transaction, run once, retry, recover, periodic once.

Local runner (our jobs table) on SQLite and PostgreSQL; Procrastinate on PostgreSQL."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text, update

from bot.db import transaction
from bot.jobs.local import LocalJobs, LocalRunner, Periodic, aware
from bot.models import Incident, Job


def _incident(s) -> Incident:
    inc = Incident(source="command", status="open", labels={})
    s.add(inc)
    s.flush()
    return inc


def _jobs(factory, **where) -> list[Job]:
    with factory() as s:
        q = select(Job)
        for k, v in where.items():
            q = q.where(getattr(Job, k) == v)
        return s.execute(q.order_by(Job.id)).scalars().all()


async def test_job_commits_and_rolls_back_with_its_incident(migrated):
    _, factory = migrated
    jobs = LocalJobs()
    with pytest.raises(RuntimeError):
        with transaction(factory) as s:
            inc = _incident(s)
            jobs.enqueue(s, "diagnose", {"incident_id": inc.id})
            raise RuntimeError("the intake failed after enqueueing")
    assert _jobs(factory) == []
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0
    with transaction(factory) as s:
        inc = _incident(s)
        jobs.enqueue(s, "diagnose", {"incident_id": inc.id})
    [job] = _jobs(factory)
    assert (job.task, job.status, job.args["incident_id"]) == ("diagnose", "todo", inc.id)


async def test_runner_runs_each_job_once_with_bounded_concurrency(migrated):
    _, factory = migrated
    jobs = LocalJobs()
    seen: list[int] = []
    running = peak = 0

    async def handler(args):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        seen.append(args["n"])
        running -= 1

    runner = LocalRunner(factory, {"t": handler}, concurrency=3, poll=0.1, jobs=jobs)
    with transaction(factory) as s:
        for n in range(12):
            jobs.enqueue(s, "t", {"n": n})
    runner.start()
    await runner.idle(20)
    await runner.stop()
    assert sorted(seen) == list(range(12)) and peak == 3
    assert {j.status for j in _jobs(factory)} == {"succeeded"}


async def test_failing_job_is_retried_then_failed(migrated):
    _, factory = migrated
    jobs = LocalJobs(max_attempts=2)
    calls = []

    async def broken(args):
        calls.append(1)
        raise ValueError("backend exploded")

    runner = LocalRunner(factory, {"t": broken}, poll=0.05, jobs=jobs)
    with transaction(factory) as s:
        jobs.enqueue(s, "t", {})
    runner.start()
    await runner.idle(10)
    [job] = _jobs(factory)
    assert job.status == "todo" and job.attempts == 1 and aware(job.run_after) > datetime.now(timezone.utc)
    with transaction(factory) as s:  # skip the backoff
        s.execute(update(Job).values(run_after=datetime.now(timezone.utc) - timedelta(seconds=1)))
    runner.wake()
    await runner.idle(10)
    await runner.stop()
    [job] = _jobs(factory)
    assert (job.status, job.attempts, len(calls)) == ("failed", 2, 2) and "backend exploded" in job.error


async def test_job_of_a_dead_runner_is_taken_again(migrated):
    """A row left `doing` by a killed process (its heartbeat stops) runs again elsewhere."""
    _, factory = migrated
    jobs = LocalJobs()
    with transaction(factory) as s:
        jobs.enqueue(s, "t", {"n": 1})
    dead = LocalRunner(factory, {}, jobs=None)
    [(job_id, _, _)] = dead.claim(1)  # claimed, then the process "dies"
    done = []

    async def handler(args):
        done.append(args["n"])

    alive = LocalRunner(factory, {"t": handler}, poll=0.05, heartbeat=0.2, stale_after=0.5, jobs=jobs)
    alive.start()
    await asyncio.sleep(0.2)
    assert done == []  # still fresh: not stolen from a runner that may be alive
    with transaction(factory) as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            heartbeat_at=datetime.now(timezone.utc) - timedelta(seconds=5)))
    for _ in range(100):
        if done:
            break
        await asyncio.sleep(0.05)
    await alive.idle(10)
    await alive.stop()
    [job] = _jobs(factory)
    assert done == [1] and job.status == "succeeded" and job.attempts == 2 and job.locked_by == alive.owner


async def test_periodic_task_runs_once_per_period_across_runners(migrated):
    _, factory = migrated
    runs: list[int] = []

    async def tick(args):
        runs.append(args["period"])

    runners = [LocalRunner(factory, {"tick": tick}, poll=0.05, periodic=[Periodic("tick", 3600)]) for _ in range(3)]
    now = datetime.now(timezone.utc)
    made = await asyncio.gather(*(asyncio.to_thread(r.schedule_periodic, now) for r in runners))
    assert sum(len(m) for m in made) == 1  # three processes, one row for this period
    for r in runners:
        r.start()
    for _ in range(100):
        if runs:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    for r in runners:
        await r.stop()
    assert runs == [int(now.timestamp() // 3600)]


# ---- Procrastinate ---------------------------------------------------------------------------

@pytest.fixture
def pg_app(pg_url):
    from bot import migrate
    from bot.db import make_engine, session_factory
    from bot.jobs.pg import ProcrastinateJobs, make_app

    engine = make_engine(pg_url)
    migrate.upgrade(engine)
    app = make_app(pg_url)
    yield session_factory(engine), ProcrastinateJobs(app), app
    engine.dispose()


def _pg_jobs(factory) -> list[dict]:
    with factory() as s:
        return [dict(r._mapping) for r in s.execute(text("SELECT task_name, status, args FROM procrastinate_jobs"))]


async def test_procrastinate_job_is_deferred_in_our_transaction(pg_app):
    factory, jobs, _ = pg_app
    with pytest.raises(RuntimeError):
        with transaction(factory) as s:
            jobs.enqueue(s, "diagnose", {"incident_id": _incident(s).id})
            raise RuntimeError("rolled back")
    assert _pg_jobs(factory) == []
    with transaction(factory) as s:
        inc = _incident(s)
        jobs.enqueue(s, "diagnose", {"incident_id": inc.id})
    assert _pg_jobs(factory) == [{"task_name": "diagnose", "status": "todo", "args": {"incident_id": inc.id}}]


async def test_procrastinate_worker_runs_our_handlers(pg_app):
    from bot.jobs.pg import QUEUE, register

    factory, jobs, app = pg_app
    seen = []

    async def handler(args):
        seen.append(args["n"])

    register(app, {"t": handler}, {})
    with transaction(factory) as s:
        for n in range(3):
            jobs.enqueue(s, "t", {"n": n})
    async with app.open_async():
        await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False, concurrency=2)
    assert sorted(seen) == [0, 1, 2]
    assert {j["status"] for j in _pg_jobs(factory)} == {"succeeded"}


async def test_queue_depth_for_metrics_on_both_backends(migrated, request):
    from bot.jobs.local import queue_depth

    _, factory = migrated
    jobs = LocalJobs()
    with transaction(factory) as s:
        jobs.enqueue(s, "t", {})
        jobs.enqueue(s, "t", {})
    with transaction(factory) as s:
        s.execute(update(Job).values(created_at=datetime.now(timezone.utc) - timedelta(seconds=30)))
    n, age = queue_depth(factory)
    assert n == 2 and 29 <= age < 120


async def test_procrastinate_queue_depth(pg_app):
    from bot.jobs.pg import queue_depth

    factory, jobs, _ = pg_app
    assert queue_depth(factory) == (0, 0.0)
    with transaction(factory) as s:
        for _ in range(3):
            jobs.enqueue(s, "t", {})
    n, age = queue_depth(factory)
    assert n == 3 and 0 <= age < 60
