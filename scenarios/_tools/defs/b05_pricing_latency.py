"""pricing-engine (Go, GOMAXPROCS unset on 8-core nodes, CPU limit 1 core) is CFS-throttled as the
morning load ramps up; p99 latency climbs past 1s. Request rate only rises ~35% (normal diurnal).

Noise: promo-rules rolled out 35 minutes ago (latency was already climbing); checkout-bff logs
timeouts calling pricing (the symptom, not the cause); pricing-engine's own rollout is 6 days old.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, go_requests, healthy_service
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, http_probe, mins
from writer import Bundle, alert

NOW = "2026-10-20T09:45:00Z"
DAY = 60 * 24


def build() -> Bundle:
    w = World(NOW, seed=505, cluster="prod-eu1")
    now = w.now
    eks_nodes(w, 4, subnet=44)
    om = OM(w, step=60)

    pricing = w.deployment("pricing-engine", "pricing", image="registry.acme.io/pricing/pricing-engine",
                           history=[("4.2.0", now - mins(DAY * 30)), ("4.2.1", now - mins(DAY * 6 + 75))], replicas=3,
                           container=container_spec("pricing-engine", "x", cpu="500m", cpu_limit="1", memory="512Mi",
                                                    memory_limit="1Gi", env={"LOG_LEVEL": "info"},
                                                    liveness=http_probe("/healthz", timeout=3),
                                                    readiness=http_probe("/ready", timeout=3)))
    promo = w.deployment("promo-rules", "pricing", image="registry.acme.io/pricing/promo-rules",
                         history=[("1.9.4", now - mins(DAY * 13)), ("1.10.0", now - mins(35))], replicas=2,
                         container=container_spec("promo-rules", "x", cpu="100m", memory="128Mi", memory_limit="256Mi"))
    bff = w.deployment("checkout-bff", "pricing", image="registry.acme.io/web/checkout-bff",
                       history=[("12.4.0", now - mins(DAY * 2))], replicas=3,
                       container=container_spec("checkout-bff", "x", port=3000, cpu="200m", memory="256Mi"))
    for d in (pricing, promo, bff):
        w.service(d.name, "pricing", 80, "http")

    # Load ramps 62 -> ~85 rps; CPU demand follows, the 1-core quota saturates and throttling explodes.
    ramp = np.clip((om.ts - om.ts[0]) / (om.ts[-1] - om.ts[0]), 0, 1)
    rps = 62 * (1 + 0.37 * ramp ** 1.4) * (1 + om.noise(0.03))
    demand = 0.0108 * rps / 3 * 3.2            # cores per pod the workload would use unthrottled
    used = np.minimum(demand, 0.97 + om.noise(0.01))
    throttled = np.clip(0.08 + 0.75 * np.clip((demand - 0.55) / 0.6, 0, 1) + om.noise(0.02), 0.02, 0.93)
    median = 0.035 * (1 + 9 * np.clip((demand - 0.6) / 0.35, 0, None) ** 2)
    for p in all_pods(pricing):
        cadvisor(om, p, memory=310 * MI + om.noise(4 * MI), cpu=used * (1 + om.noise(0.02)), throttled=throttled)
        ksm_pod(om, p, limits=("cpu",))
        http_red(om, p, "pricing-engine", rps / 3, err_ratio=np.clip((median - 0.5) * 0.01, 0, 0.01))
        w.chatter(p, (30, 90), go_requests("pricing-engine", ["/v2/price", "/v2/price/batch", "/v2/quote"],
                                           slow_ms=(20, 60), style="slog"), until=now - mins(70))
        w.chatter(p, (25, 70), lambda t, rng: ls.slog(
            t, "info", "request", method="POST", path=rng.choice(["/v2/price/batch", "/v2/quote"]), status=200,
            dur=f"{rng.randrange(350, 2400)}ms", svc="pricing-engine"), since=now - mins(70))
        w.chatter(p, (120, 300), lambda t, rng: ls.slog(
            t, "warn", "request exceeded latency budget", path="/v2/price/batch", dur=f"{rng.uniform(1.1, 3.4):.2f}s",
            budget="800ms"), since=now - mins(40))
    ksm_deployment(om, pricing)
    latency_histogram(om, "pricing", "pricing-engine", rps, median, sigma=0.8,
                      buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))

    healthy_service(w, om, promo, rps=20, mem_mi=70, cpu=0.02, http=False,
                    maker=go_requests("promo-rules", ["/v1/rules/active"], style="logrus"))
    for p in promo.current.pods:
        w.on_runs(p, lambda t, rng, i: [(0.5, lambda t: ls.logrus(t, "info", "loaded promotion rules", count=412,
                                                                  source="s3://acme-promo/rules-2026-10-20.json"),
                                         "stderr"),
                                        (0.6, lambda t: ls.logrus(t, "warning", "rule ignored: unknown field",
                                                                  rule="AUTUMN-10", field="stackable"), "stderr")])
    healthy_service(w, om, bff, rps=70, mem_mi=160, cpu=0.09, every_s=(60, 180), http=False,
                    maker=lambda t, rng: ls.pino(t, 30, "request completed", "checkout-bff",
                                                 req={"method": "GET", "url": "/checkout/summary"},
                                                 res={"statusCode": 200}, responseTime=rng.randrange(60, 300)))
    for p in all_pods(bff):
        w.chatter(p, (90, 240), lambda t, rng: (ls.pino(
            t, 50, "pricing call failed", "checkout-bff", err={"type": "TimeoutError", "message":
                                                                "The operation was aborted due to timeout"},
            upstream="http://pricing-engine.pricing.svc.cluster.local/v2/quote", timeoutMs=2000), "stderr"),
            since=now - mins(30))

    a = alert({"alertname": "HighLatencyP99", "severity": "critical", "namespace": "pricing",
               "service": "pricing-engine", "team": "pricing", "cluster": "prod-eu1"},
              "p99 latency of pricing-engine above 1s",
              "99th percentile latency of pricing/pricing-engine is 1.8s (threshold 1s) for 10 minutes.",
              now - mins(12),
              'histogram_quantile(0.99, sum by (le, namespace, service) (rate(http_request_duration_seconds_bucket'
              '{service="pricing-engine"}[5m]))) > 1')
    return Bundle(id="pricing-latency-p99", title="HighLatencyP99 on pricing-engine", world=w, om=om, alert=a,
                  expected={"category": "cpu_throttling", "component": "pricing-engine", "action": "set_resources",
                            "rationale": "CPU usage pinned at the 1-core limit with >60% of CFS periods throttled "
                                         "while traffic only follows its normal ramp; raise the CPU limit."})
