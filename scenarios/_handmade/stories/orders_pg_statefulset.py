"""KubeStatefulSetReplicasMismatch for the orders Postgres StatefulSet; metrics, logs and Kubernetes.

WAL archiving (wal-g to S3) has failed with 403 AccessDenied since an IAM role rotation, so Postgres
keeps every WAL segment and the primary's volume data-orders-pg-0 fills up. 38 minutes ago it hit
0 bytes: PANIC "could not write to file pg_wal/xlogtemp...: No space left on device", and every
restart since dies on 'could not write lock file "postmaster.pid": No space left on device'.
Trap: orders-api (Spring Boot) now logs "Connection to orders-pg:5432 refused" and serves 5xx,
which looks like a dependency problem of orders-api.
"""
from kit import Bundle, Ended, Running, Waiting, ctr, kp_alert, ksm_target

NS = "shop-data"
GI = 1024 ** 3
FULL_AT = 38  # minutes ago the primary's volume ran out


def pg_ts(b: Bundle, m: float) -> str:
    return b.at(m).strftime("%Y-%m-%d %H:%M:%S.") + f"{int(m * 997) % 1000:03d} UTC"


EXPECTED = {"category": "disk_full", "component": "orders-pg", "action": "none", "rationale": (
    "orders-pg-0's volume data-orders-pg-0 reached 0 bytes free 38 minutes ago after hours of failed WAL "
    "archiving (wal-g AccessDenied 403): Postgres PANICs on pg_wal 'No space left on device' and every restart "
    "fails to write postmaster.pid. Expand or clean the volume and fix archiving; orders-api's refused "
    "connections are a consequence. Sources: KubeStatefulSetReplicasMismatch rule (prometheus-operator/"
    "kube-prometheus); Postgres ENOSPC messages in openstate/open-raadsinformatie#427 (pg_wal/xlogtemp), "
    "holos-run/holos#97 (postmaster.pid), docker-library/postgres#248 (PANIC, signal 6); WAL piling up when "
    "archiving/backups fail (CrunchyData/postgres-operator-examples#275).")}


def build() -> Bundle:
    b = Bundle("orders-pg-replicas-mismatch", "KubeStatefulSetReplicasMismatch for orders-pg",
               "2026-11-07T11:30:00Z", EXPECTED)
    n1, n2, n3 = b.nodes(["ip-10-60-1-14.ec2.internal", "ip-10-60-2-201.ec2.internal", "ip-10-60-3-9.ec2.internal"],
                         ["10.60.1.14", "10.60.2.201", "10.60.3.9"], ["us-east-1a", "us-east-1b", "us-east-1c"],
                         instance_type="r6i.xlarge")

    pg = ctr("postgres", "registry.acme.io/platform/postgres-walg:16.4-3.0.3", cpu="2", mem="8Gi", mem_limit="8Gi",
             ports=[{"containerPort": 5432, "name": "postgres"}],
             volumeMounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}])
    sts = b.statefulset(NS, "orders-pg", [pg], replicas=2, ready=1, claims=[("data", "50Gi")])
    crash = Ended(1, "Error", 1.6, 1.5)
    p0 = b.pod(sts, n1, Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=postgres pod=orders-pg-0"
                                f"_{NS}({b.uid('Pod', NS, 'orders-pg-0')})", restarts=9, last=crash),
               created=64 * 1440, name="orders-pg-0")
    p1 = b.pod(sts, n2, Running(64 * 1440), created=64 * 1440, name="orders-pg-1")
    for i in (0, 1):
        b.pvc(NS, f"data-orders-pg-{i}", "50Gi", f"pvc-{b.uid('pv', i)}", created=200 * 1440, labels={"app": "orders-pg"})
    b.service(NS, "orders-pg", {"app": "orders-pg", "statefulset.kubernetes.io/pod-name": "orders-pg-0"},
              [("postgres", 5432, 5432)], "172.20.91.4")
    b.service(NS, "orders-pg-headless", {"app": "orders-pg"}, [("postgres", 5432, 5432)], None)
    b.event(NS, ("Pod", p0), "BackOff", f"Back-off restarting failed container postgres in pod {p0}_{NS}"
            f"({b.uid('Pod', NS, p0)})", first=36, last=1, count=61, type="Warning", host=n1)
    b.event(NS, ("Pod", p0), "Pulled", 'Container image "registry.acme.io/platform/postgres-walg:16.4-3.0.3" already '
            "present on machine", first=37, last=1.6, count=9, host=n1)

    # Postgres: archiving fails for hours, then the volume is full.
    for m in range(178, FULL_AT, -4):
        seg = f"00000001000000A7{0x40 + (178 - m) // 4:08X}"
        b.log(p0, m, f"ERROR: {b.at(m).strftime('%Y/%m/%d %H:%M:%S')}.297931 failed to upload "
                     f"'wal_005/{seg}.br' to bucket 'acme-pg-archive': AccessDenied: Access Denied\n"
                     f"\tstatus code: 403, request id: {b.hash(16, 'req', m).upper()}", stream="stderr")
        b.log(p0, m - 0.01, f"{pg_ts(b, m)} [87] LOG:  archive command failed with exit code 1\n"
                            f"{pg_ts(b, m)} [87] DETAIL:  The failed archive command was: wal-g wal-push pg_wal/{seg}",
              stream="stderr")
        if m % 12 == 2:
            b.log(p0, m - 0.02, f'{pg_ts(b, m)} [87] WARNING:  archiving write-ahead log file "{seg}" failed too many '
                                "times, will try again later", stream="stderr")
    b.log(p0, FULL_AT, f'{pg_ts(b, FULL_AT)} [4311] PANIC:  could not write to file "pg_wal/xlogtemp.4311": No space '
                       "left on device\n"
                       f"{pg_ts(b, FULL_AT)} [4311] CONTEXT:  writing block 0 of relation base/16384/24611\n"
                       f"{pg_ts(b, FULL_AT)} [1] LOG:  server process (PID 4311) was terminated by signal 6: Aborted\n"
                       f"{pg_ts(b, FULL_AT)} [1] LOG:  terminating any other active server processes\n"
                       f"{pg_ts(b, FULL_AT)} [1] LOG:  shutting down because restart_after_crash is off", stream="stderr")
    restarts = [36.5, 35.9, 34.8, 33.1, 30.0, 25.1, 20.0, 14.9, 9.8, 4.7]
    lock = "FATAL:  could not write lock file \"postmaster.pid\": No space left on device"
    for m in restarts:
        b.log(p0, m, f"{pg_ts(b, m)} [1] {lock}", stream="stderr")
    b.kubectl_logs(p0, f"{pg_ts(b, 1.55)} [1] {lock}", container="postgres")
    b.kubectl_logs(p0, f"{pg_ts(b, 4.65)} [1] {lock}", container="postgres", previous=True)
    for m in range(175, 0, -15):
        b.log(p1, m, f"{pg_ts(b, m)} [212] LOG:  restartpoint complete: wrote {1200 + m} buffers (0.9%); 0 WAL file(s) "
                     f"added, 0 removed, 3 recycled; write=269.904 s, sync=0.012 s, total=269.931 s", stream="stderr")
    b.log(p1, FULL_AT - 0.05, f"{pg_ts(b, FULL_AT - 0.05)} [205] FATAL:  could not receive data from WAL stream: "
                              "server closed the connection unexpectedly", stream="stderr")

    # orders-api: the dependent service that now fails.
    api = b.deployment("shop", "orders-api", [ctr("orders-api", "registry.acme.io/shop/orders-api:7.2.4", cpu="1",
                                                  mem="1Gi", mem_limit="2Gi", ports=[{"containerPort": 8080}])],
                       replicas=2, revisions=[(4 * 1440, None, None)])
    api_pods = [b.pod(api, n, Running(4 * 1440), created=4 * 1440) for n in (n2, n3)]
    for m in (FULL_AT - 0.2 - 3 * k for k in range(12)):
        pod = api_pods[int(m) % 2]
        b.log(pod, m, f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')}.{int(m * 31) % 1000:03d} ERROR 1 --- [nio-8080-exec-"
                      f"{int(m) % 9 + 1}] o.h.engine.jdbc.spi.SqlExceptionHelper   : Connection to orders-pg:5432 "
                      "refused. Check that the hostname and port are correct and that the postmaster is accepting "
                      "TCP/IP connections.")

    # Metrics: kubelet volume stats, kube-state-metrics, Micrometer.
    kubelet = {"job": "kubelet", "metrics_path": "/metrics"}
    free0 = lambda m: max(0.0, 6.1 * GI * (m - FULL_AT) / (180 - FULL_AT))  # noqa: E731
    for pvc, free in (("data-orders-pg-0", free0), ("data-orders-pg-1", lambda m: 31.7 * GI - (180 - m) * 2e6)):
        lab = {**kubelet, "namespace": NS, "persistentvolumeclaim": pvc}
        b.gauge("kubelet_volume_stats_available_bytes", lab, free)
        b.gauge("kubelet_volume_stats_capacity_bytes", lab, 50 * GI * 0.984)
        b.gauge("kubelet_volume_stats_used_bytes", lab, lambda m, f=free: 50 * GI * 0.984 - f(m))
    ksm = {"job": "kube-state-metrics", "namespace": NS, "statefulset": "orders-pg"}
    b.gauge("kube_statefulset_replicas", ksm, 2)
    b.gauge("kube_statefulset_status_replicas_ready", ksm, lambda m: 2 if m > FULL_AT else 1)
    b.gauge("kube_statefulset_status_replicas_updated", ksm, 2)
    done = lambda m: sum(1 for r in restarts if r >= m)  # noqa: E731
    b.counter("kube_pod_container_status_restarts_total", {"job": "kube-state-metrics", "namespace": NS,
                                                           "pod": "orders-pg-0", "container": "postgres"},
              lambda m: done(m) - done(m + 1))
    b.gauge("kube_pod_container_status_waiting_reason", {"job": "kube-state-metrics", "namespace": NS,
                                                         "pod": "orders-pg-0", "container": "postgres",
                                                         "reason": "CrashLoopBackOff"},
            lambda m: 0 if m > 36 else 1)
    b.gauge("kube_pod_container_status_last_terminated_reason", {"job": "kube-state-metrics", "namespace": NS,
                                                                 "pod": "orders-pg-0", "container": "postgres",
                                                                 "reason": "Error"}, lambda m: 1 if m <= FULL_AT else None)
    for status, rate in (("200", lambda m: 540.0 if m > FULL_AT else 40.0), ("500", lambda m: 0.0 if m > FULL_AT else 410.0)):
        b.counter("http_server_requests_seconds_count", {"namespace": "shop", "service": "orders-api", "status": status},
                  rate, start=3_000_000 * (status == "200"))

    b.alert = kp_alert(b, {"alertname": "KubeStatefulSetReplicasMismatch", "namespace": NS, "statefulset": "orders-pg",
                           "severity": "warning", **ksm_target(b, "prod-use1")}, started=22.5)
    return b
