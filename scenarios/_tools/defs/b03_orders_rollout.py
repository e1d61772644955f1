"""orders v3.8.0 panics at start-up (nil pointer in the new promo client); the rollout is stuck with
one new pod crash-looping while the four v3.7.2 pods keep serving.

Noise: shipping rolled out 2h ago; inventory logs redis timeouts now and then; orders' own
rollout 3 days ago (3.7.2) is not the culprit.
"""
from __future__ import annotations

import logstyles as ls
from common import all_pods, gke_nodes, go_requests, healthy_service, startup_go
from om import OM
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle, alert, kp_runbook

NOW = "2026-10-14T16:05:00Z"
DAY = 60 * 24
PANIC_FRAMES = [
    ("github.com/acme/orders/internal/promo.(*Client).Load(0x0, {0x1a2c3e0, 0xc0001a6000})",
     "/src/internal/promo/client.go:57 +0x3e"),
    ("github.com/acme/orders/internal/app.(*App).initPromotions(0xc0002b4000)", "/src/internal/app/app.go:143 +0x9a"),
    ("github.com/acme/orders/internal/app.New({0xc000136000, 0x14, 0x1a})", "/src/internal/app/app.go:88 +0x5d1"),
    ("main.main()", "/src/cmd/orders/main.go:29 +0x145"),
]


def build() -> Bundle:
    w = World(NOW, seed=303, cluster="gke-prod-europe-west4")
    now = w.now
    gke_nodes(w, 4)
    om = OM(w, step=60)
    rollout = now - mins(22)

    orders = w.deployment("orders", "commerce", image="europe-west4-docker.pkg.dev/acme-prod/apps/orders",
                          history=[("3.6.9", now - mins(DAY * 19)), ("3.7.2", now - mins(DAY * 3 + 200)),
                                   ("3.8.0", rollout)], replicas=4, live={-1: 1, -2: 4}, max_unavailable="0",
                          container=container_spec("orders", "x", cpu="300m", memory="384Mi", memory_limit="768Mi",
                                                   env={"PROMO_ENGINE_URL": "", "DB_MAX_CONNS": "20"},
                                                   liveness=http_probe("/livez"), readiness=http_probe("/readyz")))
    shipping = w.deployment("shipping", "commerce", image="europe-west4-docker.pkg.dev/acme-prod/apps/shipping",
                            history=[("1.14.0", now - mins(DAY * 8)), ("1.15.0", now - mins(125))], replicas=2,
                            container=container_spec("shipping", "x", cpu="100m", memory="128Mi", memory_limit="256Mi"))
    inventory = w.deployment("inventory", "commerce", image="europe-west4-docker.pkg.dev/acme-prod/apps/inventory",
                             history=[("2.40.1", now - mins(DAY * 11))], replicas=2,
                             container=container_spec("inventory", "x", cpu="200m", memory="256Mi", memory_limit="512Mi"))
    for d in (orders, shipping, inventory):
        w.service(d.name, "commerce", 80, "http")

    bad = orders.current.pods[0]
    w.crashloop(bad, bad.containers[0].runs[0].start + secs(1.4), lambda i: 1.3 + w.rng.random() * 0.4,
                reason="Error", exit_code=2)
    w.on_runs(bad, lambda t, rng, i: [
        (0.05, lambda t: ls.zap(t, "info", "starting service", caller="cmd/orders/main.go:24", service="orders",
                                version="3.8.0", go_version="go1.23.2"), "stderr"),
        (0.2, lambda t: ls.zap(t, "info", "config loaded", caller="internal/config/config.go:88", env="production"),
         "stderr"),
        (0.3, lambda t: ls.zap(t, "warn", "PROMO_ENGINE_URL is empty, promotions client not configured",
                               caller="internal/app/app.go:139"), "stderr"),
        (0.9, lambda t: ls.zap(t, "info", "connected to postgres", caller="internal/db/pool.go:51", max_conns=20),
         "stderr"),
    ])
    w.on_runs(bad, lambda t, rng, i: [(-0.01, line, "stderr") for line in
                                      ls.go_panic("runtime error: invalid memory address or nil pointer dereference",
                                                  PANIC_FRAMES)],
              at_end=True)

    reqs = go_requests("orders", ["/v1/orders", "/v1/orders/ord_81723", "/v1/orders/ord_99120/status"])
    healthy_service(w, om, orders, rps=70, mem_mi=220, cpu=0.15, maker=reqs, histogram=True, median=0.025)
    for p in orders.revisions[-2].pods:
        w.on_runs(p, startup_go("orders", "3.7.2"))
    healthy_service(w, om, shipping, rps=15, mem_mi=90, cpu=0.03,
                    maker=go_requests("shipping", ["/v1/quotes", "/v1/labels"], style="logrus"))
    healthy_service(w, om, inventory, rps=40, mem_mi=180, cpu=0.09,
                    maker=go_requests("inventory", ["/v1/stock/sku-1182", "/v1/reservations"], style="slog"))
    for p in all_pods(inventory):
        w.chatter(p, (400, 1200), lambda t, rng: (ls.slog(t, "warn", "redis call slow", cmd="EVALSHA",
                                                          dur=f"{rng.randrange(150, 480)}ms"), "stderr"))

    a = alert({"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "commerce", "pod": bad.name,
               "container": "orders", "reason": "CrashLoopBackOff", "job": "kube-state-metrics",
               "cluster": "gke-prod-europe-west4"},
              "Pod is crash looping.",
              f'Pod commerce/{bad.name} (orders) is in waiting state (reason: "CrashLoopBackOff").',
              now - mins(7),
              'max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics",'
              'reason="CrashLoopBackOff"}[5m]) >= 1', kp_runbook("KubePodCrashLooping"))
    return Bundle(id="commerce-orders-crashloop", title="KubePodCrashLooping in commerce", world=w, om=om, alert=a,
                  k8s_format="json",
                  expected={"category": "bad_deploy", "component": "orders", "action": "rollback_deployment",
                            "rationale": "only the pod of the 22-minute-old revision (3.8.0) crashes, with a nil "
                                         "pointer panic in new code; the 3.7.2 pods are healthy."})
