"""Individual rules of the offline engine on synthetic tool results (no backends)."""
from __future__ import annotations

from agents.offline import rules, rules_infra
from agents.offline.engine import calibrate, choose
from agents.offline.logsig import classify, hosts_in, slow_ms
from agents.offline.remedy import mem_text, propose
from agents.offline.scope import job_workload, scope_from_trigger, workload_of_pod
from agents.offline.signals import Hypothesis
from agents.trigger import Trigger
from tests.offline_support import (ago, ctx_of, obs, deploy, deployments_obs, event, events_obs, logs_obs, named, pod,
                                   pod_logs_obs, pods_obs, rate_obs, row)

DEP = "Deployment/{0} (via ReplicaSet/{0}-{1})"


# ---------------------------------------------------------------- scope and signatures
def test_workload_names_follow_controller_naming():
    assert workload_of_pod("cart-h28nlk7vcb-hsb6l") == ("cart", "Deployment")
    assert workload_of_pod("nightly-export-29445120-k2k9z") == ("nightly-export", "CronJob")
    assert workload_of_pod("orders-db-0") == ("orders-db", "StatefulSet")
    assert workload_of_pod("api-gateway")[0] == "api-gateway"   # no hash: not stripped
    assert job_workload("session-cleanup-29845620") == "session-cleanup"


def test_scope_ignores_exporter_namespace_and_reads_text():
    from tools.intake.model import build_alert

    a = build_alert(name="BlackboxProbeFailed", status="firing", source="alertmanager", raw={},
                    labels={"namespace": "monitoring", "job": "blackbox-http", "instance": "https://shop.example.org/x"})
    s = scope_from_trigger(Trigger.from_alert(a))
    assert s.namespace is None and s.exporter_alert and s.hosts == ["shop.example.org"]
    s2 = scope_from_trigger(Trigger.from_text("latency is bad for payments/ledger-api since 10:00, please check"))
    assert s2.namespace == "payments" and s2.focus == ["ledger-api"]


def test_log_signature_classes_prefer_dns_over_connection_errors():
    assert classify('dial tcp: lookup api.psp.example on 10.96.0.10:53: server misbehaving') == "dns_resolver"
    assert classify('dial tcp: lookup db.wrong.svc.cluster.local: no such host') == "dns_nxdomain"
    assert classify('dial tcp 10.0.0.4:5672: connect: connection refused') == "refused"
    assert classify('write /data/x: no space left on device') == "disk"
    assert classify('request completed status=200') is None
    assert hosts_in('Post "https://api.psp.example/v1/pay": dial tcp 1.2.3.4:443: connect: connection refused') \
        == ["api.psp.example"]
    assert slow_ms("LOG:  duration: 5123.4 ms  execute <unnamed>: SELECT 1") == 5123.4
    assert slow_ms("# Query_time: 8.5  Lock_time: 0.0") == 8500


# ---------------------------------------------------------------- pod-level causes
def test_oomkilled_with_memory_at_limit_is_oom():
    ctx = ctx_of(pods_obs("shop", pod("cart-h28nlk7vcb-hsb6l", DEP.format("cart", "h28nlk7vcb"), ready=False,
                                      restarts=5, state="waiting", reason="CrashLoopBackOff", last_reason="OOMKilled",
                                      last_exit=137, limits={"memory": "512Mi"})),
                 named("memory_vs_limit", row({"namespace": "shop", "pod": "cart-h28nlk7vcb-hsb6l", "container": "cart"},
                                              0.93, "abnormal", peak=0.99)), focus=("cart",))
    h = rules.oom_killed(ctx)
    assert h.component == "cart" and h.score >= 0.8
    assert h.params["memory_limit"] == "512Mi"
    (p,) = propose(h, ctx)
    assert p.action_type == "set_resources" and p.parameters["memory_limit"] == "768Mi"


def test_exit_137_with_low_memory_and_probe_kills_is_probe_failure_not_oom():
    name = "api-5d8f9c7b6d-x7k2p"
    ctx = ctx_of(pods_obs("acc", pod(name, DEP.format("api", "5d8f9c7b6d"), restarts=4, last_reason="Error",
                                     last_exit=137)),
                 named("memory_vs_limit", row({"namespace": "acc", "pod": name, "container": "api"}, 0.4, peak=0.45)),
                 events_obs("acc", event(f"Pod/{name}", "Unhealthy", "Liveness probe failed: Get http://x:8081/h: "
                                                                     "context deadline exceeded", 8),
                            event(f"Pod/{name}", "Killing", "Container api failed liveness probe, will be restarted",
                                  4, "Normal")),
                 pod_logs_obs("acc", name, ["GET /v1/users -> 200", "Commencing graceful shutdown"]), focus=("api",))
    assert rules.oom_killed(ctx) is None
    h = rules.probe_failure(ctx)
    assert h.component == "api" and h.score >= 0.7
    assert propose(h, ctx) == []   # probe_failure: a human fixes the probe


def test_image_pull_error_on_new_revision():
    ctx = ctx_of(pods_obs("s", pod("web-6c9bd5f7d8-aaaa2", DEP.format("web", "6c9bd5f7d8"), ready=False,
                                   state="waiting", reason="ImagePullBackOff")),
                 deployments_obs("s", deploy("web", (8, "web-6c9bd5f7d8", 15, "r/web:2"), (7, "web-7f8c9d6b5c", 900, "r/web:1"))),
                 focus=("web",), namespace="s")
    h = rules.image_pull_error(ctx)
    assert h.component == "web" and h.score >= 0.7
    (p,) = propose(h, ctx)
    assert p.action_type == "rollback_deployment" and p.risk == "HIGH" and p.parameters == {"to_revision": 7}
    bd = rules.bad_deploy(ctx)
    assert bd is None or bd.score < h.score


def _crashing_rollout(revisions, crash_in_new: bool, line: str):
    new, old = "w-6c9bd5f7d8-aaaa2", "w-7f8c9d6b5c-bbbb4"
    views = [pod(new if crash_in_new else old, DEP.format("w", "6c9bd5f7d8" if crash_in_new else "7f8c9d6b5c"),
                 ready=False, restarts=6, state="waiting", reason="CrashLoopBackOff", last_reason="Error", last_exit=1)]
    if crash_in_new:
        views.append(pod(old, DEP.format("w", "7f8c9d6b5c")))
    crashed = views[0]["name"]
    return ctx_of(pods_obs("n", *views), deployments_obs("n", deploy("w", *revisions)),
                  pod_logs_obs("n", crashed, ["starting", line]), focus=("w",), namespace="n")


def test_crash_only_in_fresh_revision_is_bad_deploy():
    ctx = _crashing_rollout([(5, "w-6c9bd5f7d8", 20, "r/w:2"), (4, "w-7f8c9d6b5c", 5000, "r/w:1")], True,
                            "panic: runtime error: invalid memory address or nil pointer dereference")
    bd, ce = rules.bad_deploy(ctx), rules.config_error(ctx)
    assert bd.component == "w" and bd.score > (ce.score if ce else 0)


def test_crash_without_recent_rollout_is_config_error():
    ctx = _crashing_rollout([(5, "w-7f8c9d6b5c", 9000, "r/w:2")], False,
                            'level=fatal msg="invalid configuration" error="DATABASE_URL is not set"')
    assert rules.bad_deploy(ctx) is None
    ce = rules.config_error(ctx)
    assert ce.component == "w" and ce.score >= 0.6


def test_first_revision_cannot_be_a_bad_deploy():
    ctx = _crashing_rollout([(1, "w-6c9bd5f7d8", 10, "r/w:1")], True, "Error: missing required env SMTP_HOST")
    assert rules.bad_deploy(ctx) is None
    assert rules.config_error(ctx).score >= 0.6


def test_refused_dependency_in_crash_log_is_dependency_not_config():
    ctx = _crashing_rollout([(5, "w-7f8c9d6b5c", 9000, "r/w:2")], False,
                            'level=fatal msg="cannot connect to broker" err="dial tcp mq.corp.example:5672: '
                            'connect: connection refused"')
    dep, ce = rules.dependency_unavailable(ctx), rules.config_error(ctx)
    assert dep.component == "w" and dep.params["dependency"] == "mq.corp.example"
    assert dep.score > (ce.score if ce else 0)


# ---------------------------------------------------------------- saturation
def _latency_ctx(throttle: float, base: float, window: float):
    p = "api-5d8f9c7b6d-x7k2p"
    return ctx_of(named("cpu_throttling_ratio", row({"namespace": "n", "pod": p, "container": "api"}, throttle,
                                                    "abnormal" if throttle > 0.25 else "normal")),
                  named("latency_p99", row({"service": "api"}, 2.1, "abnormal", since=ago(15))),
                  rate_obs("api", "n", base, window), pods_obs("n", pod(p, DEP.format("api", "5d8f9c7b6d"))),
                  focus=("api",), namespace="n")


def test_throttling_with_flat_traffic_is_cpu_throttling():
    ctx = _latency_ctx(0.7, 60, 70)
    t, s = rules.cpu_throttling(ctx), rules.traffic_spike(ctx)
    assert t.component == "api" and t.score >= 0.7 and s is None


def test_throttling_under_a_surge_is_traffic_spike():
    ctx = _latency_ctx(0.35, 60, 250)
    t, s = rules.cpu_throttling(ctx), rules.traffic_spike(ctx)
    assert s.component == "api" and s.score > t.score
    s.params["replicas"] = 4
    (p,) = propose(s, ctx)
    assert p.action_type == "scale_deployment" and 5 <= p.parameters["replicas"] <= 12


def test_pool_exhaustion_beats_slow_query_when_db_is_idle():
    p = "inv-5d8f9c7b6d-x7k2p"
    ctx = ctx_of(logs_obs([("HikariPool-1 - Connection is not available, request timed out after 30000ms", 40)], [p],
                          key="sweep_app"),
                 named("db_connections", row({"namespace": "n", "pool": "HikariPool-1"}, 1.0, "abnormal"),
                       row({"instance": "db:5432"}, 0.05)),
                 focus=("inv",), namespace="n")
    h = rules.connection_pool_exhausted(ctx)
    assert h.component == "inv" and h.score >= 0.8
    assert rules.slow_query(ctx) is None


# ---------------------------------------------------------------- below the workload
def test_dns_failure_needs_resolver_errors_not_one_bad_name():
    resolver = ctx_of(named("dns_errors", row({"rcode": "SERVFAIL"}, 0.2, "abnormal")),
                      logs_obs([("lookup api.psp.example on 10.96.0.10:53: server misbehaving", 30)],
                               ["pay-5d8f9c7b6d-x7k2p", "mail-6c9bd5f7d8-aaaa2"], key="class:dns_resolver"),
                      focus=("pay",))
    h = rules_infra.dns_failure(resolver)
    assert h.category == "dns_failure" and h.component == "coredns" and h.score >= 0.7
    one_name = ctx_of(logs_obs([("dial tcp: lookup redis.wrong.svc.cluster.local: no such host", 3)],
                               ["job-29845620-k2k9z"], key="sweep_infra"), focus=("job",))
    assert rules_infra.dns_failure(one_name) is None


def test_node_pressure_with_evictions_targets_the_node():
    ctx = ctx_of(
        obs_nodes := obs(
            "k8s_nodes", {"nodes": [{"name": "node-b", "ready": "True", "conditions": [
                {"type": "MemoryPressure", "status": "True", "since": ago(25)}], "problems": ["MemoryPressure=True"]},
                {"name": "node-a", "ready": "True", "conditions": [], "problems": []}]}),
        pods_obs("p", pod("rec-5d8f9c7b6d-x7k2p", DEP.format("rec", "5d8f9c7b6d"), phase="Failed", ready=False,
                          node="node-b", pod_reason="Evicted", message="The node was low on resource: memory.")))
    assert obs_nodes.ok
    h = rules_infra.node_pressure(ctx)
    assert h.component == "node-b" and h.score >= 0.6
    (p,) = propose(h, ctx)
    assert p.action_type == "cordon_node" and p.namespace is None and p.risk == "HIGH"


def test_expired_certificate_points_at_the_serving_workload():
    ctx = ctx_of(named("certificate_expiry", row({"instance": "https://partners.example.com/h"}, -0.5, "abnormal")),
                 logs_obs([("SSL_do_handshake() failed (SSL: sslv3 alert certificate expired) while SSL handshaking", 50)],
                          ["partner-gw-5d8f9c7b6d-x7k2p"], key="class:tls_expired"))
    h = rules_infra.certificate_expired(ctx)
    assert h.component == "partner-gw" and h.score >= 0.8


def test_full_volume_with_enospc_is_disk_full():
    ctx = ctx_of(named("filesystem_free", row({"namespace": "p", "persistentvolumeclaim": "ingest-spool"}, 0.001,
                                              "abnormal")),
                 logs_obs([("write /var/spool/x: no space left on device", 90)], ["ingest-5d8f9c7b6d-x7k2p"],
                          key="sweep_infra"), focus=("ingest",))
    h = rules_infra.disk_full(ctx)
    assert h.component == "ingest" and h.score >= 0.8 and h.params["volume"] == "ingest-spool"


# ---------------------------------------------------------------- choosing
def test_near_tie_with_thin_evidence_is_unknown_and_confidence_is_never_certain():
    a = Hypothesis("cpu_throttling", 0.45, "a")
    b = Hypothesis("slow_query", 0.42, "b")
    chosen, _ = choose([a, b])
    assert chosen.category == "unknown" and calibrate(chosen, [a, b]) <= 0.3
    strong = Hypothesis("oom_killed", 1.0, "a")
    chosen, _ = choose([strong])
    assert chosen is strong and calibrate(chosen, [strong]) < 1.0


def test_memory_rounding():
    assert mem_text(512 * 1024**2 * 1.5) == "768Mi" and mem_text(1024**3 * 2) == "2Gi"
