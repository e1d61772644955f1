"""Datadog "Kubernetes node not ready" monitor posted to Slack; Kubernetes and logs, no metrics.

Node gke-prod-use1-pool-2-5f1c7a3e-q8zt logged a hung-task kernel event (node-problem-detector),
then its kubelet stopped posting status 17 minutes ago: every condition Unknown, the unreachable
taints set, and the taint manager marking its pods for deletion after their 300 s tolerations.
Trap: checkout-web logs upstream timeouts to cart-api (one of whose pods was on that node) for a
minute, which reads like a cart-api dependency problem.
"""
from kit import Bundle, Running, ctr

NODE = "gke-prod-use1-pool-2-5f1c7a3e-q8zt"
DOWN = 17
UNKNOWN = ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", DOWN)


EXPECTED = {"category": "node_pressure", "component": NODE, "action": "cordon_node", "rationale": (
    f"{NODE} stopped posting status 17 minutes ago (all conditions Unknown: 'Kubelet stopped posting node "
    "status.', unreachable NoSchedule/NoExecute taints) after node-problem-detector reported hung tasks "
    "(jbd2, containerd); its pods are being evicted. Cordon it and replace the VM. The checkout-web timeouts to "
    "cart-api were the pod on that node. Sources: Datadog monitor notification format "
    "(docs.datadoghq.com/monitors/notify/variables); 'NodeStatusUnknown Kubelet stopped posting node status.' "
    "and unreachable taints (kubernetes/kubernetes#34314, rancher/rancher#29997); node-problem-detector TaskHung "
    "events; pino JSON log shape and Node's connect ETIMEDOUT error.")}


def build() -> Bundle:
    b = Bundle("node-notready-datadog", "Datadog: Kubernetes node not ready", "2026-11-10T06:30:00Z", EXPECTED)
    nodes = [NODE, "gke-prod-use1-pool-2-5f1c7a3e-b1rn", "gke-prod-use1-pool-2-5f1c7a3e-k7vd",
             "gke-prod-use1-pool-1-0a9e8d7c-fz3m"]
    for i, n in enumerate(nodes):
        b.node(n, f"10.128.0.{31 + i}", zone="us-east1-b", instance_type="n2-standard-8",
               labels={"cloud.google.com/gke-nodepool": "-".join(n.split("-")[3:5])},
               conditions={t: UNKNOWN for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")}
               if n == NODE else None,
               taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": b.ts(DOWN - 0.7)},
                       {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": b.ts(DOWN - 0.7)}]
               if n == NODE else None, heartbeat=0.3)
    others = nodes[1:]
    b.event("default", ("Node", NODE), "TaskHung", "task jbd2/sda1-8:412 blocked for more than 120 seconds.",
            first=24, type="Warning", source="kernel-monitor", host=NODE)
    b.event("default", ("Node", NODE), "TaskHung", "task containerd:1187 blocked for more than 120 seconds.",
            first=22.5, type="Warning", source="kernel-monitor", host=NODE)
    b.event("default", ("Node", NODE), "NodeNotReady", f"Node {NODE} status is now: NodeNotReady", first=DOWN - 0.7,
            source="node-controller")

    apps = [("checkout", "checkout-web", "registry.acme.io/checkout/checkout-web:12.4.0", 3),
            ("checkout", "cart-api", "registry.acme.io/checkout/cart-api:8.0.2", 3),
            ("catalog", "search-ui", "registry.acme.io/catalog/search-ui:4.4.4", 2),
            ("accounts", "profile-api", "registry.acme.io/accounts/profile-api:2.19.0", 2)]
    pods: dict[str, list[str]] = {}
    for ns, name, image, replicas in apps:
        w = b.deployment(ns, name, [ctr(name, image, cpu="250m", mem="256Mi", mem_limit="512Mi",
                                        ports=[{"containerPort": 8080}])], replicas=replicas,
                         revisions=[(6 * 1440, None, None)])
        pods[name] = []
        for i in range(replicas):
            on_dead = i == 0 and name != "checkout-web"
            node = NODE if on_dead else others[(i + len(name)) % 3]
            p = b.pod(w, node, Running(6 * 1440, ready=not on_dead), created=6 * 1440,
                      deleting=DOWN - 5.75 if on_dead else None)
            pods[name].append(p)
            if on_dead:
                b.event(ns, ("Pod", p), "NodeNotReady", "Node is not ready", first=DOWN - 0.7, type="Warning",
                        source="node-controller")
                b.event(ns, ("Pod", p), "TaintManagerEviction", f"Marking for deletion Pod {ns}/{p}",
                        first=DOWN - 5.75, source="taint-eviction-controller")
                b.pod(w, others[i % 3], Running(DOWN - 6.2), created=DOWN - 5.8)
    agent = b.deployment("kube-system", "konnectivity-agent", [ctr("konnectivity-agent",
                                                                   "gke.gcr.io/proxy-agent:v0.30.3-gke.6", cpu="10m",
                                                                   mem="30Mi", mem_limit="125Mi")],
                         replicas=4, revisions=[(40 * 1440, None, None)])
    for n in nodes:
        b.pod(agent, n, Running(40 * 1440, ready=n != NODE), created=40 * 1440)

    # checkout-web (Node.js, pino): a burst of upstream timeouts when the cart-api pod vanished.
    cart_ip = "10.52.4.19"
    for m in [x / 10 for x in range(1780, 10, -37)]:
        p = pods["checkout-web"][int(m) % 3]
        b.log(p, m, f'{{"level":30,"time":{int(b.at(m).timestamp() * 1000)},"pid":1,"hostname":"{p}",'
                    f'"req":{{"method":"GET","url":"/checkout/summary"}},"res":{{"statusCode":200}},'
                    f'"responseTime":{38 + int(m) % 17},"msg":"request completed"}}')
    for k in range(7):
        m = DOWN + 0.4 - k * 0.15
        p = pods["checkout-web"][k % 3]
        b.log(p, m, f'{{"level":50,"time":{int(b.at(m).timestamp() * 1000)},"pid":1,"hostname":"{p}",'
                    f'"upstream":"cart-api","err":{{"type":"Error","message":"connect ETIMEDOUT {cart_ip}:8080",'
                    f'"code":"ETIMEDOUT","errno":-110,"syscall":"connect","address":"{cart_ip}","port":8080}},'
                    f'"msg":"upstream request failed"}}')

    b.message = (
        f"[Triggered on {{kube_cluster_name:prod-use1,kube_node:{NODE}}}] [P2] Kubernetes node not ready\n"
        f"kubernetes_state.node.status{{status:notready}} is 1 on kube_node:{NODE} (threshold >= 1) over the last "
        "10m.\n"
        "The node has not reported Ready for 10 minutes; pods on it are evicted once their tolerations expire.\n"
        "@slack-platform-oncall @pagerduty-platform-primary")
    return b
