"""The kube-prometheus Watchdog heartbeat reached the bot's webhook (a routing slip, not an incident).

Watchdog is `vector(1)`: always firing, by design, so a dead-man's-switch service can notice when it
stops. The expected answer is that this is the heartbeat and nothing is wrong with it: category
unknown, component the alert name, no action (the labelling convention in scenarios/README.md).
Traps: the cluster is not spotless. payments/ledger-api crash-loops (bad Secret key) and a
ml-training pod is Pending, so an engine that treats the heartbeat as an incident finds a "cause".
"""
from kit import Bundle, Ended, Running, Waiting, ctr, kp_alert


EXPECTED = {"category": "unknown", "component": "Watchdog", "action": "none", "rationale": (
    "Watchdog is kube-prometheus' always-firing heartbeat (expr vector(1), severity none): receiving it means the "
    "alerting pipeline works. Nothing to diagnose and nothing to do; it should be routed to a dead-man's-switch "
    "receiver, not to incident chat. The ledger-api crash loop and the Pending trainer are unrelated to this alert. "
    "Labelled category unknown, component Watchdog, action none (scenarios/README.md, heartbeat alerts). "
    "Source: prometheus-operator/kube-prometheus manifests/kubePrometheus-prometheusRule.yaml (Watchdog rule "
    "text).")}


def build() -> Bundle:
    b = Bundle("watchdog-alert", "Watchdog alert received", "2026-11-11T09:00:00Z", EXPECTED)
    nodes = b.nodes(["ip-10-70-1-10.eu-central-1.compute.internal", "ip-10-70-2-11.eu-central-1.compute.internal",
                     "ip-10-70-3-12.eu-central-1.compute.internal"], ["10.70.1.10", "10.70.2.11", "10.70.3.12"],
                    ["eu-central-1a", "eu-central-1b", "eu-central-1c"])
    led = b.deployment("payments", "ledger-api", [ctr("ledger-api", "registry.acme.io/payments/ledger-api:6.0.1",
                                                      cpu="500m", mem="512Mi", mem_limit="1Gi")], replicas=2, ready=1,
                       revisions=[(3 * 1440, None, None)])
    b.pod(led, nodes[0], Running(3 * 1440), created=3 * 1440)
    bad = b.pod(led, nodes[1], Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=ledger-api",
                                       restarts=23, last=Ended(1, "Error", 3.1, 3.0)), created=130)
    b.log(bad, 3.0, "panic: config: LEDGER_SIGNING_KEY is not valid base64: illegal base64 data at input byte 43",
          stream="stderr")
    b.event("payments", ("Pod", bad), "BackOff", "Back-off restarting failed container ledger-api in pod "
            f"{bad}_payments({b.uid('Pod', 'payments', bad)})", first=58, last=1, count=240, type="Warning",
            host=nodes[1])
    train = b.deployment("ml", "trainer", [ctr("trainer", "registry.acme.io/ml/trainer:0.14.2", cpu="30", mem="96Gi",
                                               mem_limit="96Gi")], replicas=1, ready=0,
                         revisions=[(50, None, None)])
    tp = b.pod(train, None, [], created=50, pending="0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient "
               "memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")
    b.event("ml", ("Pod", tp), "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. "
            "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.", first=50, last=2,
            count=19, type="Warning", source="default-scheduler")
    web = b.deployment("web", "storefront", [ctr("storefront", "registry.acme.io/web/storefront:21.3.0", cpu="500m",
                                                 mem="512Mi", mem_limit="1Gi")], replicas=3,
                       revisions=[(2 * 1440, None, None)])
    for n in nodes:
        b.pod(web, n, Running(2 * 1440), created=2 * 1440)

    for job, inst in (("apiserver", "10.70.0.2:443"), ("kubelet", "10.70.1.10:10250"), ("node-exporter", "10.70.1.10:9100"),
                      ("kube-state-metrics", "10.42.1.7:8080"), ("alertmanager", "10.42.2.9:9093")):
        b.gauge("up", {"job": job, "instance": inst}, 1)
    restarts = lambda m: 0 if m > 130 else int((130 - m) / 5.4)  # noqa: E731
    b.counter("kube_pod_container_status_restarts_total", {"job": "kube-state-metrics", "namespace": "payments",
                                                           "pod": bad, "container": "ledger-api"},
              lambda m: restarts(m) - restarts(m + 1))
    b.counter("alertmanager_notifications_total", {"job": "alertmanager", "instance": "10.42.2.9:9093",
                                                   "integration": "webhook"}, lambda m: 1.0 if m % 5 == 0 else 0.0,
              start=48_311)

    b.alert = kp_alert(b, {"alertname": "Watchdog", "prometheus": "monitoring/kube-prometheus-stack-prometheus",
                           "severity": "none"}, started=12 * 1440 + 37)
    return b
