"""payments-api: a node drain recreated one pod, which cannot start because the Secret it reads
no longer has the key STRIPE_API_KEY (renamed during a manual key rotation). The two old pods keep
running with the environment they started with.

Noise: fraud-scorer rolled out 20 minutes ago and logs feature warnings; ledger-worker pods were
moved by the same drain and came up fine.
"""
from __future__ import annotations

import logstyles as ls
from common import eks_nodes, healthy_service, spring_requests
from om import OM
from world import World, container_spec, http_probe, mins, rfc3339, secs
from writer import Bundle

NOW = "2026-09-15T14:40:00Z"
DAY = 60 * 24


def build() -> Bundle:
    w = World(NOW, seed=202, cluster="prod-us2")
    now = w.now
    nodes = eks_nodes(w, 4, subnet=32, region="us-east-2", instance_type="m5.2xlarge")
    drained = nodes[1]["metadata"]["name"]
    drain = now - mins(38)
    om = OM(w, step=60)

    api = w.deployment("payments-api", "payments", image="123456789012.dkr.ecr.us-east-2.amazonaws.com/payments-api",
                       history=[("5.12.1", now - mins(DAY * 30)), ("5.12.4", now - mins(DAY * 12 + 300))], replicas=3,
                       container=container_spec(
                           "payments-api", "x", cpu="500m", memory="1Gi", memory_limit="1Gi",
                           env={"SPRING_PROFILES_ACTIVE": "prod", "JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75"},
                           env_from_secret={"DATABASE_URL": ("payments-secrets", "DATABASE_URL"),
                                            "STRIPE_API_KEY": ("payments-secrets", "STRIPE_API_KEY")},
                           liveness=http_probe("/actuator/health/liveness", period=10, initial=30),
                           readiness=http_probe("/actuator/health/readiness", period=5)))
    ledger = w.deployment("ledger-worker", "payments", image="123456789012.dkr.ecr.us-east-2.amazonaws.com/ledger-worker",
                          history=[("2.3.0", now - mins(DAY * 21))], replicas=2,
                          container=container_spec("ledger-worker", "x", port=None, cpu="200m", memory="512Mi",
                                                   memory_limit="512Mi"))
    fraud = w.deployment("fraud-scorer", "payments", image="123456789012.dkr.ecr.us-east-2.amazonaws.com/fraud-scorer",
                         history=[("0.19.3", now - mins(DAY * 6)), ("0.20.0", now - mins(20))], replicas=2,
                         container=container_spec("fraud-scorer", "x", port=8000, cpu="1", memory="2Gi",
                                                  memory_limit="3Gi", readiness=http_probe("/healthz", 8000)))
    for d in (api, fraud):
        w.service(d.name, "payments", 80, "http")

    # The drain: pods on the drained node are replaced elsewhere.
    w.nodes[1]["spec"]["unschedulable"] = True
    w.nodes[1]["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                                     "timeAdded": rfc3339(drain)}]
    victims = [p for d in (api, ledger) for p in d.current.pods if p.node == drained]
    if not any(p in api.current.pods for p in victims):
        api.current.pods[0].node = drained
        victims.append(api.current.pods[0])
    broken = None
    for p in victims:
        ghost = w.rescheduled(p, drain + secs(w.rng.randrange(2, 20)))
        w.event(w.ref(ghost), "Killing", f"Stopping container {p.containers[0].name}", first=ghost.ended,
                host=drained, field_path=f"spec.containers{{{p.containers[0].name}}}")
        if p in api.current.pods:
            broken = p
    msg = "couldn't find key STRIPE_API_KEY in Secret payments/payments-secrets"
    w.never_started(broken, "CreateContainerConfigError", msg)
    fp = "spec.containers{payments-api}"
    n_fail = int((now - broken.created).total_seconds() // 28)
    w.event(w.ref(broken), "Pulled", 'Container image "' + broken.containers[0].image + '" already present on machine',
            first=broken.created + secs(3), last=now - secs(9), count=n_fail, host=broken.node, field_path=fp)
    w.event(w.ref(broken), "Failed", f"Error: {msg}", first=broken.created + secs(3), last=now - secs(9),
            count=n_fail, type="Warning", host=broken.node, field_path=fp)
    w.event(w.ref_of("Node", None, drained), "NodeNotSchedulable", f"Node {drained} status is now: NodeNotSchedulable",
            first=drain - secs(5), host=drained)

    # payments-api (the healthy replicas) and the others.
    spring = spring_requests("payments-api", [
        ("INFO", "c.a.payments.api.ChargeController", "POST /v1/charges -> 201 ({n} ms)"),
        ("INFO", "c.a.payments.api.ChargeController", "GET /v1/charges/ch_{n} -> 200"),
        ("INFO", "c.a.payments.stripe.StripeClient", "PaymentIntent confirmed pi_3Q{n}"),
        ("WARN", "o.s.w.s.m.s.DefaultHandlerExceptionResolver",
         "Resolved [org.springframework.web.HttpRequestMethodNotSupportedException: Request method 'GET' is not supported]")])
    healthy_service(w, om, api, rps=45, mem_mi=610, cpu=0.22, maker=spring, every_s=(40, 120), histogram=True,
                    median=0.09, limits=("memory",))
    healthy_service(w, om, ledger, mem_mi=300, cpu=0.05, http=False, every_s=(60, 180),
                    maker=lambda t, rng: ls.python_log(t, "INFO", "ledger.consumer",
                                                       f"committed batch offset={rng.randrange(10**6, 10**7)} "
                                                       f"entries={rng.randrange(20, 400)}"))
    healthy_service(w, om, fraud, rps=30, mem_mi=1450, cpu=0.4, every_s=(60, 160),
                    maker=lambda t, rng: ls.python_log(t, "INFO", "uvicorn.access",
                                                       f'10.244.{rng.randrange(4)}.{rng.randrange(2, 250)}:0 - '
                                                       f'"POST /v1/score HTTP/1.1" 200'))
    for p in fraud.current.pods:
        w.chatter(p, (90, 300), lambda t, rng: (ls.python_log(
            t, "WARNING", "scorer.features", "feature 'device_age_days' missing for merchant "
            f"m_{rng.hex(6)}; defaulting to 0"), "stderr"))
    om.gauge("kube_node_spec_unschedulable", "Whether a node can schedule new pods.", {"node": drained},
             om.after(drain))

    text = ("[FIRING:1] KubeDeploymentReplicasMismatch (payments-api payments prod-us2 warning)\n"
            "*Alert:* Deployment has not matched the expected number of replicas. - `warning`\n"
            "*Description:* Deployment payments/payments-api has not matched the expected number of replicas "
            "for longer than 15 minutes.\n"
            "*Details:*\n  • *alertname:* `KubeDeploymentReplicasMismatch`\n  • *cluster:* `prod-us2`\n"
            "  • *deployment:* `payments-api`\n  • *namespace:* `payments`\n  • *severity:* `warning`\n"
            "<http://alertmanager.monitoring.svc:9093/#/alerts?receiver=slack-payments|:chart_with_upwards_trend: Show in Alertmanager>")
    return Bundle(id="payments-replicas-mismatch", title="payments-api replicas mismatch posted in #payments-alerts",
                  world=w, om=om, message=text,
                  expected={"category": "config_error", "component": "payments-api", "action": "none",
                            "rationale": "the replacement pod fails with CreateContainerConfigError: the Secret lost "
                                         "key STRIPE_API_KEY; no rollout involved (revision 12 days old), the fix is "
                                         "the Secret, not a restart or rollback."})
