"""KubeContainerWaiting for tracking-ingest: OOMKilled restarts for more than an hour; metrics and Kubernetes.

A carrier began sending 50k-event batches 80 minutes ago; tracking-ingest decodes a batch in memory
and its working set climbs to the 512Mi limit within seconds of each start: OOMKilled (137), back-off,
again. Trap: tracking-api, in the same namespace, is also "waiting" (CreateContainerConfigError for a
missing Secret key since this morning) and would also match a waiting-container alert.
"""
from kit import Bundle, Ended, Running, Waiting, ctr, kp_alert

NS = "logistics"
MI = 1024 ** 2
SINCE = 80


EXPECTED = {"category": "oom_killed", "component": "tracking-ingest", "action": "set_resources", "rationale": (
    "every tracking-ingest container ends OOMKilled (137) seconds after start since 11:40, its working set "
    "reaching the 512Mi limit while decoding the carrier's larger batches; no rollout in 18 days. Raise the "
    "memory limit (and bound the batch size). tracking-api's CreateContainerConfigError (missing Secret key) "
    "in the same namespace is a different problem. Sources: KubeContainerWaiting rule text "
    "(prometheus-operator/kube-prometheus manifests/kubernetesControlPlane-prometheusRule.yaml); OOMKilled/137 "
    "when a container exceeds its memory limit (kubernetes.io/docs/tasks/configure-pod-container/"
    "assign-memory-resource/).")}


def build() -> Bundle:
    b = Bundle("tracking-container-waiting", "KubeContainerWaiting in logistics", "2026-11-20T13:00:00Z", EXPECTED)
    nodes = b.nodes(["aks-general-40506070-vmss000007", "aks-general-40506070-vmss000008",
                     "aks-general-40506070-vmss00000a"], ["10.224.1.17", "10.224.1.18", "10.224.1.19"],
                    ["westeurope-1", "westeurope-2", "westeurope-3"], instance_type="Standard_D8s_v5")
    ing = b.deployment(NS, "tracking-ingest", [ctr("ingest", "registry.acme.io/logistics/tracking-ingest:2.7.5",
                                                   cpu="250m", mem="384Mi", mem_limit="512Mi",
                                                   env=[{"name": "GOMEMLIMIT", "value": "460MiB"}])],
                       replicas=3, ready=0, revisions=[(18 * 1440, None, None)])
    pods = []
    for i, n in enumerate(nodes):
        p = b.pod(ing, n, Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=ingest",
                                  restarts=17 - i, last=Ended(137, "OOMKilled", 4.1 + i, 4.0 + i)), created=18 * 1440)
        pods.append(p)
        b.event(NS, ("Pod", p), "BackOff", f"Back-off restarting failed container ingest in pod {p}_{NS}"
                f"({b.uid('Pod', NS, p)})", first=SINCE - 3, last=0.7, count=260, type="Warning", host=n)
    api = b.deployment(NS, "tracking-api", [ctr("api", "registry.acme.io/logistics/tracking-api:5.0.0", cpu="250m",
                                                mem="256Mi", mem_limit="512Mi",
                                                env=[{"name": "MAPS_API_KEY", "valueFrom": {"secretKeyRef": {
                                                    "name": "tracking-api", "key": "maps-api-key"}}}])],
                       replicas=2, ready=1, revisions=[(30 * 1440, None, None), (250, None, None)], rs_replicas=[1, 1])
    b.pod(api, nodes[0], Running(30 * 1440), created=30 * 1440, owner=("ReplicaSet", api.replicasets[0]))
    ap = b.pod(api, nodes[1], Waiting("CreateContainerConfigError",
                                      "couldn't find key maps-api-key in Secret logistics/tracking-api"), created=250)
    b.event(NS, ("Pod", ap), "Failed", "Error: couldn't find key maps-api-key in Secret logistics/tracking-api",
            first=60, last=0.5, count=290, type="Warning", host=nodes[1])

    ksm = {"job": "kube-state-metrics", "namespace": NS}
    cad = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "namespace": NS, "container": "ingest"}
    for i, p in enumerate(pods):
        starts = [SINCE - i - k * 4.5 for k in range(17 - i)]
        done = lambda m, s=starts: sum(1 for x in s if x >= m)  # noqa: E731
        b.counter("kube_pod_container_status_restarts_total", {**ksm, "pod": p, "container": "ingest"},
                  lambda m, d=done: d(m) - d(m + 1), start=2)
        b.gauge("kube_pod_container_status_waiting_reason", {**ksm, "pod": p, "container": "ingest",
                                                             "reason": "CrashLoopBackOff"},
                lambda m: 0 if m > SINCE - 2 else 1)
        b.gauge("kube_pod_container_status_last_terminated_reason", {**ksm, "pod": p, "container": "ingest",
                                                                     "reason": "OOMKilled"},
                lambda m: None if m > SINCE else 1)
        b.gauge("kube_pod_container_resource_limits", {**ksm, "pod": p, "container": "ingest", "resource": "memory",
                                                       "unit": "byte"}, 512 * MI)
        b.gauge("container_memory_working_set_bytes", {**cad, "pod": p},
                lambda m, s=starts: (231 + (m % 3)) * MI if m > SINCE else (
                    None if not any(0 <= x - m < 1 for x in s) else 509 * MI))
    b.gauge("kube_pod_container_status_waiting_reason", {**ksm, "pod": ap, "container": "api",
                                                         "reason": "CreateContainerConfigError"},
            lambda m: None if m > 180 else 1)

    pod = pods[1]
    b.alert = kp_alert(b, {"alertname": "KubeContainerWaiting", "container": "ingest", "namespace": NS, "pod": pod,
                           "severity": "warning", "prometheus": "monitoring/kube-prometheus-stack-prometheus"}, started=2)
    return b
