"""NodeMemoryHighUtilization (node-mixin) for one node, named only by its node-exporter instance IP:port.

The node ip-10-20-3-41 carries Burstable pods whose memory limits add up to about twice its
allocatable memory; after a reindex started, two search-indexer pods and pdf-render grew far past
their requests. MemAvailable fell under 3%, the kubelet set MemoryPressure (and its NoSchedule
taint) and has evicted three pods in the last 15 minutes. Other nodes sit at ~55%.
Traps: the alert's namespace/pod labels are node-exporter's; payments/fraud-scorer crash-loops on
another node for its own reason (a missing Secret key).
"""
from kit import Bundle, Done, Ended, Running, Waiting, ctr, kp_alert

GI = 1024 ** 3
MI = 1024 ** 2
SICK = "ip-10-20-3-41.ec2.internal"
PRESSURE_SINCE = 13


EXPECTED = {"category": "node_pressure", "component": SICK, "action": "cordon_node", "rationale": (
    "instance 10.20.3.41:9100 is node ip-10-20-3-41.ec2.internal (InternalIP): MemAvailable fell under 3% as "
    "Burstable pods there (search-indexer x2, pdf-render, memcached; limits ~2x allocatable) grew past their "
    "requests; MemoryPressure=True with its NoSchedule taint and three evictions in 15 minutes. Cordon and drain "
    "the node (then right-size the limits). fraud-scorer's CreateContainerConfigError is unrelated. Sources: "
    "node-mixin NodeMemoryHighUtilization (prometheus/node_exporter docs/node-mixin, text as in the "
    "prometheus-operator runbooks); kubelet eviction messages (kubernetes/kubernetes pkg/kubelet/eviction/"
    "helpers.go; examples in kubernetes/kubernetes#112927, FederatedAI/KubeFATE#64).")}


def build() -> Bundle:
    b = Bundle("node-memory-high", "NodeMemoryHighUtilization on 10.20.3.41:9100",
               "2026-11-09T14:45:00Z", EXPECTED)
    ips = {SICK: "10.20.3.41", "ip-10-20-1-17.ec2.internal": "10.20.1.17", "ip-10-20-2-88.ec2.internal": "10.20.2.88",
           "ip-10-20-4-150.ec2.internal": "10.20.4.150"}
    for n, ip in ips.items():
        sick = n == SICK
        b.node(n, ip, cpu=16, memory_gi=64, pods=234, zone=f"us-east-1{'abcd'[list(ips).index(n)]}",
               instance_type="m6i.4xlarge",
               conditions={"MemoryPressure": ("True", "KubeletHasInsufficientMemory",
                                              "kubelet has insufficient memory available", PRESSURE_SINCE)} if sick else None,
               taints=[{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule",
                        "timeAdded": b.ts(PRESSURE_SINCE)}] if sick else None)
    others = [n for n in ips if n != SICK]
    b.event("default", ("Node", SICK), "NodeHasInsufficientMemory",
            f"Node {SICK} status is now: NodeHasInsufficientMemory", first=PRESSURE_SINCE, host=SICK)
    b.event("default", ("Node", SICK), "EvictionThresholdMet", "Attempting to reclaim memory", first=PRESSURE_SINCE - 0.2,
            last=1, count=9, type="Warning", host=SICK)

    idx_ctr = ctr("indexer", "registry.acme.io/search/search-indexer:3.4.1", cpu="1", mem="2Gi", mem_limit="24Gi")
    idx = b.deployment("search", "search-indexer", [idx_ctr], replicas=3, revisions=[(11 * 1440, None, None)])
    idx_pods = [b.pod(idx, SICK, Running(11 * 1440), created=11 * 1440) for _ in range(2)]
    idx_pods.append(b.pod(idx, others[0], Running(11 * 1440), created=11 * 1440))
    pdf = b.deployment("docs", "pdf-render", [ctr("pdf-render", "registry.acme.io/docs/pdf-render:1.12.0", cpu="500m",
                                                  mem="1Gi", mem_limit="16Gi")], replicas=2,
                       revisions=[(5 * 1440, None, None)])
    pdf_pod = b.pod(pdf, SICK, Running(5 * 1440), created=5 * 1440)
    b.pod(pdf, others[1], Running(5 * 1440), created=5 * 1440)
    cache = b.deployment("web", "session-cache", [ctr("memcached", "memcached:1.6.31", cpu="250m", mem="4Gi",
                                                      mem_limit="12Gi")], replicas=2, revisions=[(30 * 1440, None, None)])
    cache_pod = b.pod(cache, SICK, Running(30 * 1440), created=30 * 1440)
    b.pod(cache, others[2], Running(30 * 1440), created=30 * 1440)

    # Pods the kubelet evicted; their ReplicaSets replaced them on other nodes.
    evictions = [("web", "storefront-ssr", "ssr", "registry.acme.io/web/storefront-ssr:9.1.0", "512Mi", 11.5, 2_811_904),
                 ("web", "image-proxy", "imgproxy", "darthsim/imgproxy:v3.25", "256Mi", 7.2, 1_236_008),
                 ("search", "query-api", "query-api", "registry.acme.io/search/query-api:3.4.1", "1Gi", 3.9, 3_402_112)]
    for ns, name, cname, image, req, when, used_ki in evictions:
        w = b.deployment(ns, name, [ctr(cname, image, cpu="250m", mem=req, mem_limit="4Gi")], replicas=2,
                         revisions=[(9 * 1440, None, None)])
        msg = (f"The node was low on resource: memory. Threshold quantity: 100Mi, available: {60000 + int(when * 3100)}Ki. "
               f"Container {cname} was using {used_ki}Ki, request is {req}, has larger consumption of memory. ")
        gone = b.pod(w, SICK, Done(Ended(137, "ContainerStatusUnknown", 9 * 1440, when)), created=9 * 1440, evicted=msg)
        b.event(ns, ("Pod", gone), "Evicted", msg, first=when, type="Warning", host=SICK)
        b.gauge("kube_pod_status_reason", {"job": "kube-state-metrics", "namespace": ns, "pod": gone,
                                           "reason": "Evicted"}, lambda m, w=when: 1 if m <= w else 0)
        b.event(ns, ("Pod", gone), "Killing", f"Stopping container {cname}", first=when - 0.01, host=SICK)
        b.pod(w, others[0], Running(when - 0.3), created=when - 0.1)
        b.pod(w, others[2], Running(9 * 1440), created=9 * 1440)

    fraud = b.deployment("payments", "fraud-scorer", [ctr("scorer", "registry.acme.io/payments/fraud-scorer:2.0.4",
                                                          cpu="500m", mem="1Gi", mem_limit="1Gi")], replicas=1, ready=0,
                         revisions=[(2 * 1440, None, None)])
    fp = b.pod(fraud, others[1], Waiting("CreateContainerConfigError",
                                         "couldn't find key MODEL_BUCKET_KEY in Secret payments/fraud-scorer"),
               created=95)
    b.event("payments", ("Pod", fp), "Failed", "Error: couldn't find key MODEL_BUCKET_KEY in Secret "
            "payments/fraud-scorer", first=94, last=1, count=440, type="Warning", host=others[1])

    # node-exporter and kube-state-metrics, cAdvisor for the pods on the sick node.
    grow = lambda m, lo, hi: lo + (hi - lo) * min(1.0, max(0.0, (70 - m) / 58))  # noqa: E731
    for n, ip in ips.items():
        inst = {"job": "node-exporter", "instance": f"{ip}:9100"}
        b.gauge("node_memory_MemTotal_bytes", inst, 64 * GI * 0.984)
        avail = (lambda m: 64 * GI * 0.984 - grow(m, 38.5, 62.3) * GI) if n == SICK else \
            (lambda m, k=len(ip): 64 * GI * (0.44 + 0.01 * (k % 3)))
        b.gauge("node_memory_MemAvailable_bytes", inst, avail)
        b.gauge("kube_node_status_condition", {"job": "kube-state-metrics", "node": n, "condition": "MemoryPressure",
                                               "status": "true"},
                (lambda m: 1 if m <= PRESSURE_SINCE else 0) if n == SICK else 0)
    cad = {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
    for pod, ns, cname, lo, hi in [(idx_pods[0], "search", "indexer", 6.1, 19.8), (idx_pods[1], "search", "indexer", 5.8, 18.9),
                                   (pdf_pod, "docs", "pdf-render", 2.2, 9.6), (cache_pod, "web", "memcached", 7.9, 8.0)]:
        b.gauge("container_memory_working_set_bytes", {**cad, "namespace": ns, "pod": pod, "container": cname,
                                                       "node": SICK},
                lambda m, lo=lo, hi=hi: grow(m, lo, hi) * GI)

    b.alert = kp_alert(b, {"alertname": "NodeMemoryHighUtilization", "container": "node-exporter",
                           "endpoint": "http-metrics", "instance": "10.20.3.41:9100", "job": "node-exporter",
                           "namespace": "monitoring", "pod": "kube-prometheus-stack-prometheus-node-exporter-x7k2p",
                           "prometheus": "monitoring/kube-prometheus-stack-prometheus",
                           "service": "kube-prometheus-stack-prometheus-node-exporter", "severity": "warning"}, started=4, value="97.31%")
    return b
