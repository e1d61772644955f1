"""Datadog p95 latency monitor for orders-api; logs and Kubernetes, no metrics.

52 minutes ago a DBA dropped orders_order_customer_email_idx to replace it with a lower() index;
the CREATE INDEX CONCURRENTLY hit statement_timeout and was cancelled, so the lookup by customer
email now scans the table. Postgres' slow-statement log (log_min_duration_statement=1000) shows the
~8 s queries, the app's structlog lines show requests taking the same 8 s. Traps: orders-web (the
frontend) rolled out 28 minutes ago; pods are healthy and nothing restarts.
"""
from kit import Bundle, Running, ctr

NS = "shop"
DROP = 52
QUERY = ('SELECT "orders_order"."id", "orders_order"."number", "orders_order"."status", "orders_order"."total", '
         '"orders_order"."created_at" FROM "orders_order" WHERE "orders_order"."customer_email" = $1 '
         'ORDER BY "orders_order"."created_at" DESC LIMIT 21')


def pg(b: Bundle, m: float, pid: int, who: str, text: str) -> str:
    return f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')}.{int(m * 613) % 1000:03d} UTC [{pid}] {who} {text}"


EXPECTED = {"category": "slow_query", "component": "orders-api", "action": "none", "rationale": (
    "since 13:38 every /api/orders/ request waits ~8 s on one statement: Postgres logs 'duration: ~8000 ms' for "
    "the customer_email lookup right after a DBA dropped orders_order_customer_email_idx and the replacement "
    "CREATE INDEX CONCURRENTLY was cancelled by statement_timeout. Recreate the index; restarts and rollbacks do "
    "nothing (orders-web's rollout is unrelated). Sources: Datadog monitor notification format "
    "(docs.datadoghq.com/monitors/notify/variables); Postgres log_min_duration_statement 'duration: ... ms "
    "execute <unnamed>:' lines (postgresql.org/docs/current/runtime-config-logging.html, CrunchyData/"
    "postgres-operator#776); structlog JSON.")}


def build() -> Bundle:
    b = Bundle("orders-latency-datadog", "Datadog: orders-api p95 latency above 2s", "2026-11-15T14:30:00Z", EXPECTED)
    nodes = b.nodes(["ip-10-50-1-5.eu-west-2.compute.internal", "ip-10-50-2-6.eu-west-2.compute.internal",
                     "ip-10-50-3-7.eu-west-2.compute.internal"], ["10.50.1.5", "10.50.2.6", "10.50.3.7"],
                    ["eu-west-2a", "eu-west-2b", "eu-west-2c"])
    api = b.deployment(NS, "orders-api", [ctr("orders-api", "registry.acme.io/shop/orders-api:2026.11.2", cpu="500m",
                                              mem="512Mi", mem_limit="1Gi",
                                              command=["gunicorn", "orders.wsgi", "-w", "4", "-b", "0.0.0.0:8000"])],
                       replicas=3, revisions=[(6 * 1440, None, None)])
    api_pods = [b.pod(api, n, Running(6 * 1440), created=6 * 1440) for n in nodes]
    db = b.statefulset(NS, "orders-db", [ctr("postgres", "postgres:15.8", cpu="2", mem="8Gi", mem_limit="8Gi",
                                             args=["-c", "log_min_duration_statement=1000", "-c", "log_statement=ddl"])],
                       replicas=1, ready=1, claims=[("data", "300Gi")])
    dbp = b.pod(db, nodes[2], Running(40 * 1440), created=40 * 1440, name="orders-db-0")
    web_old = [ctr("orders-web", "registry.acme.io/shop/orders-web:5.40.0", cpu="100m", mem="128Mi", mem_limit="256Mi")]
    web = b.deployment(NS, "orders-web", [ctr("orders-web", "registry.acme.io/shop/orders-web:5.41.0", cpu="100m",
                                              mem="128Mi", mem_limit="256Mi")], replicas=2,
                       revisions=[(3 * 1440, web_old, None), (28, None, None)], rs_replicas=[0, 2])
    for n in nodes[:2]:
        b.pod(web, n, Running(27.5), created=28)
    b.event(NS, ("Deployment", "orders-web"), "ScalingReplicaSet", f"Scaled up replica set {web.replicasets[1]} to 2",
            first=28, source="deployment-controller")
    b.service(NS, "orders-api", {"app": "orders-api"}, [("http", 80, 8000)], "172.20.4.18")
    b.service(NS, "orders-db", {"app": "orders-db"}, [("postgres", 5432, 5432)], "172.20.9.3")

    dba = "dba_mkhan@orders"
    b.log(dbp, DROP, pg(b, DROP, 41877, dba, "LOG:  statement: DROP INDEX CONCURRENTLY IF EXISTS "
                                             "orders_order_customer_email_idx;"), stream="stderr")
    b.log(dbp, DROP - 0.3, pg(b, DROP - 0.3, 41877, dba, "LOG:  statement: CREATE INDEX CONCURRENTLY "
                                                         "orders_order_customer_email_lower_idx ON orders_order "
                                                         "(lower(customer_email));"), stream="stderr")
    b.log(dbp, DROP - 5.3, pg(b, DROP - 5.3, 41877, dba, "ERROR:  canceling statement due to statement timeout\n")
          + pg(b, DROP - 5.3, 41877, dba, "STATEMENT:  CREATE INDEX CONCURRENTLY orders_order_customer_email_lower_idx "
                                          "ON orders_order (lower(customer_email));"), stream="stderr")
    for m in range(178, 0, -1):
        slow = m < DROP - 0.5
        pod = api_pods[m % 3]
        dur = (7600 + (m * 37) % 900) if slow else (18 + (m * 7) % 30)
        if slow:
            b.log(dbp, m, pg(b, m, 52000 + m, "orders_app@orders", f"LOG:  duration: {dur + 0.433:.3f} ms  execute "
                                                                    f"<unnamed>: {QUERY}"), stream="stderr")
        if slow or m % 3 == 0:
            b.log(pod, m - dur / 60000, f'{{"event": "request_finished", "method": "GET", "path": "/api/orders/", '
                                        f'"status": 200, "duration_ms": {dur + 31.6:.1f}, "request_id": '
                                        f'"{b.hash(12, "rq", m)}", "logger": "orders.middleware", "level": "info", '
                                        f'"timestamp": "{b.ts(m - dur / 60000, ms=True)}"}}')
        if m % 17 == 0:
            b.log(pod, m - 0.1, f'{{"event": "checkout_webhook_retry", "provider": "adyen", "attempt": 2, '
                                f'"logger": "payments.webhooks", "level": "warning", '
                                f'"timestamp": "{b.ts(m - 0.1, ms=True)}"}}')
    for m in range(170, 0, -30):
        b.log(dbp, m, pg(b, m, 71, "", "LOG:  checkpoint starting: time").replace("  LOG", " LOG"), stream="stderr")

    b.message = (
        "[Triggered on {env:prod,service:orders-api}] [P2] orders-api p95 latency above 2s\n"
        "p95:trace.django.request{env:prod,service:orders-api} is 7.94 s (threshold 2 s) over the last 10m.\n"
        "Runbook: https://wiki.acme.io/shop/orders-api#latency · APM: https://app.datadoghq.eu/apm/services/orders-api\n"
        "@slack-shop-oncall")
    return b
