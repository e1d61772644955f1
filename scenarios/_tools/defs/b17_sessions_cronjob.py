"""session-cleanup, a CronJob created yesterday afternoon, ran for the first time at 03:00: its
REDIS_ADDR points at redis.cache.svc.cluster.local, a name that does not exist (Redis is the
`redis` Service in `sessions`). Each pod fails in a second with "no such host"; the Job hit its
backoff limit. session-api, using the right name, is fine. No metrics in this bundle.

Noise: session-metrics-rollup CronJob succeeds every 15 minutes; session-api logs an occasional
slow Redis command.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import logstyles as ls
from common import all_pods, eks_nodes, go_requests
from world import World, container_spec, mins, rfc3339, secs
from writer import Bundle, alert, kp_runbook

NOW = "2026-09-30T03:20:00Z"
DAY = 60 * 24
IMAGE = "registry.acme.io/sessions/session-tools:1.3.0"


def _job(w: World, cron: dict, scheduled: datetime, container: dict, *, ok: bool, backoff_limit: int) -> tuple[dict, list]:
    name = f"{cron['metadata']['name']}-{int(scheduled.timestamp() // 60)}"
    uid = w.rng.uid()
    labels = {"job-name": name, "batch.kubernetes.io/job-name": name, "controller-uid": uid}
    pods, t = [], scheduled + secs(1)
    for attempt in range(1 if ok else backoff_limit + 1):
        pod = w.new_pod(f"{name}-{w.rng.token(5)}", cron["metadata"]["namespace"], labels, t, [container],
                        owner={"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid, "controller": True,
                               "blockOwnerDeletion": True}, restart_policy="Never", workload=cron["metadata"]["name"])
        run = pod.containers[0].runs[0]
        run.end = run.start + (secs(9 + w.rng.random() * 5) if ok else secs(0.6 + w.rng.random() * 0.3))
        run.reason, run.exit_code = ("Completed", 0) if ok else ("Error", 1)
        pods.append(pod)
        t = run.end + secs(10 * 2 ** attempt + w.rng.randrange(1, 4))
    end = pods[-1].containers[0].runs[0].end
    status = {"startTime": rfc3339(scheduled + secs(1)), "uncountedTerminatedPods": {}}
    if ok:
        status.update(succeeded=1, completionTime=rfc3339(end), ready=0,
                      conditions=[{"type": "Complete", "status": "True", "lastProbeTime": rfc3339(end),
                                   "lastTransitionTime": rfc3339(end)}])
    else:
        status.update(failed=len(pods), ready=0, terminating=0, conditions=[
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastProbeTime": rfc3339(end),
             "lastTransitionTime": rfc3339(end)},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastProbeTime": rfc3339(end),
             "lastTransitionTime": rfc3339(end)}])
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": name, "namespace": cron["metadata"]["namespace"], "uid": uid, "resourceVersion": w.rv(),
                        "creationTimestamp": rfc3339(scheduled), "labels": labels,
                        "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": rfc3339(scheduled)},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cron["metadata"]["name"],
                                             "uid": cron["metadata"]["uid"], "controller": True,
                                             "blockOwnerDeletion": True}]},
           "spec": {"backoffLimit": backoff_limit, "completions": 1, "parallelism": 1,
                    "template": cron["spec"]["jobTemplate"]["spec"]["template"]},
           "status": status}
    w.objects.append(job)
    ref = w.ref_of("Job", job["metadata"]["namespace"], name, "batch/v1", uid)
    for p in pods:
        w.event(ref, "SuccessfulCreate", f"Created pod: {p.name}", first=p.created, component="job-controller")
    cref = w.ref_of("CronJob", cron["metadata"]["namespace"], cron["metadata"]["name"], "batch/v1", cron["metadata"]["uid"])
    w.event(cref, "SuccessfulCreate", f"Created job {name}", first=scheduled, component="cronjob-controller")
    if ok:
        w.event(ref, "Completed", "Job completed", first=end, component="job-controller")
        w.event(cref, "SawCompletedJob", f"Saw completed job: {name}, status: Complete", first=end + secs(1),
                component="cronjob-controller")
    else:
        w.event(ref, "BackoffLimitExceeded", "Job has reached the specified backoff limit", first=end, type="Warning",
                component="job-controller")
        w.event(cref, "SawCompletedJob", f"Saw completed job: {name}, status: Failed", first=end + secs(1),
                component="cronjob-controller")
    return job, pods


def _cronjob(w: World, name: str, schedule: str, container: dict, created: datetime, last: datetime,
             last_ok: datetime | None) -> dict:
    cron = {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "sessions", "uid": w.rng.uid(), "resourceVersion": w.rv(),
                         "generation": 1, "creationTimestamp": rfc3339(created), "labels": {"app": name}},
            "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid", "suspend": False,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                         "metadata": {"labels": {"app": name}},
                         "spec": {"restartPolicy": "Never", "containers": [container]}}}}},
            "status": {"lastScheduleTime": rfc3339(last)}}
    if last_ok:
        cron["status"]["lastSuccessfulTime"] = rfc3339(last_ok)
    w.objects.append(cron)
    return cron


def build() -> Bundle:
    w = World(NOW, seed=1717, cluster="prod-eu1")
    now = w.now
    eks_nodes(w, 3, subnet=48)
    run_at = datetime(2026, 9, 30, 3, 0, tzinfo=now.tzinfo)

    cleanup_c = container_spec("session-cleanup", IMAGE, port=None, cpu="50m", memory="64Mi", memory_limit="128Mi",
                               command=["/usr/local/bin/session-tools"], args=["cleanup", "--older-than=720h"],
                               env={"REDIS_ADDR": "redis.cache.svc.cluster.local:6379", "BATCH_SIZE": "500"})
    rollup_c = container_spec("rollup", IMAGE, port=None, cpu="50m", memory="64Mi", command=["/usr/local/bin/session-tools"],
                              args=["rollup", "--window=15m"], env={"REDIS_ADDR": "redis.sessions.svc.cluster.local:6379"})
    cleanup = _cronjob(w, "session-cleanup", "0 3 * * *", cleanup_c, now - timedelta(hours=11, minutes=15), run_at, None)
    _, bad_pods = _job(w, cleanup, run_at, cleanup_c, ok=False, backoff_limit=2)
    last_rollup = now - mins(5)
    rollup = _cronjob(w, "session-metrics-rollup", "*/15 * * * *", rollup_c, now - timedelta(days=64), last_rollup,
                      last_rollup + secs(14))
    for k in (2, 1, 0):
        _, pods = _job(w, rollup, last_rollup - mins(15 * k), rollup_c, ok=True, backoff_limit=2)
        for p in pods:
            r = p.containers[0].runs[0]
            w.log(p, r.start + secs(0.3), ls.logrus(r.start + secs(0.3), "info", "rollup started", window="15m"))
            w.log(p, r.end - secs(0.2), ls.logrus(r.end - secs(0.2), "info", "rollup done",
                                                  sessions=w.rng.randrange(30000, 90000), took=f"{(r.end - r.start).seconds}s"))
    for p in bad_pods:
        r = p.containers[0].runs[0]
        t = r.start + secs(0.1)
        w.log(p, t, ls.logrus(t, "info", "session-tools starting", cmd="cleanup", version="1.3.0"), stream="stderr")
        w.log(p, r.end - secs(0.05), ls.logrus(r.end - secs(0.05), "fatal", "cannot connect to redis",
                                               addr="redis.cache.svc.cluster.local:6379",
                                               err="dial tcp: lookup redis.cache.svc.cluster.local on 10.96.0.10:53: "
                                                   "no such host"), stream="stderr")

    api = w.deployment("session-api", "sessions", image="registry.acme.io/sessions/session-api",
                       history=[("2.4.1", now - mins(DAY * 14))], replicas=2,
                       container=container_spec("session-api", "x", cpu="200m", memory="128Mi",
                                                env={"REDIS_ADDR": "redis.sessions.svc.cluster.local:6379"}))
    redis = w.deployment("redis", "sessions", image="docker.io/library/redis",
                         history=[("7.2.5-alpine", now - mins(DAY * 88))], replicas=1,
                         container=container_spec("redis", "x", port=6379, cpu="100m", memory="512Mi", memory_limit="1Gi"))
    w.service("session-api", "sessions", 80, "http")
    w.service("redis", "sessions", 6379, 6379)
    for p in all_pods(api):
        w.chatter(p, (40, 120), go_requests("session-api", ["/v1/sessions/validate", "/v1/sessions"], style="logrus"))
        w.chatter(p, (900, 1800), lambda t, rng: (ls.logrus(t, "warning", "redis command slow", cmd="SCAN",
                                                            latency=f"{rng.randrange(120, 300)}ms"), "stderr"))
    for p in all_pods(redis):
        w.chatter(p, (300, 300), lambda t, rng: f"1:M {t.strftime('%d %b %Y %H:%M:%S')}.{rng.randrange(100, 999)} * "
                                                f"{rng.randrange(100, 900)} changes in 300 seconds. Saving...")

    job_name = f"session-cleanup-{int(run_at.timestamp() // 60)}"
    a = alert({"alertname": "KubeJobFailed", "severity": "warning", "namespace": "sessions", "job_name": job_name,
               "condition": "true", "job": "kube-state-metrics", "cluster": "prod-eu1"},
              "Job failed to complete.",
              f"Job sessions/{job_name} failed to complete. Removing failed job after investigation should clear this alert.",
              run_at + mins(6), 'kube_job_failed{job="kube-state-metrics"} > 0', kp_runbook("KubeJobFailed"))
    return Bundle(id="sessions-job-failed", title="KubeJobFailed in sessions", world=w, om=None, alert=a,
                  expected={"category": "config_error", "component": "session-cleanup", "action": "none",
                            "rationale": "the new CronJob's REDIS_ADDR names a Service that does not exist "
                                         "(redis.cache vs redis.sessions); DNS itself works for session-api. Fix the "
                                         "CronJob env."})
