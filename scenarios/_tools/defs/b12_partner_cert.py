"""partner-gateway (nginx) terminates TLS with a certificate that expired 47 minutes ago; partners
and the in-cluster order-sync client reject it. Kubernetes looks healthy: probes hit plain HTTP.

Noise: www probe is fine (cert valid 63 days); order-sync also logs unrelated 429s from a
marketplace API; partner-gateway has not been redeployed for 40 days.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import all_pods, gke_nodes, healthy_service
from om import OM, blackbox
from world import World, container_spec, http_probe, mins, rfc3339, secs
from writer import Bundle, alert

NOW = "2026-10-27T09:30:00Z"
DAY = 60 * 24


def build() -> Bundle:
    w = World(NOW, seed=1212, cluster="gke-prod-europe-west1")
    now = w.now
    gke_nodes(w, 3, pool="edge-pool")
    om = OM(w, step=60)
    expired = now - mins(47)

    gw = w.deployment("partner-gateway", "edge", image="docker.io/library/nginx",
                      history=[("1.27.1-alpine", now - mins(DAY * 40))], replicas=2,
                      container=container_spec("nginx", "x", port=8443, cpu="100m", memory="64Mi", memory_limit="128Mi",
                                               liveness=http_probe("/healthz", 8080), readiness=http_probe("/healthz", 8080),
                                               volume_mounts=[{"name": "tls", "mountPath": "/etc/nginx/tls", "readOnly": True}]),
                      spec_extra={"volumes": [{"name": "tls", "secret": {"secretName": "partner-gateway-tls"}}]})
    sync = w.deployment("order-sync", "integrations", image="registry.acme.io/integrations/order-sync",
                        history=[("1.19.0", now - mins(DAY * 15))], replicas=1,
                        container=container_spec("order-sync", "x", port=None, cpu="100m", memory="128Mi",
                                                 env={"PARTNER_GATEWAY_URL": "https://partner-gateway.edge.svc.cluster.local"}))
    w.service("partner-gateway", "edge", 443, 8443, type="LoadBalancer")

    exp_text = rfc3339(expired)
    for p in all_pods(gw):
        w.chatter(p, (60, 180), lambda t, rng: ls.nginx_access(
            t, f"203.0.113.{rng.randrange(2, 250)}", "POST", rng.choice(["/v2/orders", "/v2/shipments/notify"]), 202,
            rng.randrange(40, 200), rng.uniform(0.01, 0.09), "partner-connector/3.2 (+https://partner.example)"),
            until=expired)
        w.chatter(p, (15, 40), lambda t, rng: ls.nginx_access(
            t, f"10.244.{rng.randrange(3)}.1", "GET", "/healthz", 200, 2, 0.0, "kube-probe/1.30"))
        w.chatter(p, (30, 90), lambda t, rng: (
            f"{t.strftime('%Y/%m/%d %H:%M:%S')} [info] {rng.randrange(20, 40)}#{rng.randrange(20, 40)}: *{rng.randrange(10**5, 10**6)} "
            "SSL_do_handshake() failed (SSL: error:0A000415:SSL routines::sslv3 alert certificate expired:SSL alert "
            f"number 45) while SSL handshaking, client: {rng.choice(['203.0.113.', '198.51.100.', '10.244.1.'])}"
            f"{rng.randrange(2, 250)}, server: 0.0.0.0:8443", "stderr"), since=expired + secs(20))
        w.chatter(p, (900, 1800), lambda t, rng: (
            f"{t.strftime('%Y/%m/%d %H:%M:%S')} [warn] 22#22: *{rng.randrange(10**5, 10**6)} an upstream response is "
            "buffered to a temporary file /var/cache/nginx/proxy_temp/3/07/0000000073 while reading upstream, client: "
            f"203.0.113.{rng.randrange(2, 250)}, server: partners.acme-corp.com, request: \"POST /v2/orders HTTP/1.1\"",
            "stderr"))
    healthy_service(w, None, gw, http=False)
    for p in all_pods(sync):
        w.chatter(p, (60, 120), lambda t, rng: ls.logrus(t, "info", "pushed order batch", orders=rng.randrange(3, 40),
                                                         target="partner-gateway", status=202), until=expired)
        w.chatter(p, (30, 60), lambda t, rng: (ls.logrus(
            t, "error", "push order batch failed", attempt=rng.randrange(1, 6),
            err=f"Post \"https://partner-gateway.edge.svc.cluster.local/v2/orders\": tls: failed to verify certificate: "
                f"x509: certificate has expired or is not yet valid: current time {rfc3339(t)} is after {exp_text}"),
            "stderr"), since=expired + secs(40))
        w.chatter(p, (400, 1200), lambda t, rng: (ls.logrus(t, "warning", "marketplace API rate limited", status=429,
                                                            retry_after="30s"), "stderr"))

    ok = 1 - om.after(expired)
    blackbox(om, "https://partners.acme-corp.com/healthz", "http", ok,
             np.where(ok > 0, 0.041 + np.abs(om.noise(0.005)), 0.012 + np.abs(om.noise(0.002))), expired.timestamp())
    blackbox(om, "https://www.acme-corp.com/", "http", 1.0, 0.089 + np.abs(om.noise(0.01)),
             (now + mins(DAY * 63 + 311)).timestamp())
    om.gauge("probe_http_status_code", "Response HTTP status code", {"instance": "https://partners.acme-corp.com/healthz",
                                                                     "job": "blackbox-http"}, 200 * ok)
    om.gauge("probe_http_status_code", "Response HTTP status code", {"instance": "https://www.acme-corp.com/",
                                                                     "job": "blackbox-http"}, 200)

    labels = {"alertname": "BlackboxProbeFailed", "severity": "critical", "instance": "https://partners.acme-corp.com/healthz",
              "job": "blackbox-http", "namespace": "monitoring", "cluster": "gke-prod-europe-west1"}
    a = alert(labels, "Blackbox probe failed (instance https://partners.acme-corp.com/healthz)",
              "Probe failed\n  VALUE = 0\n  LABELS = map[instance:https://partners.acme-corp.com/healthz job:blackbox-http]",
              expired + mins(2), "probe_success == 0")
    return Bundle(id="edge-partner-probe", title="BlackboxProbeFailed for partners.acme-corp.com", world=w, om=om, alert=a,
                  expected={"category": "certificate_expired", "component": "partner-gateway", "action": "none",
                            "rationale": "probe_ssl_earliest_cert_expiry is 47 minutes in the past; clients fail with "
                                         "x509 expired; pods are Ready. Renew the partner-gateway-tls certificate."})
