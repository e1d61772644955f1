"""InfoInhibitor posted to Slack: kube-prometheus' helper alert that exists to silence info alerts.

InfoInhibitor fires whenever an info-level alert fires in a namespace without a warning/critical one;
it should go to a null receiver, and it carries the labels of the info alert it shadows (here a
CPUThrottlingHigh for media/transcoder at ~31%). Expected: say it is the inhibition helper, propose
nothing (category unknown, component InfoInhibitor, action none; scenarios/README.md).
Trap: the throttling is real in the metrics, so an engine that treats the helper as an incident
will answer cpu_throttling.
"""
from kit import Bundle, Running, ctr

NS = "media"


EXPECTED = {"category": "unknown", "component": "InfoInhibitor", "action": "none", "rationale": (
    "InfoInhibitor is kube-prometheus' inhibition helper (ALERTS{severity=\"info\"} unless a warning/critical "
    "alert fires in the namespace); its own runbook says to route it to a null receiver. It is not an incident: "
    "the info alert behind it (CPUThrottlingHigh, ~31% for transcoder, below any SLO impact) is what it is meant "
    "to keep quiet. No action; fix the Alertmanager route. Labelled unknown / InfoInhibitor / none "
    "(scenarios/README.md, heartbeat alerts). Source: prometheus-operator/kube-prometheus "
    "manifests/kubePrometheus-prometheusRule.yaml (InfoInhibitor rule and description).")}


def build() -> Bundle:
    b = Bundle("infoinhibitor-slack", "InfoInhibitor posted in #alerts-media", "2026-11-12T20:15:00Z", EXPECTED)
    nodes = b.nodes(["aks-media-11223344-vmss000000", "aks-media-11223344-vmss000001"], ["10.240.0.5", "10.240.0.6"],
                    ["northeurope-1", "northeurope-2"], instance_type="Standard_F16s_v2", cpu=16)
    tc = b.deployment(NS, "transcoder", [ctr("transcoder", "registry.acme.io/media/transcoder:5.2.0", cpu="1",
                                             mem="2Gi", cpu_limit="2", mem_limit="4Gi")], replicas=2,
                      revisions=[(10 * 1440, None, None)])
    tpods = [b.pod(tc, n, Running(10 * 1440), created=10 * 1440) for n in nodes]
    api = b.deployment(NS, "media-api", [ctr("media-api", "registry.acme.io/media/media-api:3.3.3", cpu="250m",
                                             mem="256Mi", mem_limit="512Mi")], replicas=2,
                       revisions=[(4 * 1440, None, None)])
    for n in nodes:
        b.pod(api, n, Running(4 * 1440), created=4 * 1440)

    cad = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "namespace": NS, "container": "transcoder"}
    for i, p in enumerate(tpods):
        share = 0.29 + 0.04 * i
        b.counter("container_cpu_cfs_periods_total", {**cad, "pod": p}, 600.0, start=9_100_000 + i * 1000)
        b.counter("container_cpu_cfs_throttled_periods_total", {**cad, "pod": p},
                  lambda m, s=share: 600.0 * (s if m < 95 else 0.04), start=410_000)
        b.counter("container_cpu_usage_seconds_total", {**cad, "pod": p},
                  lambda m, s=share: 60 * (1.7 + s) if m < 95 else 60 * 0.9, start=2_400_000)
    for p in tpods:
        b.gauge("kube_pod_container_resource_limits", {"job": "kube-state-metrics", "namespace": NS, "pod": p,
                                                       "container": "transcoder", "resource": "cpu", "unit": "core"}, 2)

    pod = tpods[1]
    b.message = (
        "[FIRING:1] InfoInhibitor (firing transcoder media " + pod + " none)\n"
        "*Alert:* Info-level alert inhibition. - `none`\n"
        "*Description:* This is an alert that is used to inhibit info alerts.\n"
        "By themselves, the info-level alerts are sometimes very noisy, but they are relevant when combined with\n"
        "other alerts.\n"
        "This alert fires whenever there's a severity=\"info\" alert, and stops firing when another alert with a\n"
        "severity of 'warning' or 'critical' starts firing on the same namespace.\n"
        "This alert should be routed to a null receiver and configured to inhibit alerts with severity=\"info\".\n"
        "*Details:* alertname=InfoInhibitor alertstate=firing container=transcoder namespace=media "
        f"pod={pod} prometheus=monitoring/kube-prometheus-stack-prometheus severity=none")
    return b
