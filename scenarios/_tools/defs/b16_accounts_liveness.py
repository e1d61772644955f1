"""accounts-api's liveness probe hits the aggregate /actuator/health with timeoutSeconds 1 and
failureThreshold 1; since the morning peak the endpoint sometimes takes >1s (it runs every health
indicator), so the kubelet kills healthy containers (exit 143 after graceful shutdown). Memory,
errors and latency of real traffic are fine.

Noise: accounts-api's own rollout is 12 days old; session-service is healthy; a WARN about a
deprecated property at every start.
"""
from __future__ import annotations

import numpy as np

import logstyles as ls
from common import MI, all_pods, gke_nodes, healthy_service, spring_requests
from om import OM, cadvisor, http_red, ksm_deployment, ksm_pod, latency_histogram
from world import World, container_spec, http_probe, mins, secs
from writer import Bundle, alert, kp_runbook

NOW = "2026-10-01T08:50:00Z"
DAY = 60 * 24
APP = "accounts-api"


def build() -> Bundle:
    w = World(NOW, seed=1616, cluster="gke-prod-europe-west4")
    now = w.now
    gke_nodes(w, 3)
    om = OM(w, step=60)
    peak = now - mins(55)

    acc = w.deployment(APP, "accounts", image="europe-docker.pkg.dev/acme/accounts/accounts-api",
                       history=[("4.6.0", now - mins(DAY * 33)), ("4.7.2", now - mins(DAY * 12 + 240))], replicas=3,
                       container=container_spec(APP, "x", cpu="1", memory="1Gi", memory_limit="1536Mi",
                                                liveness=http_probe("/actuator/health", period=10, timeout=1, failure=1,
                                                                    initial=40),
                                                readiness=http_probe("/actuator/health/readiness", period=5, timeout=3)))
    sess = w.deployment("session-service", "accounts", image="europe-docker.pkg.dev/acme/accounts/session-service",
                        history=[("2.0.9", now - mins(DAY * 7))], replicas=2,
                        container=container_spec("session-service", "x", cpu="200m", memory="256Mi"))
    for d in (acc, sess):
        w.service(d.name, "accounts", 80, "http")

    for i, p in enumerate(acc.current.pods):
        first = peak + mins(4 + 7 * i) + secs(w.rng.randrange(0, 50))
        w.crashloop(p, first, lambda k: 480 + w.rng.randrange(0, 360),
                    reason="Error", exit_code=143)
        ip = p.ip
        kills = [r.end for r in p.containers[0].runs if r.end]
        for t in kills:
            for off, logger, msg, thread in (
                    (0.4, "o.s.b.w.e.tomcat.GracefulShutdown",
                     "Commencing graceful shutdown. Waiting for active requests to complete", "ionShutdownHook"),
                    (0.1, "o.s.b.w.e.tomcat.GracefulShutdown", "Graceful shutdown complete", "tomcat-shutdown"),
                    (0.05, "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Shutdown completed.", "ionShutdownHook")):
                w.log(p, t - secs(off), ls.spring(t - secs(off), "INFO", logger, msg, app=APP, thread=thread))
        if kills:
            fp = f"spec.containers{{{APP}}}"
            recent = [t for t in kills if t >= now - mins(60)]
            w.event(w.ref(p), "Unhealthy", f'Liveness probe failed: Get "http://{ip}:8080/actuator/health": context '
                    "deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    first=recent[0] - secs(1), last=recent[-1] - secs(1), count=len(recent), type="Warning",
                    host=p.node, field_path=fp)
            w.event(w.ref(p), "Killing", f"Container {APP} failed liveness probe, will be restarted",
                    first=recent[0] - secs(1), last=recent[-1] - secs(1), count=len(recent), host=p.node, field_path=fp)
    for p in all_pods(acc):
        w.on_runs(p, lambda t, rng, i: [
            (1.0, lambda t: ls.spring(t, "INFO", "c.a.accounts.AccountsApplication",
                                      "Starting AccountsApplication v4.7.2 using Java 21.0.4 with PID 1", app=APP), "stdout"),
            (4.2, lambda t: ls.spring(t, "WARN", "o.s.b.c.p.m.PropertiesMigrationListener",
                                      "The use of configuration keys that have been renamed was found in the environment: "
                                      "'management.metrics.export.prometheus.enabled' -> "
                                      "'management.prometheus.metrics.export.enabled'", app=APP), "stdout"),
            (19.8, lambda t: ls.spring(t, "INFO", "o.s.b.w.e.tomcat.TomcatWebServer",
                                       "Tomcat started on port 8080 (http) with context path '/'", app=APP), "stdout"),
            (20.1, lambda t: ls.spring(t, "INFO", "c.a.accounts.AccountsApplication",
                                       f"Started AccountsApplication in {19.2 + rng.random() * 4:.3f} seconds "
                                       f"(process running for {21.0 + rng.random() * 4:.3f})", app=APP), "stdout")])
        w.chatter(p, (30, 90), spring_requests(APP, [
            ("INFO", "c.a.accounts.web.AccountController", "GET /api/v1/accounts/me -> 200"),
            ("INFO", "c.a.accounts.web.LoginController", "POST /api/v1/login -> 200"),
            ("INFO", "c.a.accounts.web.AccountController", "PATCH /api/v1/accounts/me/preferences -> 204")]))
        load = om.diurnal(1.0, 0.35)
        cadvisor(om, p, memory=720 * MI + om.noise(15 * MI), cpu=np.clip(0.45 * load + om.noise(0.04), 0.05, None))
        ksm_pod(om, p)
        http_red(om, p, APP, om.diurnal(40 / 3, 0.35), err_ratio=0.002)
    ksm_deployment(om, acc)
    latency_histogram(om, "accounts", APP, om.diurnal(40, 0.35), 0.045 + 0.02 * om.after(peak, 600), sigma=0.7)
    healthy_service(w, om, sess, rps=60, mem_mi=130, cpu=0.05, every_s=(60, 150),
                    maker=lambda t, rng: ls.logrus(t, "info", "session refreshed", ttl="30m",
                                                   latency=f"{rng.randrange(1, 9)}ms"))

    pod = acc.current.pods[0]
    a = alert({"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "accounts", "pod": pod.name,
               "container": APP, "job": "kube-state-metrics", "cluster": "gke-prod-europe-west4"},
              "Pod is crash looping.",
              f"Pod accounts/{pod.name} ({APP}) is restarting 0.42 times / 5 minutes.", now - mins(9),
              'rate(kube_pod_container_status_restarts_total{job="kube-state-metrics"}[15m]) * 60 * 5 > 0',
              kp_runbook("KubePodCrashLooping"))
    return Bundle(id="accounts-api-restarts", title="KubePodCrashLooping in accounts", world=w, om=om, alert=a,
                  expected={"category": "probe_failure", "component": APP, "action": "none",
                            "rationale": "restarts are kubelet kills after liveness timeouts (1s, failureThreshold 1) "
                                         "on the aggregate health endpoint; exit 143 after graceful shutdown, memory "
                                         "and traffic healthy. Fix the probe (use /actuator/health/liveness, longer "
                                         "timeout)."})
