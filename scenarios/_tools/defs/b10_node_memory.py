"""One worker node leaks kernel memory (unreclaimable slab grows to ~19Gi) while the pods on it
use a steady ~10Gi; MemAvailable hits the kubelet's eviction threshold and it evicts pods that
exceed their requests (recommendation, feed-ranker), which get rescheduled elsewhere.

Noise: recommendation had a routine rollout yesterday; other nodes are fine; the evicted pods
are the visible symptom, their memory is flat.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, eks_nodes, go_requests
from om import OM, cadvisor, ksm_deployment, ksm_pod, node_conditions, node_exporter
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle

NOW = "2026-10-11T19:50:00Z"
DAY = 60 * 24
GI = 1024**3


def build() -> Bundle:
    w = World(NOW, seed=1010, cluster="prod-eu1")
    now = w.now
    nodes = eks_nodes(w, 4, subnet=12, instance_type="r6i.xlarge")
    om = OM(w, step=60)
    sick = nodes[2]["metadata"]["name"]
    pressure = now - mins(26)

    rec = w.deployment("recommendation", "personalization", image="registry.acme.io/p13n/recommendation",
                       history=[("5.0.3", now - mins(DAY * 9)), ("5.1.0", now - mins(DAY + 140))], replicas=4,
                       container=container_spec("recommendation", "x", cpu="500m", memory="1Gi", memory_limit="3Gi",
                                                readiness=http_probe("/ready")))
    ranker = w.deployment("feed-ranker", "personalization", image="registry.acme.io/p13n/feed-ranker",
                          history=[("2.7.1", now - mins(DAY * 14))], replicas=2,
                          container=container_spec("feed-ranker", "x", cpu="500m", memory="768Mi",
                                                   memory_limit="2Gi"))
    profile = w.deployment("user-profile", "personalization", image="registry.acme.io/p13n/user-profile",
                           history=[("3.3.0", now - mins(DAY * 21))], replicas=2,
                           container=container_spec("user-profile", "x", cpu="200m", memory="256Mi",
                                                    memory_limit="512Mi"))
    for d in (rec, ranker, profile):
        w.service(d.name, "personalization", 80, "http")
    # Make sure the sick node hosts pods of each workload.
    rec.current.pods[1].node = sick
    rec.current.pods[3].node = sick
    ranker.current.pods[0].node = sick

    evictions = [(rec.current.pods[1], pressure + secs(70), 1834212), (rec.current.pods[3], now - mins(17), 1790116),
                 (ranker.current.pods[0], now - mins(9), 1288804)]
    evicted = []
    for pod, when, using in evictions:
        cname = pod.containers[0].name
        req = pod.containers[0].spec["resources"]["requests"]["memory"]
        msg = (f"The node was low on resource: memory. Threshold quantity: 100Mi, available: {w.rng.randrange(60000, 99000)}Ki. "
               f"Container {cname} was using {using}Ki, request is {req}, has larger consumption of memory. ")
        old = w.rescheduled(pod, when, node=nodes[0 if cname == "recommendation" else 3]["metadata"]["name"])
        old.ended, old.evicted = None, (when, msg)
        w.event(w.ref(old), "Evicted", msg, first=when, type="Warning", host=sick)
        w.event(w.ref(old), "Killing", f"Stopping container {cname}", first=when + secs(1), host=sick,
                field_path=f"spec.containers{{{cname}}}")
        evicted.append(old)
    node_ref = w.ref_of("Node", None, sick)
    w.event(node_ref, "NodeHasInsufficientMemory", f"Node {sick} status is now: NodeHasInsufficientMemory",
            first=pressure, host=sick)
    w.event(node_ref, "EvictionThresholdMet", "Attempting to reclaim memory", first=pressure + secs(10),
            last=now - mins(3), count=14, type="Warning", host=sick)
    w.node_condition(sick, "MemoryPressure", "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
                     pressure)

    mem = {"recommendation": 1750, "feed-ranker": 1230, "user-profile": 190}
    for d, maker in ((rec, go_requests("recommendation", ["/v1/recs/home", "/v1/recs/similar/sku-88"], style="slog")),
                     (ranker, go_requests("feed-ranker", ["/v1/rank"], style="slog")),
                     (profile, go_requests("user-profile", ["/v1/profiles/me"], style="logrus"))):
        for p in all_pods(d):
            w.chatter(p, (50, 150), maker)
            cadvisor(om, p, memory=mem[d.name] * MI + om.noise(mem[d.name] * 0.01 * MI),
                     cpu=np.clip(0.2 + om.noise(0.02), 0.01, None))
            ksm_pod(om, p, limits=("memory",) if d is rec else ())
            if p in evicted:
                om.gauge("kube_pod_status_reason", "The pod status reasons", {"namespace": p.namespace, "pod": p.name,
                                                                              "reason": "Evicted"},
                         np.where(om.ts >= p.evicted[0].timestamp(), 1.0, np.nan))
        ksm_deployment(om, d)
    for p in all_pods(rec):
        w.chatter(p, (400, 900), lambda t, rng: (ls.slog(t, "warn", "feature store lookup slow", store="redis",
                                                         dur=f"{rng.randrange(80, 200)}ms"), "stderr"))

    span = (om.ts - om.ts[0]) / (pressure.timestamp() - om.ts[0])
    for i, n in enumerate(nodes):
        name = n["metadata"]["name"]
        if name == sick:
            slab = (1.2 + 17.8 * np.clip(span, 0, 1) ** 1.3) * GI
            avail = np.clip(19.5 * GI - slab + 1.1 * GI, 0.09 * GI, None) + np.abs(om.noise(0.04 * GI))
            pressure_flag = om.after(pressure)
        else:
            slab = (1.1 + 0.1 * i) * GI + om.noise(0.01 * GI)
            avail = (15 + i) * GI + om.noise(0.2 * GI)
            pressure_flag = 0.0
        node_exporter(om, name, 32, avail, None)
        om.gauge("node_memory_SUnreclaim_bytes", "Memory information field SUnreclaim_bytes.", {"instance": name},
                 np.round(slab))
        node_conditions(om, name, {"MemoryPressure": pressure_flag}, ("MemoryPressure",))

    text = ("anyone know why recommendation pods keep getting evicted in prod-eu1? saw 3 evictions in the last "
            "30 min in personalization, feed-ranker too. users see empty 'for you' rails now and then")
    return Bundle(id="personalization-evictions", title="evictions question in #prod-eu1", world=w, om=om,
                  message=text,
                  expected={"category": "node_pressure", "component": sick, "action": "cordon_node",
                            "rationale": "all evictions are on one node whose MemoryPressure is True; its unreclaimable "
                                         "kernel slab grew to ~19Gi while pod working sets stayed flat; cordon and "
                                         "drain the node."})
