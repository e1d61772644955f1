"""Durable jobs on PostgreSQL with Procrastinate: `chatops worker` processes, any number of them.

Enqueueing goes through Procrastinate's own job manager, but on the caller's database connection:
the job row commits or rolls back with the incident it is about (no dual write). Workers run the
same handlers as the in-process runner. Periodic tasks use Procrastinate's periodic deferrer, whose
per-period unique row makes each period run once across every worker. A worker killed mid-job
stops heartbeating; the reconcile sweep asks Procrastinate for stalled jobs and retries them.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
QUEUE = "chatops"
Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def conninfo(database_url: str) -> str:
    """libpq conninfo from a SQLAlchemy URL (postgresql+psycopg://… → postgresql://…)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(database_url: str):  # noqa: ANN201 (procrastinate.App)
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))


class ProcrastinateJobs:
    """The enqueue side, usable from the web process without opening Procrastinate's own pool."""

    name = "procrastinate"

    def __init__(self, app: Any, max_attempts: int = 3, stalled_seconds: float = 30.0):
        self.app = app
        self.max_attempts = max_attempts
        self.stalled_seconds = stalled_seconds

    async def retry_stalled(self) -> list[int]:
        return await retry_stalled(self.app, self.stalled_seconds)

    def enqueue(self, s: Session, task: str, args: dict[str, Any], *, key: str | None = None,
                run_after: Any = None) -> None:
        from procrastinate import jobs

        job = jobs.Job(id=None, queue=QUEUE, lock=None, queueing_lock=None, task_name=task, task_kwargs=args,
                       scheduled_at=run_after)
        raw = s.connection().connection.driver_connection  # psycopg.Connection inside our transaction
        self.app.job_manager.batch_defer_jobs([job], connection=raw)

    def committed(self) -> None:  # workers hear about new jobs through LISTEN/NOTIFY
        pass


def register(app: Any, handlers: dict[str, Handler], periodic: dict[str, float], max_attempts: int = 3) -> None:
    """Bind the handlers (and the periodic ones, on their cron) to the Procrastinate app."""
    from procrastinate import RetryStrategy

    for name, handler in handlers.items():
        if name in periodic:
            continue

        def bind(h: Handler):  # noqa: ANN202
            async def run(**kwargs: Any) -> None:
                await h(kwargs)
            return run

        app.task(name=name, queue=QUEUE, retry=RetryStrategy(max_attempts=max_attempts - 1, wait=2),
                 pass_context=False)(bind(handlers[name]))
    for name, seconds in periodic.items():
        cron = _cron(seconds)

        def bind_periodic(h: Handler, every: float):  # noqa: ANN202
            async def run(timestamp: int) -> None:
                await h({"period": int(timestamp // every), "seconds": every, "timestamp": timestamp})
            return run

        task = app.task(name=name, queue=QUEUE, pass_context=False)(bind_periodic(handlers[name], seconds))
        app.periodic(cron=cron, periodic_id=name)(task)


def _cron(seconds: float) -> str:
    """A cron line firing every `seconds` (whole seconds under a minute, whole minutes above)."""
    s = max(1, int(seconds))
    if s < 60:
        return f"* * * * * */{s}"
    minutes = max(1, s // 60)
    return f"*/{minutes} * * * *" if minutes < 60 else f"0 */{max(1, minutes // 60)} * * *"


async def retry_stalled(app: Any, seconds_since_heartbeat: float) -> list[int]:
    """Jobs whose worker stopped heartbeating (killed) go back to the queue."""
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        log.warning("job %s (%s) was abandoned by a dead worker; retrying", job.id, job.task_name)
        await app.job_manager.retry_job(job)
    await app.job_manager.prune_stalled_workers(seconds_since_heartbeat)
    return [j.id for j in stalled if j.id is not None]


def queue_depth(factory: Any) -> tuple[int, float]:
    """(jobs waiting, age in seconds of the oldest) from Procrastinate's tables, for metrics."""
    from sqlalchemy import text

    with factory() as s:
        n, age = s.execute(text(
            "SELECT count(*), extract(epoch FROM now() - min(e.at)) FROM procrastinate_jobs j "
            "LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred' "
            "WHERE j.status = 'todo'")).one()
    return int(n or 0), float(age or 0.0)
