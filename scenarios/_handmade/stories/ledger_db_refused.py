"""KubePodCrashLooping for ledger-service: its managed Postgres (RDS, outside the cluster) refuses connections.

The RDS instance behind ledger-db is in a major-version upgrade that began 25 minutes ago and
refuses connections meanwhile. Pods that started since (after a node scale-down) fail Hikari pool
initialisation and exit; the surviving pod logs the same refusals, and payouts-worker, which uses
the same database, too. Traps: finance-reports rolled out a missing image tag 15 minutes ago and
sits in ImagePullBackOff in the same namespace; ledger-service itself last changed 9 days ago.
"""
from kit import Bundle, Ended, Running, Waiting, ctr, image_pull_events, kp_alert

NS = "finance"
DB = "ledger-db.cluster-c9x2kq1h3v.eu-west-1.rds.amazonaws.com"
DOWN = 25


def spring_failure(b: Bundle, m: float) -> str:
    t = b.at(m).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(m * 271) % 1000:03d}Z"
    return (f"{t} ERROR 1 --- [ledger-service] [           main] com.zaxxer.hikari.pool.HikariPool        : "
            "HikariPool-1 - Exception during pool initialization.\n\n"
            f"org.postgresql.util.PSQLException: Connection to {DB}:5432 refused. Check that the hostname and port are "
            "correct and that the postmaster is accepting TCP/IP connections.\n"
            "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:352)\n"
            "\tat org.postgresql.core.ConnectionFactory.openConnection(ConnectionFactory.java:54)\n"
            "\tat org.postgresql.jdbc.PgConnection.<init>(PgConnection.java:273)\n"
            "Caused by: java.net.ConnectException: Connection refused\n"
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)\n"
            f"{t} ERROR 1 --- [ledger-service] [           main] o.s.boot.SpringApplication               : "
            "Application run failed")


EXPECTED = {"category": "dependency_unavailable", "component": "ledger-service", "action": "none", "rationale": (
    f"new ledger-service pods die in Hikari pool initialisation with 'Connection to {DB}:5432 refused'; the "
    "surviving pod and payouts-worker see the same refusals since 06:55, so the managed database outside the "
    "cluster is not accepting connections (maintenance). Nothing to do in-cluster until it is back; the "
    "deployment has not changed in 9 days. finance-reports' ImagePullBackOff is an unrelated neighbour. Sources: "
    "HikariCP/PgJDBC refusal text (reportportal/reportportal#1650, palantir/atlasdb#1762); pgx 'dial error ... "
    "connect: connection refused'; KubePodCrashLooping rule (prometheus-operator/kube-prometheus).")}


def build() -> Bundle:
    b = Bundle("ledger-crashloop", "KubePodCrashLooping in finance", "2026-11-19T07:20:00Z", EXPECTED)
    nodes = b.nodes(["ip-10-81-1-40.eu-west-1.compute.internal", "ip-10-81-2-41.eu-west-1.compute.internal"],
                    ["10.81.1.40", "10.81.2.41"], ["eu-west-1a", "eu-west-1b"])
    nodes.append(b.node("ip-10-81-3-42.eu-west-1.compute.internal", "10.81.3.42", zone="eu-west-1c",
                        created=60)["metadata"]["name"])
    led = b.deployment(NS, "ledger-service", [ctr("ledger-service", "registry.acme.io/finance/ledger-service:4.9.2",
                                                  cpu="1", mem="1536Mi", mem_limit="2Gi",
                                                  env=[{"name": "SPRING_DATASOURCE_URL",
                                                        "value": f"jdbc:postgresql://{DB}:5432/ledger"}])],
                       replicas=3, ready=1, revisions=[(9 * 1440, None, None)])
    alive = b.pod(led, nodes[0], Running(9 * 1440), created=9 * 1440)
    crashing = []
    for i, n in enumerate(nodes[1:]):
        p = b.pod(led, n, Waiting("CrashLoopBackOff", "back-off 2m40s restarting failed container=ledger-service",
                                  restarts=6 - i, last=Ended(1, "Error", 2.9 + i, 2.6 + i)), created=21 - i)
        crashing.append(p)
        for k in range(6 - i):
            m = 20.5 - i - k * 3.2
            b.log(p, m, spring_failure(b, m))
        b.kubectl_logs(p, spring_failure(b, 2.6 + i), previous=True)
        b.event(NS, ("Pod", p), "BackOff", f"Back-off restarting failed container ledger-service in pod {p}_{NS}"
                f"({b.uid('Pod', NS, p)})", first=18, last=1, count=44, type="Warning", host=n)
    for m in range(178, 0, -2):
        if m > DOWN:
            b.log(alive, m, f"{b.at(m).strftime('%Y-%m-%dT%H:%M:%S')}.{m * 3 % 1000:03d}Z  INFO 1 --- [ledger-service] "
                            f"[nio-8080-exec-{m % 8 + 1}] c.a.finance.ledger.PostingController  : posted journal "
                            f"J-{771000 + m} lines=4")
        else:
            b.log(alive, m, f"{b.at(m).strftime('%Y-%m-%dT%H:%M:%S')}.{m * 3 % 1000:03d}Z  WARN 1 --- [ledger-service] "
                            "[onnection adder] com.zaxxer.hikari.pool.PoolBase          : HikariPool-1 - Pool is empty, "
                            f"failed to create/setup connection (Connection to {DB}:5432 refused.)")
    pay = b.deployment(NS, "payouts-worker", [ctr("payouts", "registry.acme.io/finance/payouts-worker:2.2.0", cpu="250m",
                                                  mem="512Mi", mem_limit="1Gi")], replicas=1,
                       revisions=[(15 * 1440, None, None)])
    pw = b.pod(pay, nodes[0], Running(15 * 1440), created=15 * 1440)
    for m in range(DOWN - 1, 0, -4):
        b.log(pw, m, f'time="{b.ts(m)}" level=error msg="payout batch deferred" error="failed to connect to '
                     f"`host={DB} user=payouts database=ledger`: dial error (dial tcp 10.81.200.17:5432: connect: "
                     'connection refused)"', stream="stderr")

    old = [ctr("reports", "registry.acme.io/finance/finance-reports:1.31.0", cpu="250m", mem="256Mi", mem_limit="512Mi")]
    new_image = "registry.acme.io/finance/finance-reports:1.32.0"
    rep = b.deployment(NS, "finance-reports", [ctr("reports", new_image, cpu="250m", mem="256Mi", mem_limit="512Mi")],
                       replicas=2, ready=2, revisions=[(20 * 1440, old, None), (15, None, None)], rs_replicas=[2, 1])
    for n in nodes[:2]:
        b.pod(rep, n, Running(20 * 1440), created=20 * 1440, containers=old, owner=("ReplicaSet", rep.replicasets[0]))
    bad = b.pod(rep, nodes[2], Waiting("ImagePullBackOff", f'Back-off pulling image "{new_image}"'), created=15)
    image_pull_events(b, NS, bad, new_image, nodes[2], first=15, count=5)

    ksm = {"job": "kube-state-metrics", "namespace": NS}
    for i, p in enumerate(crashing):
        starts = [20.5 - i - k * 3.2 for k in range(6 - i)]
        done = lambda m, s=starts: sum(1 for x in s if x >= m)  # noqa: E731
        b.counter("kube_pod_container_status_restarts_total", {**ksm, "pod": p, "container": "ledger-service"},
                  lambda m, d=done: d(m) - d(m + 1))
        b.gauge("kube_pod_container_status_waiting_reason", {**ksm, "pod": p, "container": "ledger-service",
                                                             "reason": "CrashLoopBackOff"},
                lambda m, s=starts: None if m > s[0] + 0.5 else (1 if int(m) % 3 else 0))
    b.gauge("kube_pod_container_status_waiting_reason", {**ksm, "pod": bad, "container": "reports",
                                                         "reason": "ImagePullBackOff"},
            lambda m: None if m > 15 else 1)
    b.gauge("hikaricp_connections_active", {"namespace": NS, "pod": alive, "pool": "HikariPool-1"},
            lambda m: 6 + m % 4 if m > DOWN else 0)
    b.gauge("hikaricp_connections_max", {"namespace": NS, "pod": alive, "pool": "HikariPool-1"}, 20)
    b.gauge("hikaricp_connections_pending", {"namespace": NS, "pod": alive, "pool": "HikariPool-1"},
            lambda m: 0 if m > DOWN else 11 + m % 5)

    b.alert = kp_alert(b, {"alertname": "KubePodCrashLooping", "container": "ledger-service", "namespace": NS,
                           "pod": crashing[0], "reason": "CrashLoopBackOff", "severity": "warning",
                           "job": "kube-state-metrics"}, started=3)
    return b
