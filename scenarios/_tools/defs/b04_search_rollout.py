"""search-api rollout to tag v2.9.0 (the registry only has 2.9.0): the two new pods sit in
ErrImagePull/ImagePullBackOff, the rollout stalls with 3 of 4 old pods serving.

Noise: search-indexer logs Elasticsearch bulk rejections (a recurring, unrelated warning);
query-suggest is healthy; search-api's old pods log slow Elasticsearch queries now and then.
"""
from __future__ import annotations

import logstyles as ls
from common import all_pods, eks_nodes, healthy_service, spring_requests
from om import OM
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle, alert, kp_runbook

NOW = "2026-09-24T08:20:00Z"
DAY = 60 * 24
REPO = "ghcr.io/acme-search/search-api"


def build() -> Bundle:
    w = World(NOW, seed=404, cluster="prod-eu1")
    now = w.now
    eks_nodes(w, 3, subnet=20)
    om = OM(w, step=60)
    rollout = now - mins(31)

    api = w.deployment("search-api", "search", image=REPO,
                       history=[("2.8.1", now - mins(DAY * 22)), ("2.8.3", now - mins(DAY * 8)), ("v2.9.0", rollout)],
                       replicas=4, live={-1: 2, -2: 3},
                       container=container_spec("search-api", "x", cpu="500m", memory="1Gi", memory_limit="1536Mi",
                                                env={"ES_HOSTS": "https://search-es-http.search.svc:9200"},
                                                readiness=http_probe("/actuator/health/readiness")),
                       spec_extra={"imagePullSecrets": [{"name": "ghcr-pull"}]})
    indexer = w.deployment("search-indexer", "search", image="ghcr.io/acme-search/search-indexer",
                           history=[("1.7.0", now - mins(DAY * 15))], replicas=1,
                           container=container_spec("search-indexer", "x", port=None, cpu="250m", memory="512Mi",
                                                    memory_limit="768Mi"))
    suggest = w.deployment("query-suggest", "search", image="ghcr.io/acme-search/query-suggest",
                           history=[("0.4.2", now - mins(DAY * 40))], replicas=2,
                           container=container_spec("query-suggest", "x", cpu="100m", memory="256Mi"))
    for d in (api, suggest):
        w.service(d.name, "search", 80, "http")

    image = f"{REPO}:v2.9.0"
    for p in api.current.pods:
        w.never_started(p, "ImagePullBackOff", f'Back-off pulling image "{image}"')
        ref, fp = w.ref(p), "spec.containers{search-api}"
        pulls = int((now - p.created).total_seconds() // 300) + 4
        w.event(ref, "Pulling", f'Pulling image "{image}"', first=p.created + secs(2), last=now - mins(w.rng.randrange(1, 4)),
                count=pulls, host=p.node, field_path=fp)
        w.event(ref, "Failed", f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
                f'unpack image "{image}": failed to resolve reference "{image}": {image}: not found',
                first=p.created + secs(3), last=now - mins(2), count=pulls, type="Warning", host=p.node, field_path=fp)
        w.event(ref, "Failed", "Error: ErrImagePull", first=p.created + secs(3), last=now - mins(2), count=pulls,
                type="Warning", host=p.node, field_path=fp)
        w.event(ref, "BackOff", f'Back-off pulling image "{image}"', first=p.created + secs(15), last=now - secs(20),
                count=pulls * 6, host=p.node, field_path=fp)
        w.event(ref, "Failed", "Error: ImagePullBackOff", first=p.created + secs(15), last=now - secs(20),
                count=pulls * 6, type="Warning", host=p.node, field_path=fp)

    healthy_service(w, om, api, rps=120, mem_mi=900, cpu=0.35, histogram=True, median=0.045,
                    maker=spring_requests("search-api", [
                        ("INFO", "c.a.search.web.SearchController", "GET /v1/search?q=... -> 200 hits={n}"),
                        ("INFO", "c.a.search.web.SearchController", "GET /v1/search/facets -> 200"),
                        ("INFO", "c.a.search.web.SearchController", "GET /v1/search?q=... -> 200 hits=0"),
                        ("INFO", "c.a.search.web.AutocompleteController", "GET /v1/complete -> 200 ({n} us)"),
                        ("INFO", "c.a.search.web.SearchController", "GET /v1/search?page=2 -> 200 hits={n}"),
                        ("WARN", "c.a.search.es.EsQueryExecutor", "slow query took 1{n}ms index=products-v7 shards=6")]))
    healthy_service(w, om, indexer, mem_mi=420, cpu=0.12, http=False, every_s=(90, 240),
                    maker=lambda t, rng: ls.logrus(t, "info", "bulk indexed", index="products-v7",
                                                   docs=rng.randrange(200, 900), took_ms=rng.randrange(80, 400)))
    for p in all_pods(indexer):
        w.chatter(p, (600, 1500), lambda t, rng: (ls.logrus(
            t, "warning", "bulk request partially rejected", index="products-v7", rejected=rng.randrange(3, 40),
            reason="es_rejected_execution_exception: rejected execution of coordinating operation"), "stderr"))
    healthy_service(w, om, suggest, rps=60, mem_mi=140, cpu=0.05,
                    maker=lambda t, rng: ls.gunicorn_access(t, f"10.244.{rng.randrange(3)}.{rng.randrange(2, 250)}",
                                                            "GET", "/suggest?q=" + rng.choice(["sho", "lapt", "jack"]),
                                                            200, rng.randrange(300, 900), rng.randrange(3, 20),
                                                            "okhttp/4.12.0"))

    stuck = om.after(rollout + mins(10))
    lbl = {"namespace": "search", "deployment": "search-api"}
    for cond, status, vals in (("Progressing", "true", 1 - stuck), ("Progressing", "false", stuck),
                               ("Available", "true", 1.0)):
        om.gauge("kube_deployment_status_condition", "The current status conditions of a deployment.",
                 {**lbl, "condition": cond, "status": status}, vals)
    om.gauge("kube_deployment_status_replicas_updated", "The number of updated replicas per deployment.", lbl,
             2 * om.after(rollout))

    a = alert({"alertname": "KubeDeploymentRolloutStuck", "severity": "warning", "namespace": "search",
               "deployment": "search-api", "condition": "Progressing", "status": "false",
               "job": "kube-state-metrics", "cluster": "prod-eu1"},
              "Deployment rollout is not progressing.",
              "Rollout of deployment search/search-api is not progressing for longer than 15 minutes.",
              now - mins(6),
              'kube_deployment_status_condition{condition="Progressing",job="kube-state-metrics",status="false"} != 0',
              kp_runbook("KubeDeploymentRolloutStuck"))
    return Bundle(id="search-rollout-stuck", title="KubeDeploymentRolloutStuck for search/search-api", world=w, om=om,
                  alert=a,
                  expected={"category": "image_pull_error", "component": "search-api", "action": "rollback_deployment",
                            "rationale": "new pods never start: image tag v2.9.0 not found in the registry; rolling "
                                         "back restores the pullable 2.8.3 until the tag is fixed."})
