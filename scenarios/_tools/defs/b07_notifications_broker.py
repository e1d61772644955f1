"""notification-worker exits at start-up because the RabbitMQ broker (a VM outside the cluster,
mq-01.internal.acme.net) refuses connections; email-sender retries without crashing; the blackbox
TCP probe of the broker fails since the outage began.

Noise: template-service rolled out 50 minutes ago (16 minutes before the outage); webhook-dispatcher
is healthy; notification-worker's last rollout is 5 days old.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, gke_nodes, go_requests, healthy_service, startup_go
from om import OM, blackbox, cadvisor, ksm_deployment, ksm_pod
from world import World, container_spec, mins, secs
from writer import Bundle, alert, kp_runbook

NOW = "2026-10-09T22:15:00Z"
DAY = 60 * 24
BROKER = "mq-01.internal.acme.net:5672"


def build() -> Bundle:
    w = World(NOW, seed=707, cluster="gke-prod-europe-west4")
    now = w.now
    gke_nodes(w, 3, pool="pool-2")
    om = OM(w, step=60)
    outage = now - mins(34)

    worker = w.deployment("notification-worker", "messaging", image="europe-docker.pkg.dev/acme/msg/notification-worker",
                          history=[("0.31.0", now - mins(DAY * 18)), ("0.32.1", now - mins(DAY * 5 + 44))], replicas=2,
                          container=container_spec("notification-worker", "x", port=9090, cpu="100m", memory="128Mi",
                                                   memory_limit="256Mi",
                                                   env={"AMQP_URL": f"amqp://notify@{BROKER}/notify",
                                                        "PREFETCH": "50"}))
    sender = w.deployment("email-sender", "messaging", image="europe-docker.pkg.dev/acme/msg/email-sender",
                          history=[("2.2.0", now - mins(DAY * 26))], replicas=1,
                          container=container_spec("email-sender", "x", port=None, cpu="100m", memory="256Mi"))
    templates = w.deployment("template-service", "messaging", image="europe-docker.pkg.dev/acme/msg/template-service",
                             history=[("1.4.2", now - mins(DAY * 9)), ("1.5.0", now - mins(50))], replicas=2,
                             container=container_spec("template-service", "x", cpu="100m", memory="128Mi"))
    hooks = w.deployment("webhook-dispatcher", "messaging", image="europe-docker.pkg.dev/acme/msg/webhook-dispatcher",
                         history=[("3.0.4", now - mins(DAY * 33))], replicas=2,
                         container=container_spec("webhook-dispatcher", "x", cpu="100m", memory="128Mi"))
    for d in (templates, hooks):
        w.service(d.name, "messaging", 80, "http")

    # The worker: consuming fine until the broker goes away, then the connection drops and it
    # exits; every restart fails to dial within ~5s (3 attempts).
    for i, p in enumerate(worker.current.pods):
        died = outage + secs(2 + i * 3)
        w.crashloop(p, died, lambda k: 5.2 + w.rng.random(), reason="Error", exit_code=1)
        runs = p.containers[0].runs
        w.chatter(p, (40, 120), lambda t, rng: ls.logrus(t, "info", "delivered notification", channel=rng.choice(
            ["push", "sms", "push", "in_app"]), template=rng.choice(["order_shipped", "password_reset", "promo_weekly"]),
            latency_ms=rng.randrange(20, 300)), until=died)
        w.log(p, died - secs(0.2), ls.logrus(died - secs(0.2), "error", "amqp connection closed",
                                             err="Exception (501) Reason: \"EOF\""), stream="stderr")
        w.log(p, died, ls.logrus(died, "fatal", "consumer stopped", err="amqp connection lost"), stream="stderr")
        for r in runs[1:]:
            t0 = r.start
            lines = [(0.05, ls.logrus(t0, "info", "starting notification-worker", version="0.32.1", prefetch=50))]
            for k in range(3):
                lines.append((0.2 + k * 1.6, ls.logrus(t0 + secs(0.2 + k * 1.6), "warning", "broker dial failed, retrying",
                                                       attempt=k + 1, err=f"dial tcp 10.20.8.14:5672: connect: connection refused")))
            end = r.end or (t0 + secs(5))
            lines.append(((end - t0).total_seconds() - 0.01, ls.logrus(end - secs(0.01), "fatal", "cannot connect to broker",
                                                                       addr=BROKER, err="dial tcp 10.20.8.14:5672: connect: connection refused")))
            for off, text in lines:
                w.log(p, t0 + secs(off), text, stream="stderr")
    for p in all_pods(worker):
        cadvisor(om, p, memory=48 * MI + om.noise(MI), cpu=np.clip(0.03 + om.noise(0.005), 0.001, None))
        ksm_pod(om, p)
    ksm_deployment(om, worker)

    for p in all_pods(sender):
        w.chatter(p, (50, 140), lambda t, rng: ls.python_log(t, "INFO", "sender.worker",
                                                             f"sent message id=<{rng.hex(12)}@mail.acme.com> "
                                                             f"provider=ses status=250"), until=outage)
        w.chatter(p, (5, 6), lambda t, rng: (ls.python_log(
            t, "ERROR", "kombu.connection", f"Connection to broker lost: [Errno 111] Connection refused. "
                                            f"Trying again in 5.00 seconds..."), "stderr"), since=outage + secs(3))
    healthy_service(w, om, sender, mem_mi=150, cpu=0.02, http=False)
    healthy_service(w, om, templates, rps=9, mem_mi=60, cpu=0.01,
                    maker=go_requests("template-service", ["/v1/render/order_shipped", "/v1/render/promo_weekly"]))
    for p in templates.current.pods:
        w.on_runs(p, startup_go("template-service", "1.5.0", [
            lambda t: ls.zap(t, "warn", "template cache disabled: TEMPLATE_CACHE_TTL not set, using 0",
                             caller="internal/cache/cache.go:33")]))
    healthy_service(w, om, hooks, rps=14, mem_mi=70, cpu=0.02,
                    maker=go_requests("webhook-dispatcher", ["/v1/hooks/dispatch"], style="logrus"))
    for p in all_pods(hooks):
        w.chatter(p, (300, 900), lambda t, rng: (ls.logrus(t, "warning", "webhook endpoint returned non-2xx",
                                                           endpoint=f"https://hooks.customer-{rng.randrange(10, 99)}.example/notify",
                                                           status=rng.choice([404, 410, 502])), "stderr"))

    ok = 1 - om.after(outage)
    blackbox(om, BROKER, "tcp", ok, np.where(ok > 0, 0.0021 + np.abs(om.noise(0.0004)), 0.0009 + np.abs(om.noise(0.0002))))
    blackbox(om, "smtp.eu-west-1.amazonaws.com:587", "tcp", 1.0, 0.012 + np.abs(om.noise(0.002)))

    pod = worker.current.pods[0]
    a = alert({"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "messaging", "pod": pod.name,
               "container": "notification-worker", "reason": "CrashLoopBackOff", "job": "kube-state-metrics",
               "cluster": "gke-prod-europe-west4"},
              "Pod is crash looping.",
              f'Pod messaging/{pod.name} (notification-worker) is in waiting state (reason: "CrashLoopBackOff").',
              now - mins(19),
              'max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics",'
              'reason="CrashLoopBackOff"}[5m]) >= 1', kp_runbook("KubePodCrashLooping"))
    return Bundle(id="messaging-worker-crashloop", title="KubePodCrashLooping in messaging", world=w, om=om, alert=a,
                  k8s_layout="single",
                  expected={"category": "dependency_unavailable", "component": "notification-worker", "action": "none",
                            "rationale": "every start fails dialing the external RabbitMQ broker (connection refused), "
                                         "email-sender sees the same, the broker TCP probe fails; restarting or "
                                         "rolling back cannot help."})
