"""Choosing the job backend from the settings, and the periodic schedule both backends run."""
from __future__ import annotations

from typing import Any

from bot.jobs.local import LocalJobs


def periodic_schedule(settings: Any) -> dict[str, float]:
    every = float(settings.periodic_seconds)
    schedule = {"expire": every, "reconcile": every, "age_incidents": every, "health": every,
                "audit_verify": float(settings.audit_verify_seconds), "outcomes": every}
    if settings.digest_slack_channels or settings.digest_teams_channels:
        schedule["digest"] = every  # each tick checks DIGEST_CRON itself (bot/digest/week.py says why)
    return schedule


def backend_name(settings: Any, dialect: str) -> str:
    if settings.job_backend == "auto":
        return "procrastinate" if dialect == "postgresql" else "local"
    return settings.job_backend


def jobs_from_settings(settings: Any, dialect: str) -> Any:
    """LocalJobs, or ProcrastinateJobs on the configured PostgreSQL database."""
    name = backend_name(settings, dialect)
    if name == "local":
        return LocalJobs()
    if dialect != "postgresql":
        raise ValueError("JOB_BACKEND=procrastinate needs a PostgreSQL DATABASE_URL")
    from bot.jobs.pg import ProcrastinateJobs, make_app

    return ProcrastinateJobs(make_app(settings.database_url.get_secret_value()),
                             stalled_seconds=settings.job_stalled_seconds)


def queue_probe(jobs: Any, factory: Any):  # noqa: ANN201
    """The metrics probe (jobs waiting, oldest age) for whichever backend `jobs` is."""
    if jobs.name == "local":
        from bot.jobs.local import queue_depth
    else:
        from bot.jobs.pg import queue_depth
    return lambda: queue_depth(factory)
