"""Grafana-managed KubeJobFailed for the orders export CronJob; logs and Kubernetes, no metrics.

Yesterday afternoon the CronJob's PGPORT became 5433 (copied from a staging values file). The job
dials the database pod directly through the headless Service, where nothing listens on 5433, so
psycopg2 fails with "Connection refused" at once. The database is healthy and listening on 5432
(its log says so, the Services expose 5432, yesterday's Job used 5432 and succeeded).
"""
from kit import Bundle, Done, Ended, Running, ctr, env

NS = "data"
HOST = "orders-db-0.orders-db-headless.data.svc.cluster.local"
IMAGE = "registry.acme.io/data/orders-export:2.3.0"


def exporter(port: str) -> dict:
    return ctr("orders-export", IMAGE, cpu="250m", mem="512Mi", mem_limit="1Gi", command=["python", "/app/export.py"],
               env=env(PGHOST=HOST, PGPORT=port, PGDATABASE="orders", PGUSER="export_ro",
                       EXPORT_BUCKET="gs://acme-data-lake/orders")
               + [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "orders-db-export", "key": "password"}}}])


def failure(b: Bundle, at: float) -> str:
    return (f"{b.at(at).strftime('%Y-%m-%d %H:%M:%S')},211 INFO orders_export: exporting orders for 2026-11-05 to "
            "gs://acme-data-lake/orders/dt=2026-11-05/\n"
            "Traceback (most recent call last):\n"
            '  File "/app/export.py", line 64, in <module>\n'
            "    main()\n"
            '  File "/app/export.py", line 41, in main\n'
            "    conn = psycopg2.connect(dsn, connect_timeout=10)\n"
            "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            '  File "/usr/local/lib/python3.12/site-packages/psycopg2/__init__.py", line 122, in connect\n'
            "    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)\n"
            "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            f'psycopg2.OperationalError: connection to server at "{HOST}" (10.52.3.17), port 5433 failed: '
            "Connection refused\n"
            "\tIs the server running on that host and accepting TCP/IP connections?")


EXPECTED = {"category": "config_error", "component": "orders-export", "action": "none", "rationale": (
    "each attempt of the orders-export Job fails in psycopg2.connect with 'connection to server at "
    "\"orders-db-0.orders-db-headless...\" (10.52.3.17), port 5433 failed: Connection refused': the CronJob's "
    "PGPORT was changed to 5433 (generation 4) while Postgres listens on 5432 (its log, both Services, and "
    "yesterday's successful Job with PGPORT=5432). The database is up; fix the CronJob env. Sources: Grafana's "
    "default notification template (grafana.com/docs/grafana/latest/alerting/configure-notifications/"
    "template-notifications/reference/); libpq/psycopg2 'Connection refused ... Is the server running on that "
    "host and accepting TCP/IP connections?' (bengen343/superset-on-gcp-cloud-run#5, "
    "simple-container-com/api#347).")}


def build() -> Bundle:
    b = Bundle("orders-export-cron-failed", "KubeJobFailed for orders-export (Grafana)",
               "2026-11-06T03:25:00Z", EXPECTED)
    n1, n2 = b.nodes(["gke-data-prod-pool-1-4c1d2e3f-7hqz", "gke-data-prod-pool-1-4c1d2e3f-m2xv"],
                     ["10.156.0.11", "10.156.0.12"], ["europe-west3-a"] * 2, instance_type="n2-standard-8")

    db_ctr = ctr("postgres", "postgres:16.4", cpu="1", mem="4Gi", mem_limit="4Gi",
                 ports=[{"containerPort": 5432, "name": "postgres"}])
    db = b.statefulset(NS, "orders-db", [db_ctr], replicas=1, ready=1, claims=[("data", "200Gi")])
    b.pvc(NS, "data-orders-db-0", "200Gi", "pvc-6f0f61f5-4b59-4a4e-9b47-1d2f0c3a8e11", created=200 * 1440,
          labels={"app": "orders-db"})
    dbp = b.pod(db, n2, Running(31 * 1440), created=31 * 1440, name="orders-db-0")
    b.service(NS, "orders-db", {"app": "orders-db"}, [("postgres", 5432, 5432)], "10.56.7.90")
    b.service(NS, "orders-db-headless", {"app": "orders-db"}, [("postgres", 5432, 5432)], None)
    b.log(dbp, 31 * 1440 - 0.1, '2026-10-06 03:25:02.118 UTC [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432',
          stream="stderr")
    for m in range(178, 0, -5):
        b.log(dbp, m, f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')}.{m * 7 % 1000:03d} UTC [{61000 + m}] LOG:  "
                      f"checkpoint complete: wrote {800 + m * 3} buffers ({(800 + m * 3) / 5242.88:.1f}%); 0 WAL "
                      f"file(s) added, 0 removed, 1 recycled; write={26.9 + m % 5:.3f} s, sync=0.004 s, "
                      f"total={27.1 + m % 5:.3f} s", stream="stderr")

    b.cronjob(NS, "orders-export", [exporter("5433")], schedule="0 3 * * *", last_schedule=25, created=150 * 1440,
              last_success=1460, generation=4)
    prev = b.job(NS, b.cron_job_name("orders-export", 1465), [exporter("5432")], started=1465, cron="orders-export",
                 succeeded=1, ended=1459)
    pp = b.pod(prev, n1, Done(Ended(0, "Completed", 1464.9, 1459.1)), created=1465)
    ok = (f"{b.at(1464.8).strftime('%Y-%m-%d %H:%M:%S')},402 INFO orders_export: exporting orders for 2026-11-04 to "
          "gs://acme-data-lake/orders/dt=2026-11-04/\n"
          f"{b.at(1459.2).strftime('%Y-%m-%d %H:%M:%S')},977 INFO orders_export: wrote 412873 rows in 18 files")
    b.kubectl_logs(pp, ok)
    b.log(pp, 1459.2, ok, stream="stderr")

    name = b.cron_job_name("orders-export", 25)
    job = b.job(NS, name, [exporter("5433")], started=25, cron="orders-export", failed=3, ended=24.2)
    for start, node in ((25, n1), (24.8, n1), (24.45, n2)):
        p = b.pod(job, node, Done(Ended(1, "Error", start - 0.03, start - 0.06)), created=start)
        text = failure(b, start - 0.04)
        b.kubectl_logs(p, text)
        b.log(p, start - 0.05, text, stream="stderr")
        b.event(NS, ("Job", name), "SuccessfulCreate", f"Created pod: {p}", first=start, source="job-controller")
    b.event(NS, ("Job", name), "BackoffLimitExceeded", "Job has reached the specified backoff limit", first=24.2,
            type="Warning", source="job-controller")

    dbt = b.deployment(NS, "dbt-runner", [ctr("dbt", "ghcr.io/dbt-labs/dbt-postgres:1.8.2", cpu="500m", mem="1Gi",
                                              mem_limit="2Gi")], replicas=1, revisions=[(8 * 1440, None, None)])
    dp = b.pod(dbt, n2, Running(8 * 1440), created=8 * 1440)
    for m in range(170, 0, -20):
        b.log(dp, m, f"{b.at(m).strftime('%H:%M:%S')}  1 of 14 START sql view model analytics.stg_orders "
                     "........................ [RUN]")
        b.log(dp, m - 0.3, f"{b.at(m - 0.3).strftime('%H:%M:%S')}  [WARNING]: Test 'not_null_stg_orders_coupon' "
                           "returned 12 failures (warn_if >0)")

    b.message = (
        f"[FIRING:1] KubeJobFailed (data {name} warning)\n"
        "**Firing**\n\n"
        "Value: A=1, C=1\n"
        "Labels:\n"
        " - alertname = KubeJobFailed\n"
        " - grafana_folder = Kubernetes / Apps\n"
        f" - job_name = {name}\n"
        " - namespace = data\n"
        " - severity = warning\n"
        "Annotations:\n"
        f" - description = Job data/{name} failed to complete. Removing failed job after investigation should "
        "clear this alert.\n"
        " - runbook_url = https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubejobfailed\n"
        " - summary = Job failed to complete.\n"
        "Source: https://grafana.acme.io/alerting/grafana/kube-job-failed/view?orgId=1\n"
        "Silence: https://grafana.acme.io/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DKubeJobFailed"
        f"&matcher=job_name%3D{name}&orgId=1\n")
    return b
