"""CPUThrottlingHigh at 100% for a container with a 20m CPU limit; no metrics, only Kubernetes and logs.

thumbnailer was deployed weeks ago with resources copied from a sidecar template (request 10m,
limit 20m). Quiet nights hid it; this morning's upload batch makes every render take 8 s instead
of 0.4 s and the queue lag grows. The alert text itself says what is wrong: 100% of CFS periods
throttled. Trap: image-transcoder in the same namespace rolled out a missing tag 30 minutes ago.
"""
from kit import Bundle, Running, Waiting, ctr, image_pull_events, kp_alert

NS = "images"


EXPECTED = {"category": "cpu_throttling", "component": "thumbnailer", "action": "set_resources", "rationale": (
    "the alert itself reports 100% CFS throttling for thumbnailer, whose CPU limit is 20m (request 10m) for 4 "
    "workers; since the morning upload batch every render takes ~8 s instead of ~0.4 s and queue lag grows. "
    "Raise (or remove) the CPU limit. image-transcoder's ImagePullBackOff in the same namespace is unrelated. "
    "Sources: CPUThrottlingHigh rule text (prometheus-operator/kube-prometheus); a 10m CPU limit producing "
    "this alert (robusta-dev/kubernetes-demos cpu_throttling/throttling.yaml); logrus text format.")}


def build() -> Bundle:
    b = Bundle("thumbnailer-throttling-alert", "CPUThrottlingHigh for images/thumbnailer",
               "2026-11-13T10:05:00Z", EXPECTED)
    nodes = b.nodes(["ip-10-12-7-44.ap-southeast-2.compute.internal", "ip-10-12-8-19.ap-southeast-2.compute.internal"],
                    ["10.12.7.44", "10.12.8.19"], ["ap-southeast-2a", "ap-southeast-2b"], instance_type="c6i.4xlarge",
                    cpu=16)
    th = b.deployment(NS, "thumbnailer", [ctr("thumbnailer", "registry.acme.io/images/thumbnailer:1.8.3", cpu="10m",
                                              mem="128Mi", cpu_limit="20m", mem_limit="256Mi",
                                              env=[{"name": "WORKERS", "value": "4"}])],
                      replicas=2, revisions=[(23 * 1440, None, None)])
    tpods = [b.pod(th, n, Running(23 * 1440), created=23 * 1440) for n in nodes]
    for m in range(178, 0, -1):
        busy = m < 62
        every = 2 if busy else 9
        if m % every:
            continue
        took = 7.6 + (m % 9) * 0.07 if busy else 0.38 + (m % 5) * 0.02
        p = tpods[m % 2]
        b.log(p, m, f'time="{b.ts(m)}" level=info msg="thumbnail rendered" key=uploads/2026/11/13/IMG_{4000 + m}.jpg '
                    f"size=320x320 took={took:.2f}s", stream="stderr")
        if busy and m % 10 == 0:
            b.log(p, m - 0.3, f'time="{b.ts(m - 0.3)}" level=warning msg="queue lag growing" consumer=thumbnailer '
                              f"lag={(62 - m) * 91} oldest=\"{(62 - m) * 41}s\"", stream="stderr")

    old = [ctr("image-transcoder", "registry.acme.io/images/image-transcoder:3.9.2", cpu="1", mem="1Gi",
               cpu_limit="4", mem_limit="2Gi")]
    new_image = "registry.acme.io/images/image-transcoder:4.0.0"
    tr = b.deployment(NS, "image-transcoder", [ctr("image-transcoder", new_image, cpu="1", mem="1Gi", cpu_limit="4",
                                                   mem_limit="2Gi")],
                      replicas=2, ready=2, revisions=[(40 * 1440, old, None), (31, None, None)], rs_replicas=[2, 1])
    for n in nodes:
        b.pod(tr, n, Running(40 * 1440), created=40 * 1440, containers=old, owner=("ReplicaSet", tr.replicasets[0]))
    bad = b.pod(tr, nodes[0], Waiting("ImagePullBackOff", f'Back-off pulling image "{new_image}"'), created=31)
    image_pull_events(b, NS, bad, new_image, nodes[0], first=31, count=8)

    pod = tpods[0]
    b.alert = kp_alert(b, {"alertname": "CPUThrottlingHigh", "container": "thumbnailer", "namespace": NS, "pod": pod,
                           "severity": "info", "prometheus": "monitoring/kube-prometheus-stack-prometheus"}, started=41, value="100%")
    return b
