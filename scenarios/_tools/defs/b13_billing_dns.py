"""After a Corefile edit (reloaded at 01:56), CoreDNS forwards external names to a decommissioned
resolver (10.0.0.2): every external lookup times out upstream and clients get SERVFAIL ("server
misbehaving"). Cluster-local names still resolve, so billing-api's database calls keep working
while its payment-provider calls fail. No k8s/ in this bundle (metrics and logs only).

Noise: billing-api rolled out 26 hours ago; email-relay fails the same way (corroborating);
billing-api logs unrelated idempotency-key warnings.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, healthy_service
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, mins, secs
from writer import Bundle, alert

NOW = "2026-10-16T02:25:00Z"
DAY = 60 * 24


def build() -> Bundle:
    w = World(NOW, seed=1313, cluster="prod-us1")
    now = w.now
    eks_nodes(w, 3, subnet=64, region="us-east-1")
    om = OM(w, step=60)
    reload = now - mins(29)

    dns = w.deployment("coredns", "kube-system", image="602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/coredns",
                       history=[("v1.11.1-eksbuild.9", now - mins(DAY * 70))], replicas=2, labels={"k8s-app": "kube-dns"},
                       container=container_spec("coredns", "x", port=53, cpu="100m", memory="70Mi", memory_limit="170Mi",
                                                args=["-conf", "/etc/coredns/Corefile"]))
    billing = w.deployment("billing-api", "billing", image="registry.acme.io/billing/billing-api",
                           history=[("8.2.0", now - mins(DAY * 9)), ("8.3.1", now - mins(DAY + 120))], replicas=3,
                           container=container_spec("billing-api", "x", cpu="250m", memory="256Mi", memory_limit="512Mi"))
    relay = w.deployment("email-relay", "billing", image="registry.acme.io/billing/email-relay",
                         history=[("0.9.2", now - mins(DAY * 30))], replicas=1,
                         container=container_spec("email-relay", "x", port=None, cpu="50m", memory="128Mi"))

    broken = om.after(reload)
    for i, p in enumerate(all_pods(dns)):
        ip = p.ip
        w.log(p, reload, "[INFO] Reloading")
        w.log(p, reload + secs(0.4), "[INFO] plugin/reload: Running configuration SHA512 = "
                                     "7b3c1e0f5a2d9c4e8f1a6b0d3c7e2f9a1b8d4c6e0f3a7b2d9c5e1f8a4b0d6c3e7f2a9b1d8c4e6f0a3b7d2c9e5f1a8b4d0c6e")
        w.log(p, reload + secs(0.5), "[INFO] Reloading complete")
        w.chatter(p, (15, 40), lambda t, rng, ip=ip: (
            f"[ERROR] plugin/errors: 2 {rng.choice(['api.stripe.com.', 'smtp.sendgrid.net.', 'api.stripe.com.', 'sts.amazonaws.com.', 'hooks.slack.com.'])}"
            f" {rng.choice(['A', 'AAAA'])}: read udp {ip}:{rng.randrange(32768, 60999)}->10.0.0.2:53: i/o timeout"),
            since=reload + secs(3))
        w.chatter(p, (1800, 2400), lambda t, rng: "[WARNING] No files matching import glob pattern: /etc/coredns/custom/*.override")
        noerror = 180 + om.noise(8)
        cadvisor(om, p, memory=31 * MI + om.noise(0.5 * MI), cpu=np.clip(0.012 + 0.004 * broken + om.noise(0.001), 0.001, None))
        ksm_pod(om, p, limits=())
        for rcode, rate in (("NOERROR", noerror), ("NXDOMAIN", 95 + om.noise(5)),
                            ("SERVFAIL", 0.01 + 21 * broken + np.abs(om.noise(1.5)) * broken)):
            om.counter("coredns_dns_responses", "Counter of response status codes.",
                       {"namespace": "kube-system", "pod": p.name, "server": "dns://:53", "zone": ".", "rcode": rcode},
                       rate, start=w.rng.randrange(10**6, 10**8), integer=True)
    ksm_deployment(om, dns)

    fail = 0.36 * broken
    for p in all_pods(billing):
        w.chatter(p, (40, 120), lambda t, rng: ls.zap(t, "info", "db query", caller="internal/store/invoice.go:77",
                                                     host="billing-db.billing.svc.cluster.local",
                                                     duration_ms=round(rng.uniform(1, 12), 2)))
        w.chatter(p, (30, 90), lambda t, rng: ls.zap(t, "info", "payment intent created", caller="internal/psp/stripe.go:118",
                                                     intent="pi_" + rng.hex(24)), until=reload)
        w.chatter(p, (15, 40), lambda t, rng: (ls.zap(
            t, "error", "charge failed", caller="internal/psp/stripe.go:131", invoice="inv_" + rng.hex(10),
            error="Post \"https://api.stripe.com/v1/payment_intents\": dial tcp: lookup api.stripe.com on "
                  "10.96.0.10:53: server misbehaving"), "stderr"), since=reload + secs(5))
        w.chatter(p, (600, 1500), lambda t, rng: (ls.zap(
            t, "warn", "duplicate idempotency key, returning cached response", caller="internal/api/middleware.go:58",
            key=rng.hex(32)), "stderr"))
        cadvisor(om, p, memory=140 * MI + om.noise(2 * MI), cpu=np.clip(0.06 + om.noise(0.005), 0.001, None))
        ksm_pod(om, p, limits=())
        http_red(om, p, "billing-api", om.diurnal(9), err_ratio=fail + 0.002, error_code="502")
    ksm_deployment(om, billing)
    latency_histogram(om, "billing", "billing-api", om.diurnal(27), 0.08 + 1.9 * broken, sigma=0.9,
                      buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
    for p in all_pods(relay):
        w.chatter(p, (60, 160), lambda t, rng: ls.python_log(t, "INFO", "relay", f"delivered to smtp.sendgrid.net:587 "
                                                             f"queue_id={rng.hex(10)}"), until=reload)
        w.chatter(p, (30, 70), lambda t, rng: (ls.python_log(
            t, "ERROR", "relay", "delivery deferred: [Errno -3] Temporary failure in name resolution "
            "(smtp.sendgrid.net:587); retry in 60s"), "stderr"), since=reload + secs(20))
    healthy_service(w, om, relay, mem_mi=60, cpu=0.004, http=False)

    a = alert({"alertname": "HighErrorRate", "severity": "critical", "namespace": "billing", "service": "billing-api",
               "cluster": "prod-us1"},
              "billing-api 5xx ratio above 5%",
              "36% of requests to billing/billing-api returned 5xx over the last 10 minutes.", now - mins(21),
              'sum by (namespace, service) (rate(http_requests_total{namespace="billing",service="billing-api",code=~"5.."}[5m]))'
              ' / sum by (namespace, service) (rate(http_requests_total{namespace="billing",service="billing-api"}[5m])) > 0.05')
    return Bundle(id="billing-error-rate", title="HighErrorRate on billing/billing-api", world=w, om=om, alert=a,
                  k8s=False,
                  expected={"category": "dns_failure", "component": "coredns", "action": "none",
                            "rationale": "CoreDNS reloaded a Corefile forwarding to 10.0.0.2; upstream i/o timeouts and "
                                         "SERVFAIL spike since; external lookups fail in every client while in-cluster "
                                         "names resolve. Revert the Corefile ConfigMap."})
