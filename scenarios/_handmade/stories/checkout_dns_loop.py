"""A human asks why checkout cannot resolve payments-gateway; logs and Kubernetes, no metrics.

The node pool was replaced at 14:02 by an image whose /etc/resolv.conf points at systemd-resolved
(127.0.0.53). When CoreDNS was rescheduled onto the new nodes it inherited that resolv.conf for
`forward . /etc/resolv.conf`, detected the forwarding loop and exits (plugin/loop FATAL), so both
replicas crash-loop and every lookup in the cluster fails: Java "UnknownHostException ... Temporary
failure in name resolution", Node "getaddrinfo EAI_AGAIN". Trap: checkout deployed two hours ago.
"""
from kit import Bundle, Ended, Running, Waiting, ctr

NEW_POOL = 33
LOOP_SINCE = 29


EXPECTED = {"category": "dns_failure", "component": "coredns", "action": "none", "rationale": (
    "both CoreDNS replicas crash-loop since 14:06 with '[FATAL] plugin/loop: Loop (127.0.0.1:... -> :53) detected "
    "for zone \".\"': they were rescheduled onto the new node pool, whose resolv.conf points at a local stub "
    "resolver, and the Corefile forwards to /etc/resolv.conf. With no DNS endpoints every client fails "
    "(UnknownHostException, EAI_AGAIN). Point kubelet's resolvConf at the real upstream (or forward CoreDNS to "
    "it); a restart does not help. The 12:27 checkout deploy is unrelated. Sources: CoreDNS loop plugin message "
    "and troubleshooting (coredns/coredns#2400, #2087, #2795); Java UnknownHostException 'Temporary failure in "
    "name resolution' (kubernetes/kubernetes#74210); Node getaddrinfo EAI_AGAIN (kubernetes/kubernetes#68321).")}


def build() -> Bundle:
    b = Bundle("checkout-unknownhost-question", "question about checkout UnknownHostException in #prod-us",
               "2026-11-17T14:35:00Z", EXPECTED)
    nodes = [f"prod-us-workers-b-{s}" for s in ("k2m9x", "q7d4n", "w3c8p")]
    for i, n in enumerate(nodes):
        node = b.node(n, f"10.20.8.{31 + i}", zone="us-central1-a", instance_type="n2-standard-16", cpu=16,
                      memory_gi=64, created=NEW_POOL)
        node["status"]["nodeInfo"]["osImage"] = "Ubuntu 24.04.1 LTS"
        b.event("default", ("Node", n), "NodeReady", f"Node {n} status is now: NodeReady", first=NEW_POOL - 0.8,
                host=n)
    core = b.deployment("kube-system", "coredns", [ctr("coredns", "registry.k8s.io/coredns/coredns:v1.11.3",
                                                       cpu="100m", mem="70Mi", mem_limit="170Mi",
                                                       args=["-conf", "/etc/coredns/Corefile"])],
                        replicas=2, ready=0, revisions=[(210 * 1440, None, None)])
    b.configmap("kube-system", "coredns", {"Corefile": ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n"
                                                       "    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                                                       "       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n"
                                                       "       ttl 30\n    }\n    prometheus :9153\n"
                                                       "    forward . /etc/resolv.conf {\n       max_concurrent 1000\n"
                                                       "    }\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n"},
                created=210 * 1440)
    b.service("kube-system", "kube-dns", {"k8s-app": "kube-dns"}, [("dns", 53, 53), ("dns-tcp", 53, 53)], "10.100.0.10")
    fatal = ('[FATAL] plugin/loop: Loop (127.0.0.1:{port} -> :53) detected for zone ".", see '
             'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO {q}."')
    for i, n in enumerate(nodes[:2]):
        p = b.pod(core, n, Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=coredns",
                                   restarts=9 - i, last=Ended(1, "Error", 3.3 + i, 3.2 + i)), created=LOOP_SINCE + 0.5)
        q = f"{4547991504243258144 + 7919 * i}.{3688648895315093531 - 104729 * i}"
        for k in range(9 - i):
            m = LOOP_SINCE - k * 3.1 - i
            b.log(p, m, ".:53\n[INFO] plugin/reload: Running configuration SHA512 = 8c1a2d6f\nCoreDNS-1.11.3\n"
                        "linux/amd64, go1.21.11, a6338e9\n" + fatal.format(port=38227 + 97 * k, q=q), stream="stdout")
        b.kubectl_logs(p, ".:53\n[INFO] plugin/reload: Running configuration SHA512 = 8c1a2d6f\nCoreDNS-1.11.3\n"
                          "linux/amd64, go1.21.11, a6338e9\n" + fatal.format(port=40211, q=q), container="coredns",
                       previous=True)
        b.event("kube-system", ("Pod", p), "BackOff", f"Back-off restarting failed container coredns in pod "
                f"{p}_kube-system({b.uid('Pod', 'kube-system', p)})", first=LOOP_SINCE - 1, last=0.5, count=120,
                type="Warning", host=n)
        b.event("kube-system", ("Pod", p), "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503",
                first=LOOP_SINCE, last=3.4, count=27, type="Warning", host=n)

    co_old = [ctr("checkout", "registry.acme.io/shop/checkout:9.12.0", cpu="500m", mem="768Mi", mem_limit="1536Mi")]
    co = b.deployment("shop", "checkout", [ctr("checkout", "registry.acme.io/shop/checkout:9.13.0", cpu="500m",
                                               mem="768Mi", mem_limit="1536Mi")], replicas=3,
                      revisions=[(4 * 1440, co_old, None), (128, None, None)], rs_replicas=[0, 3])
    co_pods = [b.pod(co, n, Running(NEW_POOL - 2), created=NEW_POOL - 1.5) for n in nodes]
    cart = b.deployment("shop", "cart", [ctr("cart", "registry.acme.io/shop/cart:6.2.1", cpu="250m", mem="256Mi",
                                             mem_limit="512Mi")], replicas=2, revisions=[(9 * 1440, None, None)])
    cart_pods = [b.pod(cart, n, Running(NEW_POOL - 2), created=NEW_POOL - 1.5) for n in nodes[1:]]
    gw = b.deployment("payments", "payments-gateway", [ctr("gateway", "registry.acme.io/payments/gateway:3.0.8",
                                                           cpu="500m", mem="512Mi", mem_limit="1Gi")], replicas=2,
                      revisions=[(20 * 1440, None, None)])
    for n in nodes[:2]:
        b.pod(gw, n, Running(NEW_POOL - 2), created=NEW_POOL - 1.5)

    host = "payments-gateway.payments.svc.cluster.local"
    for m in range(NEW_POOL - 3, 0, -1):
        p = co_pods[m % 3]
        if m > LOOP_SINCE - 1:
            b.log(p, m, f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')}.{m * 7 % 1000:03d}  INFO 1 --- [nio-8080-exec-3] "
                        "c.a.shop.checkout.PaymentClient        : authorised order in 184 ms")
            continue
        b.log(p, m, f"{b.at(m).strftime('%Y-%m-%d %H:%M:%S')}.{m * 7 % 1000:03d} ERROR 1 --- [nio-8080-exec-"
                    f"{m % 9 + 1}] c.a.shop.checkout.PaymentClient        : payment authorisation failed\n"
                    "org.springframework.web.client.ResourceAccessException: I/O error on POST request for "
                    f"\"http://{host}/v1/authorise\": {host}\n"
                    f"Caused by: java.net.UnknownHostException: {host}: Temporary failure in name resolution\n"
                    "\tat java.base/java.net.Inet6AddressImpl.lookupAllHostAddr(Native Method)\n"
                    "\tat java.base/java.net.InetAddress$PlatformNameService.lookupAllHostAddr(InetAddress.java:1048)\n"
                    "\tat java.base/java.net.InetAddress.getAddressesFromNameService(InetAddress.java:1640)",
              stream="stderr")
        if m % 2 == 0:
            cp = cart_pods[m % 2]
            b.log(cp, m - 0.2, f'{{"level":50,"time":{int(b.at(m - 0.2).timestamp() * 1000)},"pid":1,"hostname":"{cp}",'
                               f'"err":{{"type":"Error","message":"getaddrinfo EAI_AGAIN {host}","stack":"Error: '
                               f'getaddrinfo EAI_AGAIN {host}\\n    at GetAddrInfoReqWrap.onlookupall [as oncomplete] '
                               '(node:dns:120:26)","errno":-3001,"code":"EAI_AGAIN","syscall":"getaddrinfo",'
                               f'"hostname":"{host}"}},"msg":"price check failed"}}')

    b.message = ("anyone else seeing DNS weirdness? checkout is throwing UnknownHostException for payments-gateway since "
                 "~14:07 and cart's node service logs EAI_AGAIN. we haven't deployed anything since noon. prod-us")
    return b
