"""KubeDaemonSetRolloutStuck for fluentd; only Kubernetes objects (no metrics, no logs index).

The DaemonSet was bumped to fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.3, a tag
that was never published. With maxUnavailable 1 the controller replaced one pod, whose image cannot
be pulled (NotFound), and stops there; the other four nodes still run the old tag. No catalog action
rolls back a DaemonSet (rollback_deployment acts on Deployments), so the expected action is none.
"""
from kit import Bundle, Running, Waiting, ctr, image_pull_events, kp_alert, ksm_target

NS = "logging"
OLD = "fluent/fluentd-kubernetes-daemonset:v1.17.0-debian-elasticsearch8-1.2"
NEW = "fluent/fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.3"


def fluentd(image: str) -> dict:
    return ctr("fluentd", image, cpu="100m", mem="200Mi", mem_limit="512Mi",
               env=[{"name": "FLUENT_ELASTICSEARCH_HOST", "value": "logs-es-http.logging.svc"},
                    {"name": "FLUENT_ELASTICSEARCH_PORT", "value": "9200"}],
               volumeMounts=[{"name": "varlog", "mountPath": "/var/log"},
                             {"name": "containers", "mountPath": "/var/lib/docker/containers", "readOnly": True}])


EXPECTED = {"category": "image_pull_error", "component": "fluentd", "action": "none", "rationale": (
    "the DaemonSet's generation 7 points at fluentd-kubernetes-daemonset:v1.17.1-debian-elasticsearch8-1.3, which "
    "the registry does not have (NotFound); the one replaced pod sits in ImagePullBackOff and maxUnavailable=1 "
    "stops the rollout. Revert the image tag (kubectl rollout undo daemonset/fluentd); no catalog action applies "
    "to a DaemonSet. Sources: KubeDaemonSetRolloutStuck rule (prometheus-operator/kube-prometheus); an unpublished "
    "fluentd-kubernetes-daemonset tag (fluent/fluentd-kubernetes-daemonset#572, 'manifest unknown').")}


def build() -> Bundle:
    b = Bundle("fluentd-daemonset-rollout-stuck", "KubeDaemonSetRolloutStuck for logging/fluentd",
               "2026-11-08T16:10:00Z", EXPECTED)
    nodes = b.nodes([f"worker-{i}.k8s.prod.acme.internal" for i in range(1, 6)],
                    [f"192.168.40.{11 + i}" for i in range(5)], ["dc1-row-b"] * 5, instance_type="baremetal-32c-128g",
                    cpu=32, memory_gi=128, pods=110, created=400 * 1440)
    vols = [{"name": "varlog", "hostPath": {"path": "/var/log"}},
            {"name": "containers", "hostPath": {"path": "/var/lib/docker/containers"}}]
    ds = b.daemonset(NS, "fluentd", [fluentd(NEW)], desired=5, ready=4, updated=1, generation=7,
                     volumes=vols)
    old_rev, new_rev = b.hash(10, "fluentd", 6), b.hash(10, "fluentd", 7)
    for n in nodes[:2] + nodes[3:]:
        b.pod(ds, n, Running(21 * 1440), created=21 * 1440, containers=[fluentd(OLD)],
              labels={"controller-revision-hash": old_rev, "pod-template-generation": "6"})
    stuck = b.pod(ds, nodes[2], Waiting("ImagePullBackOff", f'Back-off pulling image "{NEW}"'), created=47.8,
                  labels={"controller-revision-hash": new_rev, "pod-template-generation": "7"})
    image_pull_events(b, NS, stuck, NEW, nodes[2], first=47.8, count=14)
    gone = f"fluentd-{b.hash(5, 'fluentd-old-3')}"
    b.event(NS, ("DaemonSet", "fluentd"), "SuccessfulDelete", f"Deleted pod: {gone}", first=48,
            source="daemonset-controller")
    b.event(NS, ("DaemonSet", "fluentd"), "SuccessfulCreate", f"Created pod: {stuck}", first=47.8,
            source="daemonset-controller")

    es = b.statefulset(NS, "logs-es-default", [ctr("elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
                                                   cpu="2", mem="8Gi", mem_limit="8Gi")],
                       replicas=3, ready=3, claims=[("elasticsearch-data", "500Gi")])
    for i, n in enumerate(nodes[:3]):
        b.pod(es, n, Running(60 * 1440), created=60 * 1440, name=f"logs-es-default-{i}")
    dash = b.deployment(NS, "opensearch-dashboards", [ctr("dashboards", "docker.elastic.co/kibana/kibana:8.15.3",
                                                          cpu="500m", mem="1Gi", mem_limit="2Gi")],
                        replicas=1, revisions=[(30 * 1440, None, None), (190, None, {
                            "kubectl.kubernetes.io/restartedAt": b.ts(190)})], rs_replicas=[0, 1])
    b.pod(dash, nodes[4], Running(189), created=190)
    b.service(NS, "logs-es-http", {"elasticsearch.k8s.elastic.co/cluster-name": "logs"}, [("https", 9200, 9200)],
              "10.96.112.30")

    b.alert = kp_alert(b, {"alertname": "KubeDaemonSetRolloutStuck", "daemonset": "fluentd", "namespace": NS,
                           "severity": "warning", **ksm_target(b)}, started=30)
    return b
