"""inventory-service (Spring Boot, HikariCP max 10) leaks connections in the batch reservation path:
connections stay "idle in transaction", the pool sits at 10/10 with dozens of waiters, requests time
out after 30s. The database itself is nearly idle (14 of 400 connections, no slow statements).

Noise: warehouse-ui rolled out 55 minutes ago (a static frontend); picking-service logs the
symptom (504s from inventory). No k8s/ in this bundle: the bot only has metrics and logs here.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, go_requests, healthy_service, spring_requests
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle

NOW = "2026-09-29T13:30:00Z"
DAY = 60 * 24
TIMEOUT = ("HikariPool-1 - Connection is not available, request timed out after 30000ms "
           "(total=10, active=10, idle=0, waiting={w})")


def build() -> Bundle:
    w = World(NOW, seed=606, cluster="prod-eu-central")
    now = w.now
    eks_nodes(w, 3, subnet=52, region="eu-central-1")
    om = OM(w, step=60)
    leak = now - mins(48)

    inv = w.deployment("inventory-service", "warehouse", image="registry.acme.io/warehouse/inventory-service",
                       history=[("3.21.0", now - mins(DAY * 4 + 90))], replicas=3,
                       container=container_spec("inventory-service", "x", cpu="1", memory="1536Mi",
                                                memory_limit="2Gi", readiness=http_probe("/actuator/health/readiness")))
    ui = w.deployment("warehouse-ui", "warehouse", image="registry.acme.io/warehouse/warehouse-ui",
                      history=[("2026.09.22", now - mins(DAY * 7)), ("2026.09.29", now - mins(55))], replicas=2,
                      container=container_spec("warehouse-ui", "x", port=8080, cpu="50m", memory="64Mi"))
    picking = w.deployment("picking-service", "warehouse", image="registry.acme.io/warehouse/picking-service",
                           history=[("1.8.2", now - mins(DAY * 9))], replicas=1,
                           container=container_spec("picking-service", "x", cpu="200m", memory="256Mi"))

    t_rel = (om.ts - leak.timestamp()) / 60.0
    leaked = np.clip(np.floor(np.where(t_rel > 0, t_rel / 2.6, 0)), 0, 10)
    for i, p in enumerate(all_pods(inv)):
        lk = np.clip(leaked - (i % 2), 0, 10)
        busy = np.clip(2 + np.round(om.noise(0.8)), 0, 10)
        active = np.minimum(10, lk + busy)
        pending = np.where(lk >= 9, np.clip(18 + 14 * np.clip(t_rel - 26, 0, 20) / 20 + om.noise(4), 0, None), 0)
        lbl = {"namespace": "warehouse", "pod": p.name, "pool": "HikariPool-1"}
        om.gauge("hikaricp_connections_active", "Active connections", lbl, np.round(active))
        om.gauge("hikaricp_connections_pending", "Pending threads", lbl, np.round(pending))
        om.gauge("hikaricp_connections_max", "Max connections", lbl, 10)
        om.counter("hikaricp_connections_timeout", "Connection timeout total count", lbl, pending / 30.0 * 0.6,
                   start=w.rng.randrange(0, 40), integer=True)
        cadvisor(om, p, memory=980 * MI + np.cumsum(np.abs(om.noise(0.3 * MI))), cpu=np.clip(0.35 + om.noise(0.03), 0.1, None)
                 - 0.15 * (lk >= 9))
        ksm_pod(om, p)
        err = np.where(lk >= 9, 0.22 + om.noise(0.02), 0.001)
        http_red(om, p, "inventory-service", om.diurnal(25), err_ratio=err, error_code="500")
        w.chatter(p, (40, 110), spring_requests("inventory-service", [
            ("INFO", "c.a.inventory.web.StockController", "GET /api/v1/stock/sku-{n} -> 200"),
            ("INFO", "c.a.inventory.web.ReservationController", "POST /api/v1/reservations -> 201"),
            ("INFO", "c.a.inventory.sync.ErpSyncJob", "ERP delta sync: {n} rows")]))
        w.chatter(p, (50, 140), spring_requests("inventory-service", [
            ("INFO", "c.a.inventory.web.ReservationController", "POST /api/v2/reservations/batch -> 201 ({n} items)")]),
            since=leak)
        for k in range(int(lk.max())):
            t = leak + secs(60 * 2.6 * (k + 1) + (i % 2) * 160 + 60 + w.rng.randrange(0, 40))
            if t >= now:
                break
            thread = f"http-nio-8080-exec-{w.rng.randrange(1, 40)}"
            for off, line in enumerate([
                    ls.spring(t, "WARN", "com.zaxxer.hikari.pool.ProxyLeakTask",
                              f"Connection leak detection triggered for org.postgresql.jdbc.PgConnection@{w.rng.hex(8)} "
                              f"on thread {thread}, stack trace follows", thread="l-1 housekeeper", app="inventory-service"),
                    "java.lang.Exception: Apparent connection leak detected",
                    "\tat com.zaxxer.hikari.HikariDataSource.getConnection(HikariDataSource.java:127)",
                    "\tat com.acme.inventory.reservation.ReservationRepository.lockBatch(ReservationRepository.java:88)",
                    "\tat com.acme.inventory.reservation.ReservationService.reserveBatch(ReservationService.java:142)",
                    "\tat com.acme.inventory.web.ReservationController.batch(ReservationController.java:61)"]):
                w.log(p, t + secs(off * 0.001), line)
        first_timeout = leak + mins(26 + (i % 2) * 3)
        w.chatter(p, (8, 30), lambda t, rng: [
            ls.spring(t, "ERROR", "o.a.c.c.C.[.[.[/].[dispatcherServlet]",
                      "Servlet.service() for servlet [dispatcherServlet] in context with path [] threw exception "
                      "[Request processing failed: org.springframework.dao.DataAccessResourceFailureException: Unable to "
                      f"acquire JDBC Connection [{TIMEOUT.format(w=rng.randrange(18, 41))}] [n/a]] with root cause",
                      thread=f"nio-8080-exec-{rng.randrange(1, 200)}", app="inventory-service"),
            ls.spring(t, "WARN", "o.h.engine.jdbc.spi.SqlExceptionHelper",
                      "SQL Error: 0, SQLState: null", thread=f"nio-8080-exec-{rng.randrange(1, 200)}", app="inventory-service"),
            ls.spring(t, "ERROR", "o.h.engine.jdbc.spi.SqlExceptionHelper", TIMEOUT.format(w=rng.randrange(18, 41)),
                      thread=f"nio-8080-exec-{rng.randrange(1, 200)}", app="inventory-service"),
        ][rng.randrange(3)], since=first_timeout)
    ksm_deployment(om, inv)
    p50 = np.where(leaked >= 9, 2.5, 0.045)
    latency_histogram(om, "warehouse", "inventory-service", om.diurnal(75), p50, sigma=np.where(leaked >= 9, 1.6, 0.6),
                      buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

    srv = {"server": "inventory-db.cluster-c9xq2kd0lm1a.eu-central-1.rds.amazonaws.com:5432"}
    total_leaked = sum(np.clip(leaked - (i % 2), 0, 10) for i in range(3))
    om.gauge("pg_stat_activity_count", "number of connections in this state",
             {**srv, "datname": "inventory", "state": "idle in transaction"}, total_leaked)
    om.gauge("pg_stat_activity_count", "number of connections in this state",
             {**srv, "datname": "inventory", "state": "active"}, np.clip(3 + np.round(om.noise(1)), 1, None))
    om.gauge("pg_stat_activity_count", "number of connections in this state",
             {**srv, "datname": "inventory", "state": "idle"}, np.clip(30 - total_leaked - 3, 0, None) + 4)
    om.gauge("pg_settings_max_connections", "Sets the maximum number of concurrent connections.", srv, 400)

    healthy_service(w, None, ui, rps=12, mem_mi=20, cpu=0.005, http=False,
                    maker=lambda t, rng: ls.nginx_access(t, f"10.{rng.randrange(1, 30)}.{rng.randrange(255)}.7", "GET",
                                                         rng.choice(["/", "/static/js/main.4f2a1c.js", "/favicon.ico"]),
                                                         200, rng.randrange(400, 90000), rng.uniform(0, 0.004),
                                                         rng.choice(ls.AGENTS)))
    healthy_service(w, om, picking, rps=18, mem_mi=120, cpu=0.04, http=False,
                    maker=go_requests("picking-service", ["/v1/picklists", "/v1/picklists/next"], style="logrus"))
    for p in all_pods(picking):
        w.chatter(p, (20, 60), lambda t, rng: (ls.logrus(
            t, "error", "reserve stock failed", upstream="inventory-service", status=504,
            err="Post \"http://inventory-service.warehouse.svc.cluster.local/api/v2/reservations/batch\": "
                "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"), "stderr"),
                  since=leak + mins(27))

    text = ("@incident-bot HighRequestLatency is firing for warehouse/inventory-service since 12:50 UTC — "
            "p95=28.4s (threshold 2s). Pickers say the handheld app times out when reserving stock. "
            "Can you take a look?")
    return Bundle(id="warehouse-inventory-latency", title="inventory-service latency reported in #warehouse-ops",
                  world=w, om=om, message=text, k8s=False,
                  expected={"category": "connection_pool_exhausted", "component": "inventory-service",
                            "action": "restart_deployment",
                            "rationale": "Hikari pool at 10/10 with waiters and leak-detection warnings; Postgres "
                                         "shows idle-in-transaction sessions but no load; restart frees the leaked "
                                         "connections until the reserveBatch leak is fixed."})
