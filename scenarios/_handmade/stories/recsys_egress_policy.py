"""Grafana HighErrorRate for recommender: name resolution fails in one namespace only.

26 minutes ago Argo CD applied a NetworkPolicy default-deny-egress to recsys that allows the
namespace's own services and Postgres, but not DNS (UDP/TCP 53 to kube-dns). Every lookup from a
recsys pod now times out: Python's urllib3 raises NameResolutionError "[Errno -3] Temporary failure
in name resolution", Go's resolver "read udp ...->10.96.0.10:53: i/o timeout". CoreDNS is healthy and
answers other namespaces. The Kubernetes fake serves NetworkPolicy objects (networking.k8s.io/v1).
"""
from kit import Bundle, Running, ctr

NS = "recsys"
APPLIED = 26


def traceback(host: str, path: str) -> str:
    return ("Traceback (most recent call last):\n"
            '  File "/app/recommender/features.py", line 57, in fetch_user_features\n'
            "    resp = self.session.get(url, timeout=0.5)\n"
            "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            '  File "/usr/local/lib/python3.12/site-packages/requests/adapters.py", line 700, in send\n'
            "    raise ConnectionError(e, request=request)\n"
            f"requests.exceptions.ConnectionError: HTTPConnectionPool(host='{host}', port=8080): Max retries "
            f"exceeded with url: {path} (Caused by NameResolutionError(\"<urllib3.connection.HTTPConnection object at "
            f"0x7f3c2a1b9d90>: Failed to resolve '{host}' ([Errno -3] Temporary failure in name resolution)\"))")


EXPECTED = {"category": "dns_failure", "component": "recommender", "action": "none", "rationale": (
    "from 10:54 every name lookup from the recsys namespace fails (Python: NameResolutionError '[Errno -3] "
    "Temporary failure in name resolution'; Go: 'lookup ... on 10.96.0.10:53: i/o timeout') while CoreDNS answers "
    "normally: the NetworkPolicy default-deny-egress created by Argo CD at that moment allows ports 8080/6379/5432 "
    "but not DNS (53 to kube-dns). Allow DNS egress in the policy. Labelling: for a NetworkPolicy cause the "
    "component is the alerted workload whose egress is blocked (scenarios/README.md). Sources: urllib3 "
    "NameResolutionError text (kernelci/kernelci-core#2429); a deny-all egress policy blocks DNS "
    "(kubernetes/website#55115, aws/aws-network-policy-agent#230); Grafana default notification template.")}


def build() -> Bundle:
    b = Bundle("recsys-error-rate", "HighErrorRate for recommender (Grafana)", "2026-11-16T11:20:00Z", EXPECTED)
    nodes = b.nodes(["gke-prod-eu-w4-default-5a6b7c8d-1xqf", "gke-prod-eu-w4-default-5a6b7c8d-8hrt",
                     "gke-prod-eu-w4-default-5a6b7c8d-p0zk"], ["10.164.0.7", "10.164.0.8", "10.164.0.9"],
                    ["europe-west4-a", "europe-west4-b", "europe-west4-c"], instance_type="n2-standard-16", cpu=16,
                    memory_gi=64)
    b.network_policy(NS, "default-deny-egress", {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NS}}}],
                    "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 6379}]},
                   {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 5432}]}]},
        created=APPLIED, labels={"app.kubernetes.io/managed-by": "argocd", "app.kubernetes.io/part-of": "recsys-baseline"})
    b.network_policy(NS, "allow-ingress-from-gateway", {
        "podSelector": {"matchLabels": {"app": "recommender"}}, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}}}]}]},
        created=120 * 1440)

    rec = b.deployment(NS, "recommender", [ctr("recommender", "registry.acme.io/recsys/recommender:3.14.1", cpu="1",
                                               mem="1Gi", mem_limit="2Gi", ports=[{"containerPort": 8000}])],
                       replicas=3, revisions=[(5 * 1440, None, None)])
    rec_pods = [b.pod(rec, n, Running(5 * 1440), created=5 * 1440) for n in nodes]
    fs = b.deployment(NS, "feature-store", [ctr("feature-store", "registry.acme.io/recsys/feature-store:1.7.0",
                                                cpu="500m", mem="512Mi", mem_limit="1Gi", ports=[{"containerPort": 8080}])],
                      replicas=2, revisions=[(12 * 1440, None, None)])
    fs_pods = [b.pod(fs, n, Running(12 * 1440), created=12 * 1440) for n in nodes[:2]]
    dns = b.deployment("kube-system", "kube-dns", [ctr("kubedns", "gke.gcr.io/k8s-dns-kube-dns:1.23.0-gke.9", cpu="100m",
                                                       mem="70Mi", mem_limit="210Mi")], replicas=2,
                       revisions=[(30 * 1440, None, None)])
    for n in nodes[1:]:
        b.pod(dns, n, Running(30 * 1440), created=30 * 1440)
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"}, [("dns", 53, 53), ("dns-tcp", 53, 53)], "10.96.0.10")
    b.service(NS, "feature-store", {"app": "feature-store"}, [("http", 8080, 8080)], "10.96.48.12")
    b.service(NS, "recommender", {"app": "recommender"}, [("http", 80, 8000)], "10.96.48.77")

    host = "feature-store.recsys.svc.cluster.local"
    for m in range(178, 0, -1):
        broken = m < APPLIED - 0.3
        p = rec_pods[m % 3]
        if broken:
            b.log(p, m, f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')},{m * 11 % 1000:03d} WARNING urllib3.connectionpool: "
                        "Retrying (Retry(total=1, connect=None, read=None, redirect=None, status=None)) after connection "
                        "broken by 'NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f3c2a1b9d90>: "
                        f"Failed to resolve '{host}' ([Errno -3] Temporary failure in name resolution)\")': "
                        f"/v1/features/user/{829000 + m}", stream="stderr")
            if m % 2 == 0:
                b.log(p, m - 0.01, f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')},{m * 13 % 1000:03d} ERROR "
                                   "recommender.api: feature lookup failed, returning 503\n"
                                   + traceback(host, f"/v1/features/user/{829000 + m}"), stream="stderr")
        elif m % 4 == 0:
            b.log(p, m, f'{b.at(m).strftime("%Y-%m-%d %H:%M:%S")},{m * 11 % 1000:03d} INFO recommender.api: '
                        f'GET /v2/recommendations?user={829000 + m}&slot=home 200 in {41 + m % 23}ms')
        if broken and m % 3 == 0:
            fp = fs_pods[m % 2]
            b.log(fp, m, f'{{"level":"error","ts":"{b.ts(m, ms=True)}","caller":"cache/redis.go:88","msg":"redis get '
                         'failed","key":"uf:' + str(829000 + m) + '","error":"dial tcp: lookup redis-features.recsys.svc.'
                         'cluster.local on 10.96.0.10:53: read udp 10.52.1.23:41236->10.96.0.10:53: i/o timeout"}',
                  stream="stderr")

    for code, rate in (("200", lambda m: 1800.0 if m > APPLIED else 1050.0),
                       ("503", lambda m: 3.0 if m > APPLIED else 740.0)):
        b.counter("http_requests_total", {"namespace": NS, "service": "recommender", "code": code}, rate,
                  start=40_000_000 if code == "200" else 12_000)
    for rcode, rate in (("NOERROR", 52000.0), ("NXDOMAIN", 31000.0), ("SERVFAIL", 4.0)):
        b.counter("coredns_dns_responses_total", {"job": "kube-dns", "server": "dns://:53", "zone": ".",
                                                  "rcode": rcode}, rate, start=9_000_000)

    b.message = (
        "[FIRING:1] HighErrorRate (recsys recommender critical)\n"
        "**Firing**\n\n"
        "Value: A=0.413, B=1\n"
        "Labels:\n"
        " - alertname = HighErrorRate\n"
        " - grafana_folder = SLOs\n"
        " - namespace = recsys\n"
        " - service = recommender\n"
        " - severity = critical\n"
        "Annotations:\n"
        " - description = 41.3% of recommender requests failed (5xx) over the last 5 minutes.\n"
        " - summary = recommender 5xx ratio above 5%\n"
        "Source: https://grafana.acme.io/alerting/grafana/recsys-5xx/view?orgId=1\n"
        "Silence: https://grafana.acme.io/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHighErrorRate"
        "&matcher=service%3Drecommender&orgId=1\n"
        "Dashboard: https://grafana.acme.io/d/recsys-slo?orgId=1\n")
    return b
