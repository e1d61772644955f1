"""Issue 14: node alerts with their numbers, DNS blocked by a NetworkPolicy, latency read from the
subject's own log durations; each through the real tools without Prometheus."""
from __future__ import annotations

from tests.bundle_support import calls, diagnose, kit

EXPECTED = {"category": "unknown", "component": "-", "action": "none", "rationale": "built by a test"}
SICK = "worker-7.dc2.example.net"


def _node_alert_by_instance():
    k = kit()
    b = k.Bundle("t-node", "NodeMemoryHighUtilization on 10.9.0.17:9100", "2031-06-01T10:00:00Z", EXPECTED)
    for name, ip in ((SICK, "10.9.0.17"), ("worker-8.dc2.example.net", "10.9.0.18")):
        sick = name == SICK
        b.node(name, ip, cpu=8, memory_gi=32, pods=110,
               conditions={"MemoryPressure": ("True", "KubeletHasInsufficientMemory",
                                              "kubelet has insufficient memory available", 9)} if sick else None,
               taints=[{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}] if sick else None)
    for ns, name in (("etl", "spark-driver"), ("web", "renderer")):
        w = b.deployment(ns, name, [k.ctr(name, f"registry.example/{ns}/{name}:1", cpu="500m", mem="2Gi",
                                          mem_limit="24Gi")], replicas=1)
        b.pod(w, SICK, k.Running(3 * 1440), created=3 * 1440)
        gone = b.pod(w, SICK, k.Done(k.Ended(137, "ContainerStatusUnknown", 3 * 1440, 6)), created=3 * 1440,
                     evicted="The node was low on resource: memory. Threshold quantity: 100Mi, available: 80112Ki.")
        b.event(ns, ("Pod", gone), "Evicted", "The node was low on resource: memory.", first=6, type="Warning", host=SICK)
    b.alert = k.kp_alert(b, {"alertname": "NodeMemoryHighUtilization", "instance": "10.9.0.17:9100",
                             "job": "node-exporter", "namespace": "monitoring", "container": "node-exporter",
                             "pod": "prometheus-node-exporter-8kq2z", "severity": "warning"}, started=5, value="96.4%")
    return b


async def test_a_node_alert_named_by_instance_ip_says_the_nodes_numbers(tmp_path):
    res = await diagnose(_node_alert_by_instance(), tmp_path)
    d = res.diagnosis
    assert (d.category, d.component) == ("node_pressure", SICK)
    # The node from its InternalIP, so the cordon stays inside the incident's scope.
    assert SICK in res.scope.nodes and [(p.action_type, p.target) for p in d.proposals] == [("cordon_node", SICK)]
    assert "MemoryPressure=True" in d.summary and "node.kubernetes.io/memory-pressure:NoSchedule" in d.summary
    assert "2 pods bound of 110 allocatable" in d.summary and "2 pod(s) evicted" in d.summary
    assert "memory limits 48Gi" in d.summary
    assert {"name": SICK} in calls(res, "k8s_nodes")


def _dns_blocked_by_policy():
    k = kit()
    b = k.Bundle("t-quotes", "HighErrorRate for pricing/quote-api", "2031-07-01T15:00:00Z", EXPECTED)
    nodes = b.nodes(["w1", "w2"], ["10.6.0.1", "10.6.0.2"], ["z1", "z2"])
    b.network_policy("pricing", "lockdown", {"podSelector": {}, "policyTypes": ["Egress"],
                                             "egress": [{"ports": [{"protocol": "TCP", "port": 443}]}]}, created=18)
    api = b.deployment("pricing", "quote-api", [k.ctr("quote-api", "registry.example/pricing/quote-api:5", cpu="200m",
                                                      mem="256Mi")], replicas=2)
    pods = [b.pod(api, n, k.Running(10 * 1440), created=10 * 1440) for n in nodes]
    err = ('{"level":50,"msg":"quote failed","err":{"message":"getaddrinfo EAI_AGAIN rates.fx.svc.cluster.local",'
           '"code":"EAI_AGAIN"}}')
    b.kubectl_logs(pods[0], "\n".join([err] * 5))
    dns = b.deployment("kube-system", "coredns", [k.ctr("coredns", "registry.k8s.io/coredns/coredns:v1.11.3",
                                                        cpu="100m", mem="70Mi", ports=[{"containerPort": 53,
                                                                                        "protocol": "UDP"}])],
                       replicas=2)
    for n in nodes:
        b.pod(dns, n, k.Running(50 * 1440), created=50 * 1440)
    b.message = ("[FIRING:1] HighErrorRate (pricing quote-api critical)\nLabels:\n - alertname = HighErrorRate\n"
                 " - namespace = pricing\n - service = quote-api\nAnnotations:\n"
                 " - description = 23.5% of quote-api requests failed over the last 5 minutes.\n")
    return b


async def test_dns_blocked_by_an_egress_policy_names_the_policy_and_the_workload(tmp_path):
    res = await diagnose(_dns_blocked_by_policy(), tmp_path, drop=("prometheus", "opensearch"))
    d = res.diagnosis
    assert (d.category, d.component, d.proposals) == ("dns_failure", "quote-api", [])
    assert "pricing/lockdown" in d.summary and "EAI_AGAIN" in d.summary
    assert calls(res, "k8s_network_policies")


def _slow_orm_queries():
    k = kit()
    b = k.Bundle("t-search", "p95 latency of catalog-search", "2031-08-01T09:00:00Z", EXPECTED)
    (n1,) = b.nodes(["w1"], ["10.7.0.1"], ["z1"])
    api = b.deployment("catalog", "catalog-search", [k.ctr("web", "registry.example/catalog/search:9", cpu="1",
                                                           mem="1Gi")], replicas=1)
    p = b.pod(api, n1, k.Running(4 * 1440), created=4 * 1440)
    b.kubectl_logs(p, "\n".join(
        f'  Product Load ({4100 + i * 37}.4ms)  SELECT "products".* FROM "products" WHERE (title ILIKE \'%{i}%\')'
        for i in range(6)) + "\nCompleted 200 OK in 4412ms (Views: 12.1ms | ActiveRecord: 4391.0ms)")
    b.message = ("[Triggered on {env:prod,service:catalog-search}] [P2] catalog-search p95 latency above 1s\n"
                 "p95:trace.rack.request{env:prod,service:catalog-search} is 4.52 s (threshold 1 s) over the last 10m.")
    return b


async def test_latency_without_metrics_is_read_from_the_subjects_own_durations(tmp_path):
    res = await diagnose(_slow_orm_queries(), tmp_path, drop=("prometheus", "opensearch"))
    d = res.diagnosis
    assert (d.category, d.component) == ("slow_query", "catalog-search")
    assert "4.52 s" in d.summary and "ms)" in d.summary
