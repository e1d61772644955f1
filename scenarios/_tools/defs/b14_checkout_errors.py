"""checkout v2.31.0 (Node.js) rolled out 23 minutes ago and completed; pods are Ready, but POST
/api/checkout throws a TypeError for carts with gift cards: ~18% of requests return 500 since the
rollout minute.

Noise: cart-api rolled out 2h10m ago (before, no change in errors); payments-proxy logs a steady
trickle of 502s from the PSP all along.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, healthy_service
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, http_probe, mins
from writer import Bundle, alert

NOW = "2026-09-26T10:20:00Z"
DAY = 60 * 24
STACK = ("TypeError: Cannot read properties of undefined (reading 'currency')\n"
         "    at computeTotals (/app/dist/cart/totals.js:88:41)\n"
         "    at applyGiftCards (/app/dist/cart/giftcards.js:23:17)\n"
         "    at CheckoutService.submit (/app/dist/checkout/service.js:142:22)\n"
         "    at async /app/dist/routes/checkout.js:31:20")


def build() -> Bundle:
    w = World(NOW, seed=1414, cluster="prod-eu1")
    now = w.now
    eks_nodes(w, 3, subnet=36)
    om = OM(w, step=60)
    rollout = now - mins(23)

    co = w.deployment("checkout", "storefront", image="registry.acme.io/storefront/checkout",
                      history=[("2.29.4", now - mins(DAY * 12)), ("2.30.2", now - mins(DAY * 4 + 33)), ("2.31.0", rollout)],
                      replicas=3,
                      container=container_spec("checkout", "x", port=3000, cpu="300m", memory="384Mi", memory_limit="768Mi",
                                               env={"NODE_ENV": "production", "NODE_OPTIONS": "--max-old-space-size=512"},
                                               readiness=http_probe("/healthz", 3000)))
    cart = w.deployment("cart-api", "storefront", image="registry.acme.io/storefront/cart-api",
                        history=[("5.4.0", now - mins(DAY * 8)), ("5.5.0", now - mins(130))], replicas=2,
                        container=container_spec("cart-api", "x", port=3000, cpu="200m", memory="256Mi"))
    psp = w.deployment("payments-proxy", "storefront", image="registry.acme.io/storefront/payments-proxy",
                       history=[("1.2.7", now - mins(DAY * 19))], replicas=2,
                       container=container_spec("payments-proxy", "x", cpu="100m", memory="128Mi"))
    for d in (co, cart, psp):
        w.service(d.name, "storefront", 80, "http")

    err = np.where(om.ts >= rollout.timestamp() + 40, 0.18 + om.noise(0.015), 0.003)
    for p in all_pods(co):
        new = p in co.current.pods
        host = p.name
        w.chatter(p, (25, 70), lambda t, rng, host=host: ls.pino(
            t, 30, "request completed", host, req={"method": rng.choice(["GET", "POST"]),
                                                    "url": rng.choice(["/api/checkout", "/api/checkout/summary"])},
            res={"statusCode": 200}, responseTime=rng.randrange(40, 220)))
        if new:
            w.chatter(p, (10, 30), lambda t, rng, host=host: (ls.pino(
                t, 50, "unhandled error in POST /api/checkout", host,
                err={"type": "TypeError", "message": "Cannot read properties of undefined (reading 'currency')",
                     "stack": STACK}, reqId=f"req-{rng.randrange(10**4, 10**6)}",
                cart={"items": rng.randrange(1, 9), "giftCards": rng.randrange(1, 3)}), "stderr"))
            w.on_runs(p, lambda t, rng, i, host=host: [
                (0.3, lambda t: ls.pino(t, 30, "checkout service starting", host, version="2.31.0", node="v20.17.0"), "stdout"),
                (1.1, lambda t: ls.pino(t, 30, "listening on :3000", host), "stdout")])
        cadvisor(om, p, memory=230 * MI + om.noise(3 * MI), cpu=np.clip(0.11 + om.noise(0.01), 0.01, None))
        ksm_pod(om, p)
        http_red(om, p, "checkout", om.diurnal(22 / 3) * (1 + om.noise(0.05)), err_ratio=err if new else 0.003)
    ksm_deployment(om, co)
    latency_histogram(om, "storefront", "checkout", om.diurnal(22), 0.11, sigma=0.6)

    healthy_service(w, om, cart, rps=50, mem_mi=120, cpu=0.05, every_s=(40, 120),
                    maker=lambda t, rng: ls.pino(t, 30, "request completed", "cart-api",
                                                 req={"method": "GET", "url": "/api/cart"}, res={"statusCode": 200},
                                                 responseTime=rng.randrange(5, 40)))
    healthy_service(w, om, psp, rps=8, mem_mi=60, cpu=0.02, http=False, every_s=(60, 160),
                    maker=lambda t, rng: ls.logrus(t, "info", "psp call", op="authorize", status=200,
                                                   latency=f"{rng.randrange(120, 600)}ms"))
    for p in all_pods(psp):
        w.chatter(p, (300, 700), lambda t, rng: (ls.logrus(t, "warning", "psp call failed, retrying", op="authorize",
                                                           status=502, attempt=1), "stderr"))
    a = alert({"alertname": "HighErrorRate", "severity": "critical", "namespace": "storefront", "service": "checkout",
               "cluster": "prod-eu1"},
              "checkout 5xx ratio above 5%",
              "18.2% of requests to storefront/checkout returned 5xx over the last 10 minutes.", now - mins(14),
              'sum by (namespace, service) (rate(http_requests_total{namespace="storefront",service="checkout",code=~"5.."}[5m]))'
              ' / sum by (namespace, service) (rate(http_requests_total{namespace="storefront",service="checkout"}[5m])) > 0.05')
    return Bundle(id="storefront-checkout-errors", title="HighErrorRate on storefront/checkout", world=w, om=om, alert=a,
                  expected={"category": "bad_deploy", "component": "checkout", "action": "rollback_deployment",
                            "rationale": "500s start the minute revision 2.31.0 rolls out, only from new pods, with a "
                                         "TypeError in new gift-card code; roll back to 2.30.2."})
