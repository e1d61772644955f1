"""feature-builder, a Deployment created 25 minutes ago, requests 40Gi of memory per pod; no node
in the cluster has more than ~30Gi allocatable (the GPU nodes are tainted), so both pods stay
Pending. Only Kubernetes state is available in this bundle.

Noise: model-serving rolled out 40 minutes ago and is healthy; a nightly training Job completed.
"""
from __future__ import annotations

import logstyles as ls
from common import eks_nodes, healthy_service
from world import World, container_spec, http_probe, mins, rfc3339, secs
from writer import Bundle

NOW = "2026-09-18T15:10:00Z"
DAY = 60 * 24
SCHED = ("0/7 nodes are available: 2 node(s) had untolerated taint {nvidia.com/gpu: present}, 5 Insufficient memory. "
         "preemption: 0/7 nodes are available: 2 Preemption is not helpful for scheduling, 5 No preemption victims "
         "found for incoming pod.")


def build() -> Bundle:
    w = World(NOW, seed=1111, cluster="ml-prod")
    now = w.now
    eks_nodes(w, 5, subnet=90, region="us-west-2", instance_type="m6i.2xlarge")
    for i in range(2):
        w.node(f"ip-10-90-{40 + i}-{w.rng.randrange(10, 250)}.us-west-2.compute.internal", cpu=8, memory_gi=32,
               zone=f"us-west-2{'ab'[i]}", instance_type="g5.2xlarge",
               taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
               labels={"nvidia.com/gpu.present": "true"})
    created = now - mins(25)

    fb = w.deployment("feature-builder", "ml", image="123456789012.dkr.ecr.us-west-2.amazonaws.com/ml/feature-builder",
                      history=[("0.1.0", created)], replicas=2,
                      container=container_spec("feature-builder", "x", port=None, cpu="4", memory="40Gi",
                                               memory_limit="40Gi", cpu_limit="4",
                                               env={"SPARK_DRIVER_MEMORY": "32g", "FEATURE_SET": "ctr_v7"}))
    serving = w.deployment("model-serving", "ml", image="123456789012.dkr.ecr.us-west-2.amazonaws.com/ml/model-serving",
                           history=[("2.3.0", now - mins(DAY * 6)), ("2.4.0", now - mins(40))], replicas=3,
                           container=container_spec("model-serving", "x", port=8501, cpu="1", memory="4Gi",
                                                    memory_limit="6Gi", readiness=http_probe("/v1/models/ctr", 8501)))
    w.service("model-serving", "ml", 8501, 8501)
    # feature-builder pods: never scheduled.
    for p in fb.current.pods:
        p.node, p.ip, p.unschedulable = None, None, SCHED
        p.containers[0].runs.clear()
        w.event(w.ref(p), "FailedScheduling", SCHED, first=p.created + secs(1), last=now - secs(w.rng.randrange(20, 200)),
                count=8 + w.rng.randrange(4), type="Warning", component="default-scheduler")
        w.event(w.ref(p), "NotTriggerScaleUp", "pod didn't trigger scale-up: 1 Insufficient memory, "
                "1 node(s) had untolerated taint {nvidia.com/gpu: present}", first=p.created + secs(12),
                last=now - secs(w.rng.randrange(10, 60)), count=140 + w.rng.randrange(20), component="cluster-autoscaler")
    w.pods.sort(key=lambda p: p.name)
    healthy_service(w, None, serving, maker=lambda t, rng: ls.python_log(
        t, "INFO", "serving.app", f"predict model=ctr version=2024.09 batch={rng.randrange(1, 64)} "
        f"latency_ms={rng.randrange(4, 30)}"))

    # A finished nightly training Job (noise).
    start = now - mins(6 * 60)
    job_name = f"train-ctr-nightly-{int(start.timestamp() // 60)}"
    job_uid = w.rng.uid()
    pod = w.new_pod(f"{job_name}-{w.rng.token(5)}", "ml", {"job-name": job_name, "batch.kubernetes.io/job-name": job_name},
                    start, [container_spec("trainer", "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml/trainer:1.9.0",
                                           port=None, cpu="4", memory="24Gi")],
                    owner={"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job_uid,
                           "controller": True, "blockOwnerDeletion": True}, restart_policy="Never",
                    node=w.nodes[5]["metadata"]["name"], spec_extra={"tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]})
    r = pod.containers[0].runs[0]
    r.end, r.reason, r.exit_code = start + mins(142), "Completed", 0
    w.objects.append({"apiVersion": "batch/v1", "kind": "Job",
                      "metadata": {"name": job_name, "namespace": "ml", "uid": job_uid, "resourceVersion": w.rv(),
                                   "creationTimestamp": rfc3339(start), "labels": {"job-name": job_name}},
                      "spec": {"backoffLimit": 1, "completions": 1, "parallelism": 1,
                               "template": {"spec": {"restartPolicy": "Never"}}},
                      "status": {"startTime": rfc3339(start), "completionTime": rfc3339(r.end), "succeeded": 1,
                                 "conditions": [{"type": "Complete", "status": "True",
                                                 "lastProbeTime": rfc3339(r.end), "lastTransitionTime": rfc3339(r.end)}]}})

    text = ("[FIRING:2] KubePodNotReady (ml warning)\n"
            "*Alert:* Pod has been in a non-ready state for more than 15 minutes. - `warning`\n"
            f"*Description:* Pod ml/{fb.current.pods[0].name} has been in a non-ready state for longer than 15 minutes.\n"
            f"*Description:* Pod ml/{fb.current.pods[1].name} has been in a non-ready state for longer than 15 minutes.\n"
            "*Details:* alertname=KubePodNotReady cluster=ml-prod namespace=ml severity=warning")
    return Bundle(id="ml-pods-not-ready", title="KubePodNotReady x2 in namespace ml", world=w, om=None, message=text,
                  logs=False,
                  expected={"category": "unschedulable", "component": "feature-builder", "action": "set_resources",
                            "rationale": "pods Pending with FailedScheduling: 40Gi request exceeds every untainted "
                                         "node's allocatable memory; lower the request (or add a bigger node pool)."})
