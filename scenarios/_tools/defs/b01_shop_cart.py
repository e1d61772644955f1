"""cart (Go) grows memory fast once huge carts arrive and is OOMKilled at its 512Mi limit, over and over.

Noise: storefront-web rolled out a new revision 70 minutes ago (before the trouble, and unrelated);
catalog logs Hibernate warnings; storefront logs upstream errors while cart pods are down.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, go_requests, healthy_service, spring_requests, startup_go
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, since_run_start
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle, alert, kp_runbook

NOW = "2026-10-06T10:12:00Z"


def build() -> Bundle:
    w = World(NOW, seed=101, cluster="prod-eu1")
    now = w.now
    eks_nodes(w, 3)
    om = OM(w, step=60)
    leak = now - mins(61)

    web = w.deployment("storefront-web", "shop", image="registry.acme.io/shop/storefront-web",
                       history=[("4.18.2", now - mins(60 * 24 * 9)), ("4.19.0", now - mins(70))], replicas=2,
                       container=container_spec("storefront-web", "x", port=3000, cpu="200m", memory="256Mi",
                                                memory_limit="512Mi", readiness=http_probe("/ready", 3000)))
    cart = w.deployment("cart", "shop", image="registry.acme.io/shop/cart",
                        history=[("1.42.3", now - mins(60 * 24 * 16)), ("1.43.0", now - mins(60 * 51))], replicas=3,
                        container=container_spec("cart", "x", cpu="250m", memory="256Mi", memory_limit="512Mi",
                                                 env={"REDIS_ADDR": "cart-redis.abc123.euw1.cache.amazonaws.com:6379",
                                                      "GOMAXPROCS": "2"},
                                                 liveness=http_probe("/healthz", period=10, failure=3),
                                                 readiness=http_probe("/ready", period=5)))
    catalog = w.deployment("catalog", "shop", image="registry.acme.io/shop/catalog",
                           history=[("7.3.1", now - mins(60 * 24 * 5))], replicas=2,
                           container=container_spec("catalog", "x", cpu="500m", memory="1Gi", memory_limit="1536Mi",
                                                    readiness=http_probe("/actuator/health/readiness")))
    for svc in (web, cart, catalog):
        w.service(svc.name, "shop", 80, "http")

    # cart: each instance's heap grows ~62Mi/min once big carts arrive, hitting the limit in ~5.5 min.
    base, slow, fast, limit = 172 * MI, 0.03 * MI / 60, 62 * MI / 60, 512 * MI
    for i, p in enumerate(cart.current.pods):
        start = p.containers[0].runs[0].start
        pre = slow * (leak - start).total_seconds()
        first = leak + secs((limit - base - pre) / fast + i * 150)
        w.crashloop(p, first, lambda k: 318 + w.rng.randrange(0, 25), reason="OOMKilled", exit_code=137)
        w.on_runs(p, startup_go("cart", "1.43.0"))
        w.chatter(p, (30, 90), go_requests("cart", ["/api/v1/cart", "/api/v1/cart/items", "/api/v1/cart/checkout-preview"]))
        w.chatter(p, (70, 240), lambda t, rng: ls.zap(
            t, "warn", "large cart payload", caller="internal/cart/service.go:214", cart_id="c_" + rng.hex(10),
            items=rng.randrange(900, 2600), payload_bytes=rng.randrange(2_000_000, 6_000_000)), since=leak)
        w.chatter(p, (300, 900), lambda t, rng: ls.zap(
            t, "warn", "redis pool: slow command", caller="internal/store/redis.go:131", cmd="HGETALL",
            elapsed_ms=rng.randrange(110, 260)))
        e = since_run_start(om, p)
        grown = np.minimum(base + slow * e + fast * np.clip(om.ts - np.maximum(om.ts - e, leak.timestamp()), 0, None),
                           limit * 0.993)
        cadvisor(om, p, memory=grown + om.noise(2 * MI), cpu=np.clip(0.21 + om.noise(0.02), 0.05, None)
                 + 0.25 * om.after(leak))
        ksm_pod(om, p)
        http_red(om, p, "cart", om.diurnal(38) * (1 + om.noise(0.05)), err_ratio=0.002)
    ksm_deployment(om, cart)

    # storefront: noise deploy, and the visible symptom (upstream errors while cart pods are down).
    healthy_service(w, om, web, rps=160, mem_mi=180, cpu=0.12,
                    maker=lambda t, rng: ls.pino(t, 30, "request completed", "storefront-web",
                                                 req={"method": "GET", "url": rng.choice(["/", "/p/sku-1182", "/cart"])},
                                                 res={"statusCode": 200}, responseTime=rng.randrange(8, 120)))
    for p in all_pods(web):
        w.chatter(p, (120, 400), lambda t, rng: ls.pino(
            t, 40, "deprecated API used", "storefront-web", route="/api/v1/cart/legacy", client="ios/5.2.1"))
        w.chatter(p, (40, 110), lambda t, rng: (ls.pino(
            t, 50, "upstream request failed", "storefront-web", upstream="http://cart.shop.svc.cluster.local/api/v1/cart",
            err={"type": "FetchError", "message": "request to http://cart.shop.svc.cluster.local/api/v1/cart failed, "
                                                  "reason: connect ECONNREFUSED 172.20.41.17:80"}), "stderr")
                  if rng.random() < 0.7 else None, since=leak + mins(8))

    healthy_service(w, om, catalog, rps=55, mem_mi=870, cpu=0.3, every_s=(30, 90),
                    maker=spring_requests("catalog", [
                        ("INFO", "c.a.catalog.web.ProductController", "GET /api/v1/products/{n} -> 200"),
                        ("WARN", "o.h.h.internal.ast.QueryTranslatorImpl",
                         "HHH000104: firstResult/maxResults specified with collection fetch; applying in memory!"),
                        ("INFO", "c.a.catalog.cache.PriceCache", "refreshed 4{n} prices")]))

    a = alert({"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "shop",
               "pod": cart.current.pods[0].name, "container": "cart", "reason": "CrashLoopBackOff",
               "job": "kube-state-metrics", "cluster": "prod-eu1", "prometheus": "monitoring/k8s"},
              "Pod is crash looping.",
              f'Pod shop/{cart.current.pods[0].name} (cart) is in waiting state (reason: "CrashLoopBackOff").',
              now - mins(22),
              'max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics",namespace=~".*",'
              'reason="CrashLoopBackOff"}[5m]) >= 1', kp_runbook("KubePodCrashLooping"))
    return Bundle(id="shop-cart-crashloop", title="KubePodCrashLooping on a cart pod in prod-eu1", world=w, om=om,
                  alert=a, expected={"category": "oom_killed", "component": "cart", "action": "set_resources",
                                     "rationale": "cart containers end with OOMKilled/137 after working set climbs to "
                                                  "the 512Mi limit; the storefront-web rollout is unrelated."})
