"""k8s_jobs: Jobs and CronJobs with outcome, counts, failure conditions and schedule history."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.base import ToolResult
from tools.k8s.client import Kube
from tools.k8s.compact import ago, conditions, images, owner, parse_time, prune
from tools.k8s.template_diff import template_changes
from tools.textclip import clip_middle

RECENT_JOBS = 5


async def read_jobs(kube: Kube, now: datetime, namespace: str, name: str | None = None) -> ToolResult:
    jobs = (await kube.json(f"/apis/batch/v1/namespaces/{namespace}/jobs", kube.batch.list_namespaced_job,
                            namespace=namespace)).get("items") or []
    crons = (await kube.json(f"/apis/batch/v1/namespaces/{namespace}/cronjobs",
                             kube.batch.list_namespaced_cron_job, namespace=namespace)).get("items") or []
    job_views = [job_view(j, now) for j in jobs]
    if name:
        # A name may be a Job or a CronJob; a CronJob brings its Jobs along.
        job_views = [j for j in job_views if j["name"] == name or j.get("owner") == f"CronJob/{name}"]
        crons = [c for c in crons if (c.get("metadata") or {}).get("name") == name]
    if not job_views and not crons:
        what = f"job or cronjob named {name!r}" if name else "jobs or cronjobs"
        return ToolResult(status="no_data", summary=f"no {what} in namespace {namespace}")
    job_views.sort(key=lambda j: _ts(j.get("start")), reverse=True)
    cron_views = [cronjob_view(c, job_views, now) for c in crons]
    raw = {(j.get("metadata") or {}).get("name"): j for j in jobs}
    for cv in cron_views:
        changes = changes_since_success(cv, job_views, raw)
        if changes:
            cv["changes_since_last_success"] = changes
    failed = [j for j in job_views if j.get("problems")]
    summary = f"{len(job_views)} job(s), {len(cron_views)} cronjob(s) in {namespace}; {len(failed)} job(s) with problems"
    if failed:
        summary += ": " + "; ".join(f"{j['name']} ({', '.join(j['problems'])})" for j in failed[:4])
    bad_crons = [c for c in cron_views if c.get("problems")]
    if bad_crons:
        summary += "; cronjobs: " + "; ".join(f"{c['name']} ({', '.join(c['problems'])})" for c in bad_crons[:3])
    data = {"namespace": namespace, "jobs": job_views, "cronjobs": cron_views}
    return ToolResult(status="ok", data=data, summary=summary)


def job_view(job: dict[str, Any], now: datetime) -> dict[str, Any]:
    meta, spec, status = job.get("metadata") or {}, job.get("spec") or {}, job.get("status") or {}
    conds = conditions(status.get("conditions"), {"Failed": "False", "FailureTarget": "False", "Suspended": "False"})
    outcome = "Running"
    for c in status.get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
            outcome = c["type"]
    failed_cond = next((c for c in status.get("conditions") or []
                        if c.get("type") == "Failed" and c.get("status") == "True"), None)
    limit = spec.get("backoffLimit", 6)
    if outcome == "Running" and not status.get("active") and int(status.get("failed") or 0) > int(limit):
        # No condition read (yet), but more pods failed than the backoff limit allows and none runs:
        # the job controller's own rule for a failed Job.
        outcome = "Failed"
        failed_cond = {"reason": "BackoffLimitExceeded",
                       "message": f"{status['failed']} pods failed, more than backoffLimit {limit}"}
    view = prune({
        "name": meta.get("name"),
        "owner": owner(meta),
        "status": outcome,
        "failure_reason": (failed_cond or {}).get("reason"),
        "active": status.get("active", 0),
        "succeeded": status.get("succeeded", 0),
        "failed": status.get("failed", 0),
        "completions": spec.get("completions"),
        "parallelism": spec.get("parallelism"),
        "backoff_limit": spec.get("backoffLimit"),
        "start": status.get("startTime"),
        "completion": status.get("completionTime"),
        "age": ago(status.get("startTime") or meta.get("creationTimestamp"), now),
        "images": images((spec.get("template") or {}).get("spec")),
        "command": _command((spec.get("template") or {}).get("spec")),
        "conditions": conds,
    })
    problems = []
    if failed_cond:
        problems.append(f"Failed ({failed_cond.get('reason') or 'unknown reason'})")
    elif status.get("failed"):
        problems.append(f"{status['failed']} failed pod(s)")
    view["problems"] = problems
    return view


def changes_since_success(cron: dict[str, Any], job_views: list[dict[str, Any]],
                          raw: dict[str, dict[str, Any]]) -> list[str]:
    """When the CronJob's newest Job failed: how its pod template differs from the newest one that
    succeeded (a mistyped command, a changed env value), read from the Jobs themselves."""
    children = [j for j in job_views if j.get("owner") == f"CronJob/{cron['name']}"]
    if not children or children[0]["status"] != "Failed":
        return []
    good = next((j for j in children if j["status"] == "Complete"), None)
    if good is None:
        return []
    tpl = lambda name: ((raw.get(name) or {}).get("spec") or {}).get("template")  # noqa: E731
    return [f"{c} (last success {good['name']})" for c in template_changes(tpl(good["name"]), tpl(children[0]["name"]))]


def cronjob_view(cron: dict[str, Any], job_views: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    meta, spec, status = cron.get("metadata") or {}, cron.get("spec") or {}, cron.get("status") or {}
    name = meta.get("name")
    children = [j for j in job_views if j.get("owner") == f"CronJob/{name}"]
    view = prune({
        "name": name,
        "schedule": spec.get("schedule"),
        "time_zone": spec.get("timeZone"),
        "suspended": spec.get("suspend"),
        "concurrency": spec.get("concurrencyPolicy"),
        "last_schedule": status.get("lastScheduleTime"),
        "last_schedule_age": ago(status.get("lastScheduleTime"), now),
        "last_successful": status.get("lastSuccessfulTime"),
        "active": [a.get("name") for a in status.get("active") or []],
        "recent_jobs": [{"name": j["name"], "status": j["status"], "start": j.get("start")}
                        for j in children[:RECENT_JOBS]],
    })
    problems = []
    if spec.get("suspend"):
        problems.append("suspended")
    if children and children[0]["status"] == "Failed":
        problems.append(f"last job {children[0]['name']} failed")
    last_ok, last_run = parse_time(status.get("lastSuccessfulTime")), parse_time(status.get("lastScheduleTime"))
    if last_run and (last_ok is None or last_ok < last_run) and not status.get("active"):
        problems.append("last scheduled run did not succeed")
    view["problems"] = list(dict.fromkeys(problems))
    return view


def _command(pod_spec: dict[str, Any] | None) -> str | None:
    """The first container's command and arguments, as a shell would read them."""
    ctrs = (pod_spec or {}).get("containers") or []
    words = [str(w) for w in (ctrs[0].get("command") or []) + (ctrs[0].get("args") or [])] if ctrs else []
    return clip_middle(" ".join(words), 300) if words else None


def _ts(value: Any) -> float:
    ts = parse_time(value)
    return ts.timestamp() if ts else 0.0
