"""KubeJobFailed posted to Slack for the invoice archive CronJob; logs and Kubernetes, no metrics.

Yesterday afternoon the CronJob's command was edited (to add --no-owner) and `pg_dump` became
`pg_dumpp`: busybox sh answers "/bin/sh: pg_dumpp: not found" and exits 127 on every attempt.
Yesterday's Job, still kept by successfulJobsHistoryLimit, shows the old command with `pg_dump`.
Traps: invoice-renderer was OOMKilled once two hours ago (recovered), billing-api logs the usual
warnings, and ledger-sync (another CronJob) succeeds every 15 minutes.
"""
from kit import Bundle, Done, Ended, Running, ctr, env

NS = "billing"
IMAGE = "registry.acme.io/billing/archive-tools:1.4.2"
NEW = ('set -e; F=/archive/invoices-$(date +%F).dump; pg_dumpp --format=custom --no-owner --file="$F" "$DATABASE_URL" '
       '&& aws s3 cp --only-show-errors "$F" s3://acme-billing-archive/ && echo "archive uploaded: $F"')
OLD = NEW.replace("pg_dumpp", "pg_dump").replace(" --no-owner", "")


def archiver(cmd: str) -> dict:
    return ctr("archive", IMAGE, cpu="200m", mem="256Mi", mem_limit="1Gi", command=["/bin/sh", "-c"], args=[cmd],
               env=[{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "billing-db-ro", "key": "url"}}}],
               volumeMounts=[{"name": "archive", "mountPath": "/archive"}])


EXPECTED = {"category": "config_error", "component": "invoice-archive", "action": "none", "rationale": (
    "all three attempts of the invoice-archive Job exit 127 with busybox's '/bin/sh: pg_dumpp: not found': the "
    "CronJob command (generation 2, edited yesterday) misspells pg_dump, which yesterday's successful Job still "
    "shows. Fix the command; nothing in the cluster is down. invoice-renderer's old OOM kill and ledger-sync are "
    "noise. Sources: KubeJobFailed rule text (prometheus-operator/kube-prometheus); exit code 127 for a command "
    "that is not found (kubernetesinterviewquestions.com/errors/containercannotrun); busybox 'not found' wording.")}


def build() -> Bundle:
    b = Bundle("billing-archive-cron-failed", "KubeJobFailed for invoice-archive (Slack)",
               "2026-11-04T02:20:00Z", EXPECTED)
    _, a3, a4 = b.nodes(["aks-system-31415926-vmss000000", "aks-apps-27182818-vmss000003",
                         "aks-apps-27182818-vmss000004"], ["10.224.0.4", "10.224.0.5", "10.224.0.6"],
                        ["westeurope-1", "westeurope-2", "westeurope-3"], instance_type="Standard_D8s_v5")
    vols = [{"name": "archive", "emptyDir": {"sizeLimit": "20Gi"}}]
    b.cronjob(NS, "invoice-archive", [archiver(NEW)], schedule="0 2 * * *", last_schedule=20, created=200 * 1440,
              last_success=1460, volumes=vols, generation=2)
    prev = b.job(NS, b.cron_job_name("invoice-archive", 1460), [archiver(OLD)], started=1460, cron="invoice-archive",
                 succeeded=1, ended=1453.5, volumes=vols)
    p = b.pod(prev, a3, Done(Ended(0, "Completed", 1459.9, 1453.6)), created=1460)
    b.kubectl_logs(p, "archive uploaded: /archive/invoices-2026-11-03.dump")
    b.log(p, 1453.6, "archive uploaded: /archive/invoices-2026-11-03.dump")

    name = b.cron_job_name("invoice-archive", 20)
    job = b.job(NS, name, [archiver(NEW)], started=20, cron="invoice-archive", failed=3, ended=19.3, volumes=vols)
    for start, node in ((20, a4), (19.8, a3), (19.45, a4)):
        pod = b.pod(job, node, Done(Ended(127, "Error", start - 0.03, start - 0.04)), created=start)
        b.kubectl_logs(pod, "/bin/sh: pg_dumpp: not found")
        b.log(pod, start - 0.04, "/bin/sh: pg_dumpp: not found", stream="stderr")
        b.event(NS, ("Job", name), "SuccessfulCreate", f"Created pod: {pod}", first=start, source="job-controller")
        b.event(NS, ("Pod", pod), "Started", "Started container archive", first=start - 0.02, host=node)
    b.event(NS, ("CronJob", "invoice-archive"), "SuccessfulCreate", f"Created job {name}", first=20,
            source="cronjob-controller")
    b.event(NS, ("Job", name), "BackoffLimitExceeded", "Job has reached the specified backoff limit", first=19.3,
            type="Warning", source="job-controller")

    # ledger-sync: a healthy CronJob every 15 minutes.
    sync = ctr("ledger-sync", "registry.acme.io/billing/ledger-sync:0.9.7", cpu="50m", mem="64Mi", mem_limit="128Mi",
               args=["--since=15m"], env=env(LEDGER_API="http://ledger.finance.svc.cluster.local:8080"))
    b.cronjob(NS, "ledger-sync", [sync], schedule="*/15 * * * *", last_schedule=5, created=90 * 1440, last_success=4.6)
    for ago in (35, 20, 5):
        j = b.job(NS, b.cron_job_name("ledger-sync", ago), [sync], started=ago, cron="ledger-sync", succeeded=1,
                  ended=ago - 0.4)
        sp = b.pod(j, a3, Done(Ended(0, "Completed", ago - 0.05, ago - 0.4)), created=ago)
        text = f'{{"level":"info","ts":"{b.ts(ago - 0.4)}","msg":"reconciled","entries":{180 + ago},"mismatches":0}}'
        b.kubectl_logs(sp, text)
        b.log(sp, ago - 0.4, text)

    # billing-api: Go (zap) JSON logs with its normal share of warnings.
    api = b.deployment(NS, "billing-api", [ctr("billing-api", "registry.acme.io/billing/billing-api:4.21.0", cpu="300m",
                                               mem="384Mi", mem_limit="768Mi", ports=[{"containerPort": 8080}])],
                       replicas=2, revisions=[(6 * 1440, None, None)])
    pods = [b.pod(api, n, Running(6 * 1440 - 1), created=6 * 1440) for n in (a3, a4)]
    for m in range(178, 0, -3):
        pod = pods[m % 2]
        path = ("/v1/invoices", "/v1/invoices/INV-2026-10-{:05d}".format(40000 + m * 7), "/v1/customers/{}/balance".format(
            9000 + m))[m % 3]
        dur = 0.012 + (m % 7) * 0.004
        b.log(pod, m, f'{{"level":"info","ts":"{b.ts(m, ms=True)}","caller":"httpserver/log.go:58","msg":"request",'
                      f'"method":"GET","path":"{path}","status":200,"duration":{dur:.4f}}}', stream="stderr")
        if m % 27 == 0:
            b.log(pod, m - 0.2, f'{{"level":"warn","ts":"{b.ts(m - 0.2, ms=True)}","caller":"fx/rates.go:117",'
                                '"msg":"exchange rate cache stale, serving previous day","currency":"CHF","age":"26h4m"}',
                  stream="stderr")

    # invoice-renderer: one OOM kill two hours ago, recovered since.
    rend = b.deployment(NS, "invoice-renderer", [ctr("renderer", "registry.acme.io/billing/invoice-renderer:2.2.0",
                                                     cpu="500m", mem="512Mi", mem_limit="1Gi")],
                        replicas=1, revisions=[(20 * 1440, None, None)])
    rp = b.pod(rend, a4, Running(121, restarts=1, last=Ended(137, "OOMKilled", 20 * 1440 - 1, 121.2)), created=20 * 1440)
    b.log(rp, 121, "INFO  [main] renderer: listening on :8090 (chromium pool=2)")
    b.log(rp, 64, "WARN  [pool-1] renderer: page render slow invoice=INV-2026-11-00412 ms=4120")

    b.message = (
        f"[FIRING:1] KubeJobFailed (billing {name} warning)\n"
        "*Alert:* Job failed to complete. - `warning`\n"
        f"*Description:* Job billing/{name} failed to complete. Removing failed job after investigation should "
        "clear this alert.\n"
        "*Runbook:* <https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubejobfailed|:spiral_note_pad:>\n"
        "*Details:*\n"
        "  • *alertname:* `KubeJobFailed`\n"
        f"  • *job_name:* `{name}`\n"
        "  • *namespace:* `billing`\n"
        "  • *severity:* `warning`")
    return b
