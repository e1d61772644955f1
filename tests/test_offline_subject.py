"""Issue 14, the subject first: the alert's own workload is read and judged before any neighbour, its
own text is evidence, a crash loop that exits 0 is a crash, heartbeats are not incidents.

Each bundle is built here (names and texts unlike the handmade set's), replayed through the real tools
without Prometheus, and diagnosed through the whole session."""
from __future__ import annotations

from agents.offline.features import extract
from tests.bundle_support import calls, diagnose, kit
from tests.offline_support import NOW, obs

EXPECTED = {"category": "unknown", "component": "-", "action": "none", "rationale": "built by a test"}


def _cron_job_with_unrelated_neighbour():
    k = kit()
    b = k.Bundle("t-ledger-compact", "KubeJobFailed in ops", "2031-03-02T04:10:00Z", EXPECTED)
    n1, n2 = b.nodes(["worker-a", "worker-b"], ["10.1.0.1", "10.1.0.2"], ["z1", "z2"])
    ok_cmd = "set -e; rsync -a --delete /data/ledger/ /backup/ledger/ && echo compacted"
    run = lambda cmd: k.ctr("compact", "registry.example/ops/tools:2.0", cpu="100m", mem="128Mi",  # noqa: E731
                            command=["/bin/bash", "-c"], args=[cmd])
    b.cronjob("ops", "ledger-compact", [run(ok_cmd.replace("rsync", "rsyncc"))], schedule="0 4 * * *",
              last_schedule=10, created=100 * 1440, last_success=1450)
    prev = b.job("ops", b.cron_job_name("ledger-compact", 1450), [run(ok_cmd)], started=1450, cron="ledger-compact",
                 succeeded=1, ended=1449)
    b.pod(prev, n1, k.Done(k.Ended(0, "Completed", 1449.9, 1449.5)), created=1450)
    name = b.cron_job_name("ledger-compact", 10)
    job = b.job("ops", name, [run(ok_cmd.replace("rsync", "rsyncc"))], started=10, cron="ledger-compact", failed=3,
                ended=9)
    for start in (10, 9.8, 9.5):
        p = b.pod(job, n2, k.Done(k.Ended(127, "Error", start - 0.02, start - 0.03)), created=start)
        b.kubectl_logs(p, "bash: line 1: rsyncc: command not found")
    b.event("ops", ("Job", name), "BackoffLimitExceeded", "Job has reached the specified backoff limit", first=9,
            type="Warning", source="job-controller")
    old = [k.ctr("status-page", "registry.example/ops/status-page:4.1", cpu="50m", mem="64Mi")]
    new_image = "registry.example/ops/status-page:4.2"
    page = b.deployment("ops", "status-page", [k.ctr("status-page", new_image, cpu="50m", mem="64Mi")], replicas=2,
                        revisions=[(30 * 1440, old, None), (12, None, None)], rs_replicas=[2, 1])
    for n in (n1, n2):
        b.pod(page, n, k.Running(30 * 1440), created=30 * 1440, containers=old, owner=("ReplicaSet", page.replicasets[0]))
    bad = b.pod(page, n2, k.Waiting("ImagePullBackOff", f'Back-off pulling image "{new_image}"'), created=12)
    k.image_pull_events(b, "ops", bad, new_image, n2, first=12, count=6)
    b.alert = k.kp_alert(b, {"alertname": "KubeJobFailed", "job_name": name, "namespace": "ops", "severity": "warning",
                             **k.ksm_target(b)}, started=5)
    return b, bad


async def test_the_failed_job_is_explained_and_the_unlinked_neighbour_ruled_out(tmp_path):
    b, neighbour_pod = _cron_job_with_unrelated_neighbour()
    res = await diagnose(b, tmp_path)
    d = res.diagnosis
    assert (d.category, d.component, d.proposals) == ("config_error", "ledger-compact", [])
    # The subject and its state, the decisive line verbatim, the near-miss the last good run used.
    assert "CronJob ops/ledger-compact" in d.summary and "BackoffLimitExceeded" in d.summary
    assert '"bash: line 1: rsyncc: command not found"' in d.summary and "did you mean rsync?" in d.summary
    # Logs were read from the subject's pods, not from the neighbour's.
    read = {a["pod"] for a in calls(res, "k8s_pod_logs")}
    assert read and all(p.startswith("ledger-compact-") for p in read) and neighbour_pod not in read
    # The neighbour is named only under "ruled out", with why; never in the evidence.
    assert any(r.category == "image_pull_error" and r.component == "status-page" and "nothing links it" in r.reason
               for r in d.ruled_out)
    assert not any("status-page" in e.finding for e in d.evidence)


def _throttled_with_crashing_neighbour():
    k = kit()
    b = k.Bundle("t-pdf-worker", "CPUThrottlingHigh for docs/pdf-worker", "2031-05-10T09:00:00Z", EXPECTED)
    nodes = b.nodes(["w1", "w2"], ["10.2.0.1", "10.2.0.2"], ["z1", "z2"], cpu=16)
    w = b.deployment("docs", "pdf-worker", [k.ctr("pdf-worker", "registry.example/docs/pdf-worker:7.0", cpu="25m",
                                                  cpu_limit="50m", mem="256Mi", mem_limit="512Mi")], replicas=2)
    pods = [b.pod(w, n, k.Running(9 * 1440), created=9 * 1440) for n in nodes]
    for m in range(60, 0, -3):
        b.log(pods[m % 2], m, f"INFO pdf rendered doc={9000 + m} pages=4 done in {6100 + m * 11}ms")
    sync = b.deployment("docs", "billing-sync", [k.ctr("sync", "registry.example/docs/sync:1.0", cpu="100m",
                                                       mem="128Mi")], replicas=1)
    b.pod(sync, nodes[0], k.Waiting("CrashLoopBackOff", "back-off 5m0s", restarts=9, last=k.Ended(1, "Error", 3, 2.9)),
          created=200)
    b.alert = k.kp_alert(b, {"alertname": "CPUThrottlingHigh", "container": "pdf-worker", "namespace": "docs",
                             "pod": pods[0], "severity": "info"}, started=30, value="97.2%")
    return b


async def test_the_alerts_own_text_is_evidence_of_cpu_throttling(tmp_path):
    res = await diagnose(_throttled_with_crashing_neighbour(), tmp_path)
    d = res.diagnosis
    assert (d.category, d.component) == ("cpu_throttling", "pdf-worker")
    assert "97.2%" in d.summary and "50m" in d.summary
    # The proposal starts from the limit the pod spec has, not from a default.
    (p,) = d.proposals
    assert p.action_type == "set_resources" and p.parameters["cpu_limit"] == "100m" and "50m -> 100m" in p.rationale
    assert any(e.tool == "alert" for e in d.evidence)


def _exit_zero_loop():
    k = kit()
    b = k.Bundle("t-relay", "KubePodCrashLooping in queues", "2031-02-01T12:00:00Z", EXPECTED)
    (n1,) = b.nodes(["w1"], ["10.3.0.1"], ["z1"])
    sts = b.statefulset("queues", "queue-relay", [k.ctr("relay", "registry.example/q/relay:3.3", cpu="100m",
                                                         mem="128Mi")], replicas=1, ready=0)
    b.pod(sts, n1, k.Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=relay", restarts=8,
                             last=k.Ended(0, "Completed", 2.1, 2.0)), created=300, name="queue-relay-0")
    b.kubectl_logs("queue-relay-0", "relay: config loaded from /etc/relay/relay.toml\nrelay: forking into background",
                   previous=True)
    b.alert = k.kp_alert(b, {"alertname": "KubePodCrashLooping", "container": "relay", "namespace": "queues",
                             "pod": "queue-relay-0", "reason": "CrashLoopBackOff", "severity": "warning",
                             "job": "kube-state-metrics"}, started=20)
    return b


async def test_a_crash_loop_that_exits_zero_is_abnormal(tmp_path):
    d = (await diagnose(_exit_zero_loop(), tmp_path)).diagnosis
    assert (d.category, d.component) == ("config_error", "queue-relay")
    assert "exit 0" in d.summary and "CrashLoopBackOff" in d.summary
    assert '"relay: forking into background"' in d.summary


def _heartbeat(alertname: str, description: str, labels: dict):
    k = kit()
    b = k.Bundle("t-heartbeat", f"{alertname} received", "2031-01-01T00:00:00Z", EXPECTED)
    (n1,) = b.nodes(["w1"], ["10.4.0.1"], ["z1"])
    w = b.deployment("media", "encoder", [k.ctr("encoder", "registry.example/media/encoder:1", cpu="1", mem="1Gi")],
                     replicas=1)
    b.pod(w, n1, k.Waiting("CrashLoopBackOff", "back-off", restarts=30, last=k.Ended(137, "OOMKilled", 2, 1.9)),
          created=600)
    b.alert = {"status": "firing", "labels": {"alertname": alertname, **labels},
               "annotations": {"description": description, "summary": description.split(".")[0]},
               "startsAt": b.ts(60 * 24), "endsAt": "0001-01-01T00:00:00Z",
               "generatorURL": "http://prometheus:9090/graph?g0.expr=vector%281%29&g0.tab=1", "fingerprint": "f1"}
    return b


async def test_heartbeat_and_inhibitor_alerts_are_not_incidents(tmp_path):
    for alertname, text, labels in (
            ("DeadMansSwitch", "An alert that should always be firing to certify that Alertmanager is working.",
             {"severity": "none"}),
            ("InfoInhibitor", "This is an alert that is used to inhibit info alerts.",
             {"severity": "none", "namespace": "media", "container": "encoder"})):
        res = await diagnose(_heartbeat(alertname, text, labels), tmp_path / alertname)
        d = res.diagnosis
        assert (d.category, d.component, d.proposals) == ("unknown", alertname, []), d.summary
        assert "not an incident" in d.summary and "encoder" not in d.summary
        assert res.tool_calls == 0  # nothing to investigate


def test_the_engine_reads_the_tools_typed_workload_not_their_rendered_owner():
    view = {"name": "api-7d9f8c6b5-x2x4q", "phase": "Running", "ready": "1/1", "owner": "rendered for a reader",
            "controller": {"kind": "ReplicaSet", "name": "api-7d9f8c6b5"},
            "workload": {"kind": "Deployment", "name": "api"}, "containers": [{"name": "api", "ready": True}]}
    job = {"name": "nightly-29000000-abcde", "phase": "Failed", "ready": "0/1",
           "controller": {"kind": "Job", "name": "nightly-29000000"}, "workload": {"kind": "Job", "name": "nightly-29000000"},
           "containers": [{"name": "run", "state": "terminated", "exit_code": 1}]}
    f = extract([obs("k8s_pods", {"namespace": "shop", "pods": [view, job]}, namespace="shop"),
                 obs("k8s_jobs", {"namespace": "shop", "jobs": [{"name": "nightly-29000000", "owner": "CronJob/reports",
                                                                 "status": "Failed"}]}, namespace="shop")], NOW)
    assert (f.pods[view["name"]].workload, f.pods[view["name"]].owner_rs) == ("api", "api-7d9f8c6b5")
    # The CronJob comes from the Job's ownerReference (k8s_jobs), not from the Job's name.
    assert (f.pods[job["name"]].workload, f.pods[job["name"]].kind) == ("reports", "CronJob")


def test_a_neighbour_is_linked_only_through_structured_data():
    from agents.offline.facts import Pod
    from agents.offline.features import Facts
    from agents.offline.subject import links

    def p(name, wl, node="n1", **kw):
        return Pod(name=f"{wl}-5d8f9-{name}", namespace="ns", workload=wl, node=node, **kw)
    pods = [p("a1", "api", uses={"pvcs": ["uploads"], "configmaps": ["api-conf"]}, config_hosts=["ledger-db"]),
            p("b1", "thumbs", uses={"pvcs": ["uploads"]}),            # mounts the same claim
            p("c1", "ledger-db", node="n2"),                           # the subject's env names it
            p("d1", "cache", node="n2"),                               # the subject's logs name its Service
            p("e1", "api-canary", node="n2"),                          # behind the subject's Service
            p("f1", "broken", uses={"configmaps": ["other"]}),        # same namespace and node: no link
            p("g1", "stale", uses={"secrets": ["api-conf"]})]          # same name, another kind: no link
    f = Facts(now=NOW, pods={x.name: x for x in pods},
              services={("ns", "redis"): ["cache-5d8f9-d1"], ("ns", "api"): ["api-5d8f9-a1", "api-canary-5d8f9-e1"]},
              pod_logs={"api-5d8f9-a1": [("dial tcp redis.ns.svc.cluster.local:6379: connect: connection refused",
                                          True)]})
    got = links(f, {"api"})
    assert set(got) == {"thumbs", "ledger-db", "cache", "api-canary"}, got
    assert "uploads" in got["thumbs"] and "ledger-db" in got["ledger-db"] and "redis" in got["cache"]
    assert links(f, set()) == {}
