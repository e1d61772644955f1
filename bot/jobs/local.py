"""Durable jobs on our own `jobs` table, run in-process (the embedded SQLite default).

A job row is written in the caller's transaction (with the incident it is about), so a crash can
lose neither. The runner claims rows with a conditional update (SQLite: BEGIN IMMEDIATE; PostgreSQL:
FOR UPDATE SKIP LOCKED), heartbeats while a handler runs, and on start and every sweep puts rows
whose heartbeat went stale (a killed process) back in the queue. Periodic tasks insert one row per
period under a unique key, so however many processes run the runner, each period runs once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.models import Job

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=timezone.utc) if ts is not None and ts.tzinfo is None else ts


class LocalJobs:
    """The enqueue side: call inside the transaction that records what the job is about."""

    name = "local"

    def __init__(self, max_attempts: int = 3):
        self.max_attempts = max_attempts
        self.listeners: list[Callable[[], None]] = []

    def enqueue(self, s: Session, task: str, args: dict[str, Any], *, key: str | None = None,
                run_after: datetime | None = None) -> None:
        s.add(Job(task=task, args=args, status="todo", attempts=0, max_attempts=self.max_attempts,
                  run_after=run_after or utcnow(), dedupe_key=key, created_at=utcnow()))
        s.flush()

    def committed(self) -> None:
        """After the enqueuing transaction commits: wake in-process runners at once instead of at their next poll."""
        for wake in self.listeners:
            wake()


@dataclass
class Periodic:
    name: str
    seconds: float


class LocalRunner:
    def __init__(self, factory: sessionmaker[Session], handlers: dict[str, Handler], *, concurrency: int = 4,
                 poll: float = 1.0, heartbeat: float = 5.0, stale_after: float = 30.0,
                 periodic: list[Periodic] | tuple[Periodic, ...] = (), jobs: LocalJobs | None = None):
        self.factory = factory
        self.handlers = handlers
        self.concurrency = max(1, concurrency)
        self.poll, self.heartbeat, self.stale_after = poll, heartbeat, stale_after
        self.periodic = list(periodic)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None
        self._stopping = False
        if jobs is not None:
            jobs.listeners.append(self.wake)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._stopping = False
            self._loop_task = asyncio.get_running_loop().create_task(self._main(), name="chatops-job-runner")

    def wake(self) -> None:
        try:
            self._wake.set()
        except RuntimeError:  # no loop yet: the first poll picks the job up
            pass

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; wait up to `grace` for running jobs, then abandon them (their heartbeat goes
        stale and another runner, or this one after a restart, takes them again)."""
        self._stopping = True
        self.wake()
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        for t in list(self._running):
            t.cancel()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    async def idle(self, timeout: float | None = None) -> None:
        """Until nothing is running and no job is due (tests, console scripts, shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self._running and not await asyncio.to_thread(self._due_count):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise asyncio.TimeoutError(f"jobs still pending after {timeout}s")
            self.start()
            self.wake()
            await asyncio.sleep(0.05)

    # ---- the loop -------------------------------------------------------------------------
    async def _main(self) -> None:
        await asyncio.to_thread(self.recover_stale)
        last_sweep = time.monotonic()
        while not self._stopping:
            self._wake.clear()
            try:
                if time.monotonic() - last_sweep >= max(self.heartbeat, 1.0):
                    await asyncio.to_thread(self.recover_stale)
                    last_sweep = time.monotonic()
                if self.periodic:
                    await asyncio.to_thread(self.schedule_periodic)
                free = self.concurrency - len(self._running)
                claimed = await asyncio.to_thread(self.claim, free) if free > 0 else []
                for job_id, task, args in claimed:
                    t = asyncio.get_running_loop().create_task(self._run(job_id, task, args))
                    self._running.add(t)
                    t.add_done_callback(self._done)
            except Exception:  # the database is down: keep trying, never die
                log.warning("job runner could not reach the database; retrying", exc_info=True)
                await asyncio.sleep(self.poll)
                continue
            if claimed and len(self._running) < self.concurrency:
                continue  # there may be more ready right now
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except asyncio.TimeoutError:
                pass

    def _done(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self.wake()

    async def _run(self, job_id: int, task: str, args: dict[str, Any]) -> None:
        beat = asyncio.get_running_loop().create_task(self._heartbeat(job_id))
        error: str | None = None
        try:
            handler = self.handlers.get(task)
            if handler is None:
                raise LookupError(f"no handler for job task {task!r}")
            await handler(args)
        except asyncio.CancelledError:
            beat.cancel()
            raise  # shutting down: the row stays `doing` and is recovered once its heartbeat is stale
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:4000]
            log.warning("job %s (%s) failed: %s", job_id, task, error, exc_info=exc)
        finally:
            beat.cancel()
        await asyncio.to_thread(self.finish, job_id, error)

    async def _heartbeat(self, job_id: int) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await asyncio.to_thread(self._beat, job_id)
            except Exception:
                log.debug("heartbeat of job %s failed", job_id, exc_info=True)

    # ---- database steps (run in threads) --------------------------------------------------
    def claim(self, n: int) -> list[tuple[int, str, dict[str, Any]]]:
        now = utcnow()
        with transaction(self.factory) as s:
            q = (select(Job).where(Job.status == "todo", Job.run_after <= now).order_by(Job.id).limit(n))
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = s.execute(q).scalars().all()
            for r in rows:
                r.status, r.locked_by, r.heartbeat_at, r.started_at = "doing", self.owner, now, now
                r.attempts += 1
            return [(r.id, r.task, dict(r.args or {})) for r in rows]

    def _beat(self, job_id: int) -> None:
        with transaction(self.factory) as s:
            s.execute(update(Job).where(Job.id == job_id, Job.locked_by == self.owner, Job.status == "doing")
                      .values(heartbeat_at=utcnow()))

    def finish(self, job_id: int, error: str | None) -> None:
        now = utcnow()
        with transaction(self.factory) as s:
            row = s.get(Job, job_id)
            if row is None or row.locked_by != self.owner or row.status != "doing":
                return  # recovered by someone else meanwhile: their outcome stands
            row.finished_at, row.error = now, error
            if error is None:
                row.status = "succeeded"
            elif row.attempts < row.max_attempts:
                row.status, row.locked_by = "todo", None
                row.run_after = now + timedelta(seconds=min(60, 2 ** row.attempts))
            else:
                row.status = "failed"

    def recover_stale(self) -> list[int]:
        """Jobs whose runner stopped heartbeating (kill -9, lost host) go back to the queue."""
        limit = utcnow() - timedelta(seconds=self.stale_after)
        with transaction(self.factory) as s:
            rows = s.execute(select(Job).where(Job.status == "doing", Job.heartbeat_at < limit)).scalars().all()
            for r in rows:
                log.warning("job %s (%s) was abandoned by %s; queued again", r.id, r.task, r.locked_by)
                r.status, r.locked_by, r.run_after = ("todo" if r.attempts < r.max_attempts else "failed"), None, utcnow()
                if r.status == "failed":
                    r.error = f"abandoned by its runner {r.attempts} times"
            return [r.id for r in rows]

    def schedule_periodic(self, now: datetime | None = None) -> list[str]:
        """One row per task and period; the unique key makes every other process's insert fail."""
        now = now or utcnow()
        made = []
        for p in self.periodic:
            period = int(now.timestamp() // p.seconds)
            key = f"periodic:{p.name}:{period}"
            try:
                with transaction(self.factory) as s:
                    if s.execute(select(Job.id).where(Job.dedupe_key == key)).first() is not None:
                        continue
                    s.add(Job(task=p.name, args={"period": period, "seconds": p.seconds}, status="todo", attempts=0,
                              max_attempts=1, run_after=now, dedupe_key=key, created_at=now))
                made.append(key)
            except IntegrityError:
                continue  # another process scheduled this period first
        return made

    def _due_count(self) -> int:
        with self.factory() as s:
            return s.execute(select(func.count()).select_from(Job).where(
                Job.status.in_(("todo", "doing")), Job.run_after <= utcnow() + timedelta(seconds=1),
                Job.task.notin_([p.name for p in self.periodic]))).scalar_one()


def queue_depth(factory: sessionmaker[Session]) -> tuple[int, float]:
    """(jobs waiting, age in seconds of the oldest waiting job) for metrics."""
    with factory() as s:
        n, oldest = s.execute(select(func.count(), func.min(Job.created_at)).where(Job.status == "todo")).one()
    return int(n or 0), max(0.0, (utcnow() - aware(oldest)).total_seconds()) if oldest else 0.0
