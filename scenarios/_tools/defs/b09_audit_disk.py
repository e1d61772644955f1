"""audit-ingester spools Kafka audit events to a 20Gi PVC before shipping them to S3; a tenant's
event burst filled the volume 41 minutes ago, writes fail with ENOSPC and consumer lag grows.

Noise: one node's root filesystem sits at 84% (steady, unrelated); audit-api is healthy; the
ingester's pod has not restarted (it keeps running, failing every write).
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, eks_nodes, go_requests, healthy_service
from om import OM, cadvisor, ksm_deployment, ksm_pod, node_exporter
from world import World, container_spec, mins
from writer import Bundle, alert

NOW = "2026-10-02T04:40:00Z"
DAY = 60 * 24
GI = 1024**3


def build() -> Bundle:
    w = World(NOW, seed=909, cluster="prod-eu1")
    now = w.now
    nodes = eks_nodes(w, 3, subnet=70)
    om = OM(w, step=60)
    full = now - mins(41)

    ing = w.deployment("audit-ingester", "platform", image="registry.acme.io/platform/audit-ingester",
                       history=[("0.14.2", now - mins(DAY * 23))], replicas=1,
                       container=container_spec("audit-ingester", "x", port=9102, cpu="250m", memory="256Mi",
                                                memory_limit="512Mi",
                                                env={"SPOOL_DIR": "/var/spool/audit", "KAFKA_TOPIC": "audit-events",
                                                     "KAFKA_GROUP": "audit-ingester"},
                                                volume_mounts=[{"name": "spool", "mountPath": "/var/spool/audit"}]),
                       spec_extra={"volumes": [{"name": "spool",
                                                "persistentVolumeClaim": {"claimName": "audit-ingester-spool"}}]})
    ing.strategy = {"type": "Recreate"}
    api = w.deployment("audit-api", "platform", image="registry.acme.io/platform/audit-api",
                       history=[("2.1.0", now - mins(DAY * 12))], replicas=2,
                       container=container_spec("audit-api", "x", cpu="100m", memory="128Mi"))
    w.service("audit-api", "platform", 80, "http")

    # Spool: drains slowly overnight, then a burst from one tenant fills it.
    cap = 20 * GI
    t_h = (om.ts - om.ts[0]) / 3600.0
    burst_start = full.timestamp() - 50 * 60
    pre = 6.8 * GI - 0.25 * GI * t_h
    a0 = 6.8 * GI - 0.25 * GI * (burst_start - om.ts[0]) / 3600.0
    frac = np.clip((om.ts - burst_start) / (full.timestamp() - burst_start), 0, 1)
    avail = np.where(om.ts < burst_start, pre, a0 * (1 - frac)) + om.noise(0.01 * GI)
    avail = np.where(om.ts >= full.timestamp(), np.clip(4 * MI + om.noise(MI), 0, None), avail)
    pvc = {"namespace": "platform", "persistentvolumeclaim": "audit-ingester-spool"}
    om.gauge("kubelet_volume_stats_capacity_bytes", "Capacity in bytes of the volume", pvc, cap)
    om.gauge("kubelet_volume_stats_available_bytes", "Number of available bytes in the volume", pvc, np.round(avail))
    om.gauge("kubelet_volume_stats_used_bytes", "Number of used bytes in the volume", pvc, np.round(cap - avail))
    other = {"namespace": "platform", "persistentvolumeclaim": "data-audit-kafka-0"}
    om.gauge("kubelet_volume_stats_capacity_bytes", "Capacity in bytes of the volume", other, 200 * GI)
    om.gauge("kubelet_volume_stats_available_bytes", "Number of available bytes in the volume", other,
             np.round(121 * GI - 0.02 * GI * t_h))
    om.gauge("kubelet_volume_stats_used_bytes", "Number of used bytes in the volume", other,
             np.round(79 * GI + 0.02 * GI * t_h))

    since_full = np.clip((om.ts - full.timestamp()) / 60.0, 0, None)
    for part in range(3):
        lbl = {"consumergroup": "audit-ingester", "topic": "audit-events", "partition": str(part)}
        lag = np.where(since_full > 0, 2800 * since_full * (1 + 0.1 * part), 40 + np.abs(om.noise(30)))
        om.gauge("kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition", lbl,
                 np.round(lag))

    p = ing.current.pods[0]
    cadvisor(om, p, memory=140 * MI + om.noise(2 * MI), cpu=np.clip(0.12 - 0.07 * (since_full > 0) + om.noise(0.01), 0.01, None))
    ksm_pod(om, p)
    ksm_deployment(om, ing)
    w.chatter(p, (40, 120), lambda t, rng: ls.logrus(t, "info", "segment shipped", segment=f"{rng.randrange(300, 340):08d}",
                                                     bytes=rng.randrange(30, 64) * 1024 * 1024, dest="s3://acme-audit-archive"),
              until=full)
    w.chatter(p, (100, 300), lambda t, rng: ls.logrus(t, "warning", "tenant rate above soft limit", tenant="t-4417",
                                                      events_per_s=rng.randrange(9000, 14000), soft_limit=2000),
              since=full - mins(50), until=full + mins(20))
    w.chatter(p, (6, 20), lambda t, rng: (ls.logrus(
        t, "error", "failed to append segment",
        err=f"write /var/spool/audit/wal/{rng.randrange(341, 344):08d}: no space left on device",
        partition=rng.randrange(3)), "stderr"), since=full)
    w.chatter(p, (60, 90), lambda t, rng: (ls.logrus(t, "warning", "pausing consumption, spool not writable",
                                                     topic="audit-events", retry_in="30s"), "stderr"), since=full + mins(1))
    w.chatter(p, (280, 320), lambda t, rng: (ls.logrus(t, "error", "compaction failed", err="open /var/spool/audit/"
                                                       "compact.tmp: no space left on device"), "stderr"), since=full)

    healthy_service(w, om, api, rps=40, mem_mi=60, cpu=0.03,
                    maker=go_requests("audit-api", ["/v1/events?tenant=t-1021", "/v1/events/export"], style="logrus"))
    for i, n in enumerate(nodes):
        name = n["metadata"]["name"]
        size = 100 * GI
        fs_avail = (0.16 if i == 2 else 0.52 + 0.1 * i) * size + om.noise(0.002 * size)
        node_exporter(om, name, 32, (18 - 3 * i) * GI + om.noise(0.2 * GI), 100, fs_avail)

    a = alert({"alertname": "KafkaConsumerGroupLagHigh", "severity": "warning", "consumergroup": "audit-ingester",
               "topic": "audit-events", "namespace": "platform", "service": "kafka-exporter", "cluster": "prod-eu1"},
              "Kafka consumer group audit-ingester is lagging",
              "Consumer group audit-ingester lag on topic audit-events is above 100000 messages for 15 minutes.",
              now - mins(17),
              'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup="audit-ingester"}) > 100000')
    return Bundle(id="platform-audit-lag", title="KafkaConsumerGroupLagHigh for audit-ingester", world=w, om=om, alert=a,
                  expected={"category": "disk_full", "component": "audit-ingester", "action": "none",
                            "rationale": "the spool PVC audit-ingester-spool is at 0 bytes available and every write "
                                         "fails with ENOSPC; the fix is expanding/cleaning the volume."})
