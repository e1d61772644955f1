"""KubeJobFailed for a one-off reindex Job (an Argo CD PostSync hook), Python traceback in its logs.

The reindex script reads os.environ["OPENSEARCH_URL"]; the ConfigMap it loads with envFrom was
renamed to OPENSEARCH_HOST in the same sync, so every attempt dies with KeyError: 'OPENSEARCH_URL'
after the first log line. Trap: catalog-thumbs, in the same namespace, has been crash-looping
(OOMKilled) for 50 minutes and dominates restarts and waiting reasons in the metrics.
"""
from kit import Bundle, Done, Ended, Running, Waiting, ctr, kp_alert, ksm_target

NS = "catalog"
JOB = "catalog-reindex-v42"
IMAGE = "registry.acme.io/catalog/catalog-tools:42.0.3"
MI = 1024 * 1024


def traceback(b: Bundle, started: float) -> str:
    t0 = b.at(started).strftime("%Y-%m-%d %H:%M:%S")
    return (f"{t0},114 INFO reindex starting full reindex index=products-v42 batch_size=500\n"
            "Traceback (most recent call last):\n"
            '  File "/app/reindex.py", line 131, in <module>\n'
            "    sys.exit(main())\n"
            "             ^^^^^^\n"
            '  File "/app/reindex.py", line 98, in main\n'
            '    client = OpenSearch(hosts=[os.environ["OPENSEARCH_URL"]], http_auth=auth, timeout=30)\n'
            "                               ~~~~~~~~~~^^^^^^^^^^^^^^^^^^\n"
            '  File "<frozen os>", line 714, in __getitem__\n'
            "KeyError: 'OPENSEARCH_URL'")


EXPECTED = {"category": "config_error", "component": JOB, "action": "none", "rationale": (
    "the reindex Job's four attempts all end with a Python traceback, KeyError: 'OPENSEARCH_URL' at "
    "os.environ[...] in reindex.py: the ConfigMap catalog-reindex (recreated in the same Argo CD sync) now provides "
    "OPENSEARCH_HOST instead. Fix the ConfigMap or the code; nothing to restart or roll back. catalog-thumbs' "
    "OOMKilled crash loop in the same namespace is a separate, unrelated problem. Sources: KubeJobFailed rule "
    "(prometheus-operator/kube-prometheus manifests/kubernetesControlPlane-prometheusRule.yaml); KeyError from "
    "os.environ[...] (docs.python.org/3/library/os.html#os.environ), traceback shape of Python 3.11+.")}


def build() -> Bundle:
    b = Bundle("catalog-reindex-job-failed", "KubeJobFailed in catalog", "2026-11-05T09:40:00Z", EXPECTED)
    nodes = b.nodes(["gke-prod-eu-apps-7f3a9c1e-2lqx", "gke-prod-eu-apps-7f3a9c1e-9ktw", "gke-prod-eu-apps-7f3a9c1e-v4mn"],
                    ["10.132.0.21", "10.132.0.22", "10.132.0.23"], ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
                    instance_type="e2-standard-8", labels={"cloud.google.com/gke-nodepool": "apps"})
    n1, n2, n3 = nodes
    b.configmap(NS, "catalog-reindex", {"OPENSEARCH_HOST": "https://opensearch.search.svc.cluster.local:9200",
                                        "OPENSEARCH_USER": "catalog-indexer", "REINDEX_BATCH_SIZE": "500",
                                        "REINDEX_TARGET": "products-v42"}, created=29)
    tools = ctr("reindex", IMAGE, cpu="500m", mem="512Mi", mem_limit="1Gi", command=["python", "/app/reindex.py"],
                envFrom=[{"configMapRef": {"name": "catalog-reindex"}}],
                env=[{"name": "OPENSEARCH_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "catalog-indexer",
                                                                                    "key": "password"}}}])
    job = b.job(NS, JOB, [tools], started=28, failed=4, backoff_limit=3, ended=26.6,
                labels={"app.kubernetes.io/instance": "catalog", "app.kubernetes.io/managed-by": "argocd"})
    attempts = []
    for start, node in ((28, n2), (27.8, n3), (27.45, n2), (26.8, n1)):
        p = b.pod(job, node, Done(Ended(1, "Error", start - 0.03, start - 0.05)), created=start)
        text = traceback(b, start - 0.03)
        b.kubectl_logs(p, text)
        b.log(p, start - 0.04, text, stream="stderr")
        b.event(NS, ("Job", JOB), "SuccessfulCreate", f"Created pod: {p}", first=start, source="job-controller")
        attempts.append(p)
    b.event(NS, ("Job", JOB), "BackoffLimitExceeded", "Job has reached the specified backoff limit", first=26.6,
            type="Warning", source="job-controller")

    api = b.deployment(NS, "catalog-api", [ctr("catalog-api", "registry.acme.io/catalog/catalog-api:42.0.3", cpu="500m",
                                               mem="768Mi", mem_limit="1536Mi", ports=[{"containerPort": 8000}])],
                       replicas=3, revisions=[(9 * 1440, None, None), (29, None, None)], rs_replicas=[0, 3])
    api_pods = [b.pod(api, n, Running(28.5), created=29) for n in nodes]
    for m in range(28, 0, -2):
        b.log(api_pods[m % 3], m, f'10.132.0.{40 + m % 9} - - [{b.at(m).strftime("%d/%b/%Y:%H:%M:%S +0000")}] '
                                  f'"GET /api/v2/products?page={m % 11} HTTP/1.1" 200 {18000 + m * 37} "-" '
                                  '"storefront/7.3 (+okhttp)"')

    thumbs_ctr = ctr("thumbs", "registry.acme.io/catalog/catalog-thumbs:1.9.0", cpu="200m", mem="128Mi",
                     mem_limit="256Mi")
    thumbs = b.deployment(NS, "catalog-thumbs", [thumbs_ctr], replicas=1, ready=0,
                          revisions=[(16 * 1440, None, None)])
    tp = b.pod(thumbs, n1, Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=thumbs pod=x",
                                   restarts=11, last=Ended(137, "OOMKilled", 4.2, 2.9)), created=16 * 1440)
    b.event(NS, ("Pod", tp), "BackOff", "Back-off restarting failed container thumbs in pod "
            f"{tp}_{NS}({b.uid('Pod', NS, tp)})", first=50, last=1, count=214, type="Warning", host=n1)
    b.log(tp, 4.1, "thumbs: warming cache from gs://acme-catalog-media/thumbs (42118 objects)")

    b.service(NS, "catalog-api", {"app": "catalog-api"}, [("http", 80, 8000)], "10.8.14.201")

    # kube-state-metrics and cAdvisor, as kube-prometheus-stack scrapes them.
    ksm = {"job": "kube-state-metrics"}
    b.gauge("kube_job_status_failed", {**ksm, "namespace": NS, "job_name": JOB},
            lambda m: None if m > 28 else sum(1 for s in (27.95, 27.75, 27.4, 26.75) if m <= s))
    b.gauge("kube_job_failed", {**ksm, "namespace": NS, "job_name": JOB, "condition": "true"},
            lambda m: None if m > 28 else (1 if m <= 26.6 else 0))
    b.gauge("kube_job_status_active", {**ksm, "namespace": NS, "job_name": JOB},
            lambda m: None if m > 28 else (0 if m <= 26.6 else 1))
    restarts = lambda m: 0 if m > 50 else min(11, int((50 - m) / 4.2) + 1)  # noqa: E731
    b.counter("kube_pod_container_status_restarts_total", {**ksm, "namespace": NS, "pod": tp, "container": "thumbs"},
              lambda m: restarts(m) - restarts(m + 1))
    b.gauge("kube_pod_container_status_waiting_reason", {**ksm, "namespace": NS, "pod": tp, "container": "thumbs",
                                                         "reason": "CrashLoopBackOff"},
            lambda m: 0 if m > 49 else (1 if m % 5 else 0))
    b.gauge("kube_pod_container_status_last_terminated_reason", {**ksm, "namespace": NS, "pod": tp,
                                                                 "container": "thumbs", "reason": "OOMKilled"},
            lambda m: 1 if m <= 50 else None)
    for p in attempts:
        b.gauge("kube_pod_container_status_terminated_reason", {**ksm, "namespace": NS, "pod": p,
                                                                "container": "reindex", "reason": "Error"},
                lambda m, p=p: None if m > 28 else 1)
    for pod, ctr_name, limit in [(tp, "thumbs", 256)] + [(p, "catalog-api", 1536) for p in api_pods]:
        b.gauge("kube_pod_container_resource_limits", {**ksm, "namespace": NS, "pod": pod, "container": ctr_name,
                                                       "resource": "memory", "unit": "byte"}, limit * MI)
    cadvisor = {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
    b.gauge("container_memory_working_set_bytes", {**cadvisor, "namespace": NS, "pod": tp, "container": "thumbs"},
            lambda m: (150 + 106 * ((50 - m) % 4.2) / 4.2) * MI if m <= 50 else 140 * MI)
    for i, p in enumerate(api_pods):
        b.gauge("container_memory_working_set_bytes", {**cadvisor, "namespace": NS, "pod": p,
                                                       "container": "catalog-api"},
                lambda m, i=i: None if m > 29 else (610 + 9 * i + (m % 6)) * MI)

    b.alert = kp_alert(b, {"alertname": "KubeJobFailed", "condition": "true", "job_name": JOB, "namespace": NS,
                           "severity": "warning", **ksm_target(b)}, started=11.6)
    return b
