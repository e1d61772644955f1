"""Durable jobs: one interface, two backends.

`enqueue(session, task, args, key=)` is called inside the transaction that records what the job is
about. The embedded default (LocalJobs + LocalRunner, bot/jobs/local.py) runs jobs in-process on our
own `jobs` table; on PostgreSQL, Procrastinate (bot/jobs/pg.py) runs them in `chatops worker`
processes. Both run the same handlers (Workflow.job_handlers).
"""
from bot.jobs.local import LocalJobs, LocalRunner, Periodic

__all__ = ["LocalJobs", "LocalRunner", "Periodic"]
