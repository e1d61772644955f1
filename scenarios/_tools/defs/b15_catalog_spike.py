"""A flash-sale push notification multiplies catalog-api traffic ~4.7x at 18:32; the 4 pods run at
~1.7 of their 2-core limit, latency and some 503s follow. Nothing changed in the code.

Noise: catalog-admin rolled out 2h40m ago; ingress-nginx logs show the utm_campaign of the push;
the Fluent Bit pipeline here stores the line under `message` instead of `log`.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, go_requests, healthy_service
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, http_probe, mins
from writer import Bundle

NOW = "2026-10-23T19:10:00Z"
DAY = 60 * 24


def build() -> Bundle:
    w = World(NOW, seed=1515, cluster="prod-eu1")
    now = w.now
    eks_nodes(w, 4, subnet=28, instance_type="c6i.2xlarge", memory_gi=16)
    om = OM(w, step=60)
    spike = now - mins(38)

    api = w.deployment("catalog-api", "catalog", image="registry.acme.io/catalog/catalog-api",
                       history=[("6.8.0", now - mins(DAY * 17)), ("6.8.1", now - mins(DAY * 2 + 380))], replicas=4,
                       container=container_spec("catalog-api", "x", cpu="1", cpu_limit="2", memory="512Mi",
                                                memory_limit="1Gi", env={"GOMAXPROCS": "2"},
                                                readiness=http_probe("/ready", timeout=2)))
    admin = w.deployment("catalog-admin", "catalog", image="registry.acme.io/catalog/catalog-admin",
                         history=[("3.1.0", now - mins(DAY * 20)), ("3.2.0", now - mins(160))], replicas=1,
                         container=container_spec("catalog-admin", "x", cpu="100m", memory="128Mi"))
    ingress = w.deployment("ingress-nginx-controller", "ingress-nginx",
                           image="registry.k8s.io/ingress-nginx/controller",
                           history=[("v1.11.2", now - mins(DAY * 45))], replicas=2,
                           labels={"app.kubernetes.io/component": "controller"},
                           container=container_spec("controller", "x", port=80, cpu="100m", memory="90Mi"))
    w.service("catalog-api", "catalog", 80, "http")

    surge = om.after(spike, 180)
    rps = om.diurnal(320, 0.2) * (1 + 3.7 * surge) * (1 + om.noise(0.03))
    per_pod_cpu = 0.0016 * rps / 4 * 4.2
    used = np.minimum(per_pod_cpu, 1.93)
    thr = np.clip(0.02 + 0.3 * np.clip((per_pod_cpu - 1.2) / 0.9, 0, 1) + om.noise(0.01), 0.0, 0.6)
    median = 0.022 + 0.16 * surge
    for p in all_pods(api):
        cadvisor(om, p, memory=(300 + 140 * surge) * MI + om.noise(4 * MI), cpu=used * (1 + om.noise(0.02)), throttled=thr)
        ksm_pod(om, p, limits=("cpu",))
        http_red(om, p, "catalog-api", rps / 4, err_ratio=0.001 + 0.028 * surge, error_code="503")
        w.chatter(p, (40, 120), go_requests("catalog-api", ["/v1/products/sku-1182", "/v1/products?category=shoes",
                                                            "/v1/products/sku-22019"], style="slog"))
        w.chatter(p, (25, 60), lambda t, rng: (ls.slog(t, "warn", "request queue saturated", in_flight=rng.randrange(180, 260),
                                                       max_in_flight=256), "stderr"), since=spike + mins(4))
    ksm_deployment(om, api)
    latency_histogram(om, "catalog", "catalog-api", rps, median, sigma=0.7)

    campaign = "utm_source=push&utm_medium=app&utm_campaign=flash-sale-oct23"
    for p in all_pods(ingress):
        w.chatter(p, (20, 60), lambda t, rng: ls.ingress_access(
            t, f"{rng.randrange(30, 220)}.{rng.randrange(255)}.{rng.randrange(255)}.{rng.randrange(1, 255)}", "GET",
            rng.choice(["/v1/products/sku-1182", "/v1/products?category=shoes"]), 200, rng.randrange(900, 9000),
            rng.uniform(0.01, 0.05), rng.choice(ls.AGENTS), "catalog", "catalog-api", 80,
            f"10.244.{rng.randrange(4)}.{rng.randrange(2, 250)}:8080", rng.hex(32)), until=spike)
        w.chatter(p, (8, 20), lambda t, rng: ls.ingress_access(
            t, f"{rng.randrange(30, 220)}.{rng.randrange(255)}.{rng.randrange(255)}.{rng.randrange(1, 255)}", "GET",
            rng.choice([f"/v1/products/sku-77{rng.randrange(10, 99)}?{campaign}", "/v1/products?category=sale&" + campaign]),
            rng.choice([200] * 30 + [503]), rng.randrange(900, 9000), rng.uniform(0.08, 1.9),
            "AcmeShop/7.4.0 (iPhone; iOS 18.0)", "catalog", "catalog-api", 80,
            f"10.244.{rng.randrange(4)}.{rng.randrange(2, 250)}:8080", rng.hex(32)), since=spike)
    healthy_service(w, om, ingress, mem_mi=160, cpu=0.15, http=False)
    healthy_service(w, om, admin, mem_mi=70, cpu=0.01, http=False, every_s=(120, 400),
                    maker=go_requests("catalog-admin", ["/admin/products", "/admin/imports"], style="logrus"))
    for p in admin.current.pods:
        w.chatter(p, (600, 900), lambda t, rng: (ls.logrus(t, "warning", "import job skipped: feed unchanged",
                                                           feed="supplier-42"), "stderr"))

    text = ("[FIRING:1] SLOBurnRateHigh (catalog-api catalog critical)\n"
            "Error budget burn rate 14.4x over 1h for SLO catalog-api-availability (99.9%).\n"
            "Runbook: https://runbooks.acme.io/slo/catalog-api | Dashboard: https://grafana.acme.io/d/catalog-api")
    return Bundle(id="catalog-slo-burn", title="SLOBurnRateHigh for catalog-api", world=w, om=om, message=text,
                  message_key="message",
                  expected={"category": "traffic_spike", "component": "catalog-api", "action": "scale_deployment",
                            "rationale": "request rate jumped ~4.7x at 18:32 with a push campaign; pods are healthy but "
                                         "near their CPU limit; no relevant change; scale out."})
