"""KubeJobFailed for the nightly export CronJob; only Kubernetes objects and pod logs to go on.

Someone edited the export script in its ConfigMap yesterday afternoon and wrote `else if` instead of
`elif`: dash parses the if-block to the end of the file and stops with "Syntax error: end of file
unexpected (expecting "fi")", exit code 2, on every attempt. Yesterday's run (old script) succeeded.
Trap: report-viewer, in the same namespace, rolled out an image tag that does not exist 25 minutes
ago and has a pod in ImagePullBackOff; it has nothing to do with the export.
"""
from kit import Bundle, Done, Ended, Running, Waiting, ctr, env, image_pull_events, kp_alert, ksm_target

NS = "reporting"
SCRIPT = """#!/bin/sh
set -e
DAY=${EXPORT_DAY:-$(date -u -d yesterday +%F)}
OUT=/tmp/daily-revenue-$DAY.csv.gz
echo "export.sh: starting nightly export for $DAY"

psql "$REPORTS_DSN" -v ON_ERROR_STOP=1 -qAt \\
  -c "\\copy (SELECT * FROM daily_revenue WHERE day = '$DAY') TO STDOUT CSV HEADER" | gzip > "$OUT"

if [ -s "$OUT" ]; then
  aws s3 cp --only-show-errors "$OUT" "s3://acme-reports-exports/daily/$DAY.csv.gz"
  echo "export.sh: uploaded $(stat -c %s "$OUT") bytes for $DAY"
else if [ "$ALLOW_EMPTY" = "true" ]; then
  echo "export.sh: nothing to export for $DAY (allowed)"
else
  echo "export.sh: empty export for $DAY" >&2
  exit 1
fi
"""


EXPECTED = {"category": "config_error", "component": "nightly-export", "action": "none", "rationale": (
    "every attempt of tonight's nightly-export Job exits 2 with dash's 'Syntax error: end of file unexpected "
    "(expecting \"fi\")': the export.sh in ConfigMap export-scripts (edited yesterday) uses `else if` where it "
    "needs `elif`; yesterday's run with the old script succeeded. Fix the script; restarts or rollbacks cannot "
    "help. report-viewer's ImagePullBackOff (tag 2.14.0 missing) is an unrelated neighbour. Sources: "
    "kube-prometheus KubeJobFailed rule (prometheus-operator/kube-prometheus manifests/"
    "kubernetesControlPlane-prometheusRule.yaml) and its exporter-target labels (AndreiGavriliu/homelab#4714); "
    "the dash error text as reported in prodrigestivill/docker-postgres-backup-local#7 ('Syntax error: end of "
    "file unexpected (expecting \"fi\")' caused by 'else if'); containerd's NotFound pull error.")}


def build() -> Bundle:
    b = Bundle("reports-export-job-failed", "KubeJobFailed in reporting", "2026-11-03T01:52:00Z", EXPECTED)
    n1, n2, n3 = b.nodes(["ip-10-40-1-23.eu-west-1.compute.internal", "ip-10-40-2-141.eu-west-1.compute.internal",
                          "ip-10-40-3-77.eu-west-1.compute.internal"], ["10.40.1.23", "10.40.2.141", "10.40.3.77"],
                         ["eu-west-1a", "eu-west-1b", "eu-west-1c"])

    b.configmap(NS, "export-scripts", {"export.sh": SCRIPT}, created=9 * 60 + 12)
    runner = ctr("export", "registry.acme.io/reporting/export-runner:3.2.0", cpu="100m", mem="256Mi",
                 mem_limit="512Mi", command=["/bin/sh", "/scripts/export.sh"],
                 env=env(ALLOW_EMPTY="false") + [{"name": "REPORTS_DSN", "valueFrom": {"secretKeyRef": {
                     "name": "reports-db", "key": "dsn"}}}],
                 volumeMounts=[{"name": "scripts", "mountPath": "/scripts"}])
    volumes = [{"name": "scripts", "configMap": {"name": "export-scripts", "defaultMode": 0o755}}]
    b.cronjob(NS, "nightly-export", [runner], schedule="30 1 * * *", last_schedule=22,
                     last_success=24 * 60 + 20, created=140 * 1440, volumes=volumes)

    # Yesterday's run, with the script as it was then, succeeded.
    prev = b.cron_job_name("nightly-export", 24 * 60 + 22)
    pj = b.job(NS, prev, [runner], started=24 * 60 + 22, cron="nightly-export", succeeded=1, ended=24 * 60 + 20.6,
               volumes=volumes)
    p0 = b.pod(pj, n2, Done(Ended(0, "Completed", 24 * 60 + 21.9, 24 * 60 + 20.7)), created=24 * 60 + 22)
    b.kubectl_logs(p0, "export.sh: starting nightly export for 2026-11-01\n"
                       "export.sh: uploaded 48213 bytes for 2026-11-01")

    # Tonight's run: three attempts (backoffLimit 2), each exits 2 at parse time.
    name = b.cron_job_name("nightly-export", 22)
    job = b.job(NS, name, [runner], started=22, cron="nightly-export", failed=3, ended=20.4, volumes=volumes)
    lines = SCRIPT.rstrip("\n").count("\n") + 1
    failure = (f"export.sh: starting nightly export for 2026-11-02\n"
               f'/scripts/export.sh: {lines}: Syntax error: end of file unexpected (expecting "fi")')
    for start, node in ((22, n1), (21.7, n3), (21.1, n1)):
        p = b.pod(job, node, Done(Ended(2, "Error", start - 0.05, start - 0.08)), created=start)
        b.kubectl_logs(p, failure)
        b.event(NS, ("Pod", p), "Scheduled", f"Successfully assigned {NS}/{p} to {node}", first=start,
                source="default-scheduler")
        b.event(NS, ("Pod", p), "Pulled", 'Container image "registry.acme.io/reporting/export-runner:3.2.0" '
                "already present on machine", first=start - 0.02, host=node)
        b.event(NS, ("Pod", p), "Created", "Created container export", first=start - 0.03, host=node)
        b.event(NS, ("Pod", p), "Started", "Started container export", first=start - 0.04, host=node)
        b.event(NS, ("Job", name), "SuccessfulCreate", f"Created pod: {p}", first=start, source="job-controller")
    b.event(NS, ("CronJob", "nightly-export"), "SuccessfulCreate", f"Created job {name}", first=22,
            source="cronjob-controller")
    b.event(NS, ("Job", name), "BackoffLimitExceeded", "Job has reached the specified backoff limit", first=20.4,
            type="Warning", source="job-controller")
    b.event(NS, ("CronJob", "nightly-export"), "SawCompletedJob", f"Saw completed job: {name}, status: Failed",
            first=20.4, source="cronjob-controller")

    # Healthy API, and the neighbour whose new image tag does not exist.
    api = b.deployment(NS, "report-api", [ctr("report-api", "registry.acme.io/reporting/report-api:5.8.1",
                                              cpu="250m", mem="512Mi", mem_limit="1Gi", ports=[{"containerPort": 8080}])],
                       replicas=2, revisions=[(12 * 1440, None, None)])
    for node in (n1, n2):
        b.pod(api, node, Running(12 * 1440 - 1), created=12 * 1440)
    old = [ctr("report-viewer", "registry.acme.io/reporting/report-viewer:2.13.4", cpu="100m", mem="128Mi",
               mem_limit="256Mi", ports=[{"containerPort": 3000}])]
    new_image = "registry.acme.io/reporting/report-viewer:2.14.0"
    viewer = b.deployment(NS, "report-viewer", [ctr("report-viewer", new_image, cpu="100m", mem="128Mi",
                                                    mem_limit="256Mi", ports=[{"containerPort": 3000}])],
                          replicas=3, ready=3, revisions=[(30 * 1440, old, None), (25, None, None)], rs_replicas=[3, 1])
    for node in (n1, n2, n3):
        b.pod(viewer, node, Running(30 * 1440 - 2), created=30 * 1440, containers=old,
              owner=("ReplicaSet", viewer.replicasets[0]))
    bad = b.pod(viewer, n2, Waiting("ImagePullBackOff", f'Back-off pulling image "{new_image}"'), created=25)
    image_pull_events(b, NS, bad, new_image, n2, first=25, count=7)
    b.event(NS, ("Deployment", "report-viewer"), "ScalingReplicaSet",
            f"Scaled up replica set {viewer.owner[1]} to 1", first=25, source="deployment-controller")
    b.service(NS, "report-api", {"app": "report-api"}, [("http", 80, 8080)], "10.100.41.12")
    b.service(NS, "report-viewer", {"app": "report-viewer"}, [("http", 80, 3000)], "10.100.41.87")

    b.alert = kp_alert(b, {"alertname": "KubeJobFailed", "condition": "true", "job_name": name, "namespace": NS,
                           "severity": "warning", **ksm_target(b, "prod-eu1")}, started=5.4)
    return b
