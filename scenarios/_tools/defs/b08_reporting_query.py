"""reporting-api (Django/gunicorn) revenue report query turned slow: right after autovacuum
re-analysed order_items, Postgres picks a worse plan and the statement takes 5-9s; gunicorn workers
time out, p95 latency explodes. Connections are far from the limit; the API itself is idle (waiting).

Noise: reporting-api's rollout is 3 days old; Postgres checkpoints log regularly; reporting-ui
(nginx) and reporting-scheduler are healthy.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, healthy_service
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle, alert

NOW = "2026-09-22T11:05:00Z"
DAY = 60 * 24
SLOW_SQL = ("SELECT date_trunc('day', o.created_at) AS day, sum(oi.quantity * oi.unit_price) AS revenue "
            "FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.tenant_id = $1 AND "
            "o.created_at >= $2 GROUP BY 1 ORDER BY 1")


def build() -> Bundle:
    w = World(NOW, seed=808, cluster="prod-us1")
    now = w.now
    eks_nodes(w, 3, subnet=61, region="us-east-1")
    om = OM(w, step=60)
    flip = now - mins(52)

    api = w.deployment("reporting-api", "analytics", image="quay.io/acme/reporting-api",
                       history=[("2026.09.12", now - mins(DAY * 10)), ("2026.09.19", now - mins(DAY * 3 + 310))],
                       replicas=3,
                       container=container_spec("reporting-api", "x", port=8000, cpu="250m", memory="512Mi",
                                                memory_limit="1Gi", env={"GUNICORN_CMD_ARGS": "--workers 4 --timeout 30",
                                                                         "DATABASE_HOST": "reporting-db"},
                                                readiness=http_probe("/healthz", 8000)))
    ui = w.deployment("reporting-ui", "analytics", image="quay.io/acme/reporting-ui",
                      history=[("1.12.0", now - mins(DAY * 16))], replicas=2,
                      container=container_spec("reporting-ui", "x", port=8080, cpu="50m", memory="64Mi"))
    sched = w.deployment("reporting-scheduler", "analytics", image="quay.io/acme/reporting-api",
                         history=[("2026.09.19", now - mins(DAY * 3 + 300))], replicas=1,
                         container=container_spec("reporting-scheduler", "x", port=None, cpu="50m", memory="256Mi"))
    db_spec = container_spec("postgresql", "docker.io/bitnami/postgresql:16.4.0-debian-12-r9", port=5432, cpu="1",
                             memory="4Gi", memory_limit="4Gi")
    db = w.new_pod("reporting-db-0", "analytics",
                   {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "reporting-db",
                    "statefulset.kubernetes.io/pod-name": "reporting-db-0"}, now - mins(DAY * 41), [db_spec],
                   owner={"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "reporting-db", "uid": w.rng.uid(),
                          "controller": True, "blockOwnerDeletion": True}, workload="reporting-db")
    for name in ("reporting-api", "reporting-ui"):
        w.service(name, "analytics", 80, "http")
    w.service("reporting-db", "analytics", 5432, 5432, selector={"app.kubernetes.io/instance": "reporting-db"})

    slow = om.after(flip, 120)
    rps = om.diurnal(9, 0.3) * (1 + om.noise(0.05))
    for p in all_pods(api):
        cadvisor(om, p, memory=380 * MI + om.noise(5 * MI), cpu=np.clip(0.09 - 0.04 * slow + om.noise(0.01), 0.01, None))
        ksm_pod(om, p)
        http_red(om, p, "reporting-api", rps / 3, err_ratio=0.04 * slow, error_code="502")
        w.chatter(p, (25, 80), lambda t, rng: ls.gunicorn_access(
            t, f"10.244.{rng.randrange(3)}.{rng.randrange(2, 250)}", "GET",
            rng.choice(["/api/v1/reports/orders?page=1", "/api/v1/dashboards/7", "/api/v1/reports/revenue?range=30d"]),
            200, rng.randrange(800, 40000), rng.randrange(40, 300), "python-requests/2.32.3"), until=flip)
        w.chatter(p, (25, 80), lambda t, rng: ls.gunicorn_access(
            t, f"10.244.{rng.randrange(3)}.{rng.randrange(2, 250)}", "GET",
            rng.choice(["/api/v1/reports/orders?page=1", "/api/v1/dashboards/7"]),
            200, rng.randrange(800, 40000), rng.randrange(40, 300), "python-requests/2.32.3"), since=flip)
        w.chatter(p, (40, 110), lambda t, rng: ls.python_log(
            t, "WARNING", "reporting.middleware", f"slow request path=/api/v1/reports/revenue "
            f"duration={rng.uniform(5.2, 9.4):.2f}s db_time={rng.uniform(5.0, 9.2):.2f}s queries=3"), since=flip + mins(2))
        w.chatter(p, (240, 600), lambda t, rng: (f"[{t.strftime('%Y-%m-%d %H:%M:%S +0000')}] [1] [CRITICAL] WORKER TIMEOUT "
                                                 f"(pid:{rng.randrange(30, 90)})", "stderr"), since=flip + mins(5))
    ksm_deployment(om, api)
    latency_histogram(om, "analytics", "reporting-api", rps, 0.12 + 2.4 * slow, sigma=0.9,
                      buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

    cadvisor(om, db, memory=2900 * MI + om.noise(20 * MI), cpu=np.clip(0.25 + 1.55 * slow + om.noise(0.05), 0.05, None))
    ksm_pod(om, db)
    srv = {"namespace": "analytics", "pod": "reporting-db-0", "datname": "reporting"}
    om.gauge("pg_stat_activity_count", "number of connections in this state", {**srv, "state": "active"},
             np.round(np.clip(2 + 12 * slow + om.noise(1.2), 1, None)))
    om.gauge("pg_stat_activity_count", "number of connections in this state", {**srv, "state": "idle"},
             np.round(np.clip(22 - 10 * slow + om.noise(1.2), 4, None)))
    om.gauge("pg_stat_activity_max_tx_duration", "max duration in seconds any active transaction has been running",
             {**srv, "state": "active"}, np.round(np.clip(0.4 + 8.1 * slow + om.noise(0.6), 0.05, None), 3))
    om.gauge("pg_settings_max_connections", "Sets the maximum number of concurrent connections.",
             {"namespace": "analytics", "pod": "reporting-db-0"}, 200)

    pid = 4100
    w.chatter(db, (300, 300), lambda t, rng: postgres_checkpoint(t, rng))
    w.log(db, flip - secs(8), ls.postgres(flip - secs(8), 28817, "LOG",
                                          'automatic analyze of table "reporting.public.order_items"'))
    w.log(db, flip - secs(8), "\tavg read rate: 61.412 MB/s, avg write rate: 0.004 MB/s")
    w.log(db, flip - secs(8), "\tbuffer usage: 10311 hits, 29418 misses, 2 dirtied")
    w.log(db, flip - secs(8), "\tsystem usage: CPU: user: 1.92 s, system: 0.31 s, elapsed: 8.44 s")
    w.chatter(db, (15, 45), lambda t, rng: ls.postgres(
        t, pid + rng.randrange(1, 400), "LOG", f"duration: {rng.uniform(5100, 9300):.3f} ms  execute <unnamed>: "
        f"{SLOW_SQL}"), since=flip + secs(30))
    w.chatter(db, (200, 700), lambda t, rng: ls.postgres(
        t, pid + rng.randrange(1, 400), "LOG", f"duration: {rng.uniform(1000, 1400):.3f} ms  statement: "
        "SELECT count(*) FROM events WHERE created_at > now() - interval '1 day'"))

    healthy_service(w, om, ui, rps=6, mem_mi=15, cpu=0.003, http=False,
                    maker=lambda t, rng: ls.nginx_access(t, f"10.{rng.randrange(1, 30)}.{rng.randrange(255)}.{rng.randrange(255)}",
                                                         "GET", rng.choice(["/", "/assets/app.91c2.js", "/dashboards/7"]),
                                                         200, rng.randrange(400, 120000), rng.uniform(0, 0.003),
                                                         rng.choice(ls.AGENTS)))
    healthy_service(w, om, sched, mem_mi=210, cpu=0.01, http=False, every_s=(280, 320),
                    maker=lambda t, rng: ls.python_log(t, "INFO", "scheduler", f"tick: 0 reports due, next in 300s"))

    a = alert({"alertname": "HighRequestLatency", "severity": "warning", "namespace": "analytics",
               "service": "reporting-api", "cluster": "prod-us1"},
              "reporting-api p95 latency above 2s",
              "p95 latency for analytics/reporting-api has been 7.9s for the last 15 minutes.", now - mins(31),
              'histogram_quantile(0.95, sum by (le, namespace, service) (rate(http_request_duration_seconds_bucket'
              '{namespace="analytics",service="reporting-api"}[5m]))) > 2')
    return Bundle(id="analytics-reporting-latency", title="HighRequestLatency on analytics/reporting-api", world=w,
                  om=om, alert=a,
                  expected={"category": "slow_query", "component": "reporting-api", "action": "none",
                            "rationale": "the revenue report statement takes 5-9s in Postgres since the analyze of "
                                         "order_items (plan change); db_time dominates request time; connections "
                                         "and API CPU are fine. Needs an index/plan fix, not a restart."})


def postgres_checkpoint(t, rng):
    if rng.random() < 0.5:
        return ls.postgres(t, 68, "LOG", "checkpoint starting: time")
    n = rng.randrange(300, 3000)
    return ls.postgres(t, 68, "LOG", f"checkpoint complete: wrote {n} buffers ({n / 163.84:.1f}%); 0 WAL file(s) added, "
                                     f"0 removed, 1 recycled; write={rng.uniform(20, 90):.3f} s, sync=0.004 s, "
                                     f"total={rng.uniform(20, 90):.3f} s")
