"""Failure classes the recorded investigations (bench/recorded_eval.py) exposed, each checked without the
dataset: a subject whose name contains "exporter", a hand-fired test alert with a constant expression,
a Job failed by its pod counts alone, a driver's "All host(s) tried" line, a node full of pods; slow
calls in the subject's own ordinary lines, a Pending pod asking for an extended resource nobody
offers, a resolver error in the subject's own logs under a NetworkPolicy known only by name, a
mistyped command the runtime could not start, and the wording of fixes and states."""
from __future__ import annotations

from datetime import datetime, timezone

from agents.offline.crashlog import explain
from agents.offline.facts import Node
from agents.offline.heartbeat import heartbeat_kind
from agents.offline.logsig import classify
from agents.offline.rules_node import _pods_full
from agents.offline.scope import is_exporter_name
from agents.trigger import Trigger
from tools.intake.alertmanager import alert_from_object
from tools.k8s.jobs import job_view

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


def test_an_application_named_with_exporter_is_not_a_scraper():
    assert not is_exporter_name("analytics-exporter-fast")
    assert not is_exporter_name("analytics-exporter-fast-76897854c-cw5wh")
    for scraper in ("node-exporter", "redis-exporter-7d9f8b6c5-abcde", "prometheus-node-exporter-22ncm",
                    "kube-state-metrics"):
        assert is_exporter_name(scraper), scraper


def _trigger(labels: dict, url: str) -> Trigger:
    return Trigger.from_alert(alert_from_object({"status": "firing", "labels": labels, "generatorURL": url,
                                                 "annotations": {"summary": "The service is down"}}), at=NOW)


def test_a_constant_expression_is_a_heartbeat_only_when_the_alert_is_about_nothing():
    url = "http://prometheus:9090/graph?g0.expr=vector%281%29&g0.tab=1"
    assert heartbeat_kind(_trigger({"alertname": "PipelineCheck", "severity": "none"}, url)) == "heartbeat"
    assert heartbeat_kind(_trigger({"alertname": "AppDown", "namespace": "shop", "pod": "client"}, url)) is None


def test_a_job_whose_failed_pods_exceed_its_backoff_limit_has_failed():
    job = {"metadata": {"name": "scrape"}, "spec": {"backoffLimit": 4, "template": {"spec": {"containers": []}}},
           "status": {"failed": 5}}
    view = job_view(job, NOW)
    assert view["status"] == "Failed" and view["failure_reason"] == "BackoffLimitExceeded"
    assert job_view({**job, "status": {"failed": 4}}, NOW)["status"] == "Running"      # one retry left
    assert job_view({**job, "status": {"failed": 5, "active": 1}}, NOW)["status"] == "Running"


def test_a_driver_that_tried_every_host_cannot_reach_its_dependency():
    line = "All host(s) tried for query failed (tried: cassandra-0:9042) - no available connection"
    assert classify(line) == "refused"
    why = explain(["Starting", line], 1)
    assert why is not None and why.kind == "refused" and why.detail == "cassandra-0:9042"


def test_a_node_at_its_pod_capacity_says_the_numbers():
    full = Node(name="n1", load={"pods": 110, "pods_allocatable": "110"})
    assert "110 pods of its 110 allocatable" in _pods_full(full)
    assert _pods_full(Node(name="n1", load={"pods": 40, "pods_allocatable": "110"})) is None
    assert _pods_full(Node(name="n1", load={})) is None


# ---------------------------------------------------------------------------------------------------
# Names below are arbitrary: the rules read shapes (a duration, a resource name, a policy's selection).
from agents.offline import explain as explain_mod  # noqa: E402
from agents.offline.alerttext import alert_rows  # noqa: E402
from agents.offline.durations import durations  # noqa: E402
from agents.offline.engine import MIN_SCORE  # noqa: E402
from agents.offline.rules_config import config_error  # noqa: E402
from agents.offline.rules_dns import dns_failure  # noqa: E402
from agents.offline.rules_load import dependency_unavailable, slow_query  # noqa: E402
from agents.offline.rules_pod import unschedulable  # noqa: E402
from agents.offline.signals import Hypothesis  # noqa: E402
from agents.offline.state import state_of  # noqa: E402
from tests.offline_support import ctx_of, event, events_obs, obs, pod, pod_logs_obs, pods_obs  # noqa: E402


def test_slow_calls_in_the_subjects_ordinary_lines_are_latency_evidence():
    line = "INFO:app:Database call completed in 8.01 seconds."
    assert classify(line) == "slow_db"                      # no slow-query keyword, but a DB call and 8 s
    assert classify("INFO:app:Page rendered in 0.02 seconds.") is None
    assert durations("elapsed 1234 ms") == [1.234]          # no separator between key and value
    assert 8.0 in [round(d, 1) for d in durations("Completed 200 OK in 12ms (Views: 1.2ms | ActiveRecord: 8000.1ms)")]
    alert = alert_from_object({"status": "firing", "labels": {"alertname": "HighLatencyForShopCart", "namespace": "web",
                                                              "deployment": "cart"},
                               "annotations": {"description": "HTTP requests to the '/pay' endpoint in cart are "
                                                              "taking longer than 3 seconds"}})
    rows = alert_rows(Trigger.from_alert(alert, at=NOW))
    lat = next(r for r in rows if r.name == "latency_p99")
    assert lat.value == 3.0 and "'/pay' endpoint in cart are taking longer than 3 seconds" in lat.text
    ctx = ctx_of(pods_obs("web", pod("cart-5d9c8b7f6-x2x9z", "Deployment/cart")),
                 pod_logs_obs("web", "cart-5d9c8b7f6-x2x9z", ["INFO:app:Received request", line, "INFO:app:done"]),
                 focus=("cart",), namespace="web")
    h = slow_query(ctx)
    assert h is not None and h.component == "cart" and h.score >= MIN_SCORE
    assert any(line in e.finding for e in h.evidence)      # the decisive line, quoted


def _pending_gpu_pod(name: str, owner: str, gpus: str) -> dict:
    v = pod(name, owner, phase="Pending", ready=False, state="waiting", node=None)
    v["containers"][0].update(requests={"cpu": "1", "nvidia.com/gpu": gpus}, limits={"nvidia.com/gpu": gpus})
    v["problems"] = ["Pending"]
    return v


def test_a_pending_pod_asking_for_an_extended_resource_no_node_offers_is_unschedulable():
    p = _pending_gpu_pod("infer-6c9f7d8b5-k2j4q", "Deployment/infer", "5")
    h = unschedulable(ctx_of(pods_obs("ml", p), focus=("infer",), namespace="ml"))
    assert h is not None and h.component == "infer" and h.score >= MIN_SCORE
    assert h.params["capacity_note"].startswith("no node offers 5 nvidia.com/gpu")
    assert "add capacity" not in explain_mod._human_fix(h)
    small = obs("k8s_nodes", {"nodes": [{"name": "gpu-1", "allocatable": {"nvidia.com/gpu": "2"}}]})
    h = unschedulable(ctx_of(pods_obs("ml", p), small, focus=("infer",), namespace="ml"))
    assert h is not None and "none of the 1 known nodes" in h.evidence[0].finding   # 2 < 5
    big = obs("k8s_nodes", {"nodes": [{"name": "gpu-1", "allocatable": {"nvidia.com/gpu": "8"}}]})
    assert unschedulable(ctx_of(pods_obs("ml", p), big, focus=("infer",), namespace="ml")) is None
    fresh = {**p, "problems": []}                            # still inside the scheduler's grace
    assert unschedulable(ctx_of(pods_obs("ml", fresh), focus=("infer",), namespace="ml")) is None


def test_a_resolver_error_in_the_subjects_own_logs_decides_and_names_a_policy_that_selects_it():
    line = ("Connection error: HTTPConnectionPool(host='api.other', port=80): Max retries exceeded (Caused by "
            "NameResolutionError(\"Failed to resolve 'api.other' ([Errno -3] Try again)\"))")
    pol = obs("k8s_network_policies", {"namespace": "team", "policies": [{"name": "lockdown", "selects": ["probe"],
                                                                          "types": ["Ingress"]}]}, namespace="team")
    ctx = ctx_of(pods_obs("team", pod("probe")), pod_logs_obs("team", "probe", [line]), pol, focus=("probe",),
                 namespace="team", pods=("probe",))
    h = dns_failure(ctx)
    assert h is not None and h.score >= MIN_SCORE and h.component == "probe"
    assert any("NetworkPolicy team/lockdown selects probe's pods" in e.finding for e in h.evidence)
    assert "NetworkPolicy team/lockdown" in explain_mod._human_fix(h)


def test_a_mistyped_command_the_runtime_could_not_start_gets_its_near_miss():
    msg = ('Error: failed to create containerd task: OCI runtime create failed: unable to start container process: '
           'exec: "wgett": executable file not found in $PATH: unknown')
    v = pod("fetcher", restarts=4, state="waiting", reason="CrashLoopBackOff", last_reason="StartError",
            last_exit=128, ready=False)
    ctx = ctx_of(pods_obs("ops", v), events_obs("ops", event("Pod/fetcher", "Failed", msg)), focus=("fetcher",),
                 namespace="ops", pods=("fetcher",))
    h = config_error(ctx)
    assert h is not None and h.params["explanation"] is not None
    assert "command wgett not found (probably a typo: did you mean wget?)" in explain_mod._human_fix(h)


def test_fixes_and_states_say_what_an_sre_would_write():
    h = Hypothesis("cpu_throttling", component="web", params={"container": "app", "cpu_limit": "10m"})
    assert explain_mod._human_fix(h).startswith("increase the CPU limit of app (now 10m)")
    line = "All host(s) tried for db query failed (tried: orders-db:3333) - no available connection"
    ctx = ctx_of(pods_obs("ops", pod("checker-x7k2p", "Job/checker", state="terminated", reason="Error",
                                     exit_code=1, ready=False)),
                 pod_logs_obs("ops", "checker-x7k2p", [line]), focus=("checker",), namespace="ops")
    d = dependency_unavailable(ctx)
    assert d is not None and "checker cannot connect to orders-db:3333" in d.evidence[0].finding
    jobs = obs("k8s_jobs", {"jobs": [{"name": "checker", "status": "Failed", "failed": 2,
                                      "failure_reason": "BackoffLimitExceeded"}]}, namespace="ops")
    state = state_of(ctx_of(jobs, namespace="ops"), "checker")
    assert "Job checker failed to complete successfully (BackoffLimitExceeded, 2 failed pod(s))" in state
    ended = state_of(ctx_of(pods_obs("ops", pod("worker-x7k2p", "Job/worker", state="terminated", reason="Error",
                                                restarts=1))), "worker")
    assert "last terminated Error" in ended and "exit None" not in ended   # no code known: none invented
