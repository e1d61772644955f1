"""KubeDeploymentReplicasMismatch for a new inference Deployment that requests nvidia.com/gpu.

llm-inference was created 35 minutes ago with `nvidia.com/gpu: 1`; no node in this cluster offers
that extended resource (the GPU node group is not part of it), so both pods stay Pending with
"Insufficient nvidia.com/gpu" and the autoscaler has no group to grow. set_resources only changes
CPU and memory, and dropping the GPU request would not make a GPU model run: action none.
Trap: embedding-api in the same namespace crash-loops (OOMKilled) for its own reasons.
"""
from kit import Bundle, Ended, Running, Waiting, ctr, kp_alert, ksm_target

NS = "ml-serving"
CREATED = 35
MSG = ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption "
       "victims found for incoming pod.")


EXPECTED = {"category": "unschedulable", "component": "llm-inference", "action": "none", "rationale": (
    "both llm-inference pods are Pending since creation with FailedScheduling '0/4 nodes are available: 4 "
    "Insufficient nvidia.com/gpu': the pods request nvidia.com/gpu: 1 and no node's allocatable has that "
    "resource (the cluster autoscaler cannot add one either). Add a GPU node group (with the NVIDIA device "
    "plugin) or schedule elsewhere; set_resources does not touch extended resources, so no catalog action. "
    "embedding-api's OOM crash loop is unrelated. Sources: the scheduler message as in "
    "NVIDIA/k8s-device-plugin#430 and #33; KubeDeploymentReplicasMismatch rule (prometheus-operator/"
    "kube-prometheus).")}


def build() -> Bundle:
    b = Bundle("llm-inference-replicas", "KubeDeploymentReplicasMismatch for ml-serving/llm-inference",
               "2026-11-18T08:50:00Z", EXPECTED)
    nodes = b.nodes([f"ip-10-90-{i}-{20 + i}.us-west-2.compute.internal" for i in range(4)],
                    [f"10.90.{i}.{20 + i}" for i in range(4)], [f"us-west-2{z}" for z in "abcd"], cpu=16,
                    memory_gi=64, instance_type="m7i.4xlarge", labels={"eks.amazonaws.com/nodegroup": "general-m7i"})
    llm = b.deployment(NS, "llm-inference", [ctr("vllm", "vllm/vllm-openai:v0.6.3", cpu="4", mem="24Gi",
                                                 mem_limit="24Gi", gpu=1,
                                                 args=["--model", "/models/llama-3.1-8b-instruct",
                                                       "--max-model-len", "8192"],
                                                 ports=[{"containerPort": 8000}])],
                       replicas=2, ready=0, revisions=[(CREATED, None, None)], created=CREATED, stalled=True)
    for k in range(2):
        p = b.pod(llm, None, [], created=CREATED - 0.05 * k, pending=MSG)
        b.event(NS, ("Pod", p), "FailedScheduling", MSG, first=CREATED - 0.05 * k, last=1.5, count=12,
                type="Warning", source="default-scheduler")
        b.event(NS, ("Pod", p), "NotTriggerScaleUp", "pod didn't trigger scale-up: 1 Insufficient nvidia.com/gpu",
                first=CREATED - 0.3, last=1, count=33, source="cluster-autoscaler")

    emb = b.deployment(NS, "embedding-api", [ctr("embedder", "registry.acme.io/ml/embedding-api:0.9.4", cpu="2",
                                                 mem="3Gi", mem_limit="3Gi")], replicas=2, ready=1,
                       revisions=[(6 * 1440, None, None)])
    b.pod(emb, nodes[0], Running(6 * 1440), created=6 * 1440)
    ep = b.pod(emb, nodes[2], Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=embedder",
                                      restarts=7, last=Ended(137, "OOMKilled", 4.5, 3.9)), created=70)
    b.event(NS, ("Pod", ep), "BackOff", f"Back-off restarting failed container embedder in pod {ep}_{NS}"
            f"({b.uid('Pod', NS, ep)})", first=55, last=0.8, count=90, type="Warning", host=nodes[2])

    ksm = {"job": "kube-state-metrics", "namespace": NS}
    b.gauge("kube_deployment_spec_replicas", {**ksm, "deployment": "llm-inference"},
            lambda m: None if m > CREATED else 2)
    b.gauge("kube_deployment_status_replicas_available", {**ksm, "deployment": "llm-inference"},
            lambda m: None if m > CREATED else 0)
    for n in nodes:
        for res, val in (("cpu", 15.81), ("memory", 63.2 * 1024 ** 3)):
            b.gauge("kube_node_status_allocatable", {"job": "kube-state-metrics", "node": n, "resource": res,
                                                     "unit": "core" if res == "cpu" else "byte"}, val)

    b.alert = kp_alert(b, {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "llm-inference",
                           "namespace": NS, "severity": "warning", **ksm_target(b)}, started=4)
    return b
