"""KubePodCrashLooping where the container exits 0 (reason Completed): nginx told to daemonize.

46 minutes ago the ConfigMap web-frontend-nginx was replaced with an nginx.conf copied from a VM
that starts with `daemon on;`. nginx forks into the background and PID 1 exits 0, so the kubelet
restarts it forever. The config only bites on the next start, which came with a `rollout restart`
5 minutes later: the two pods of the new ReplicaSet crash-loop, the three old pods (started before
the edit) still serve. Rolling back would start fresh pods on the same ConfigMap and fail the same
way, so this is a configuration error, not a bad deploy.
"""
from kit import Bundle, Ended, Running, Waiting, ctr, kp_alert

NS = "storefront"
CONF = """daemon on;
user nginx;
worker_processes auto;
error_log /var/log/nginx/error.log notice;
pid /var/run/nginx.pid;

events {
    worker_connections 4096;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log combined;
    sendfile on;
    keepalive_timeout 65;
    gzip on;

    server {
        listen 8080;
        root /usr/share/nginx/html;
        location / { try_files $uri /index.html; }
        location /healthz { access_log off; return 200 "ok"; }
    }
}
"""
EDIT, RESTART = 46, 41


def startup(b: Bundle, m: float) -> str:
    t = b.at(m).strftime("%Y/%m/%d %H:%M:%S")
    return ("/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration\n"
            "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/\n"
            "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh\n"
            "10-listen-on-ipv6-by-default.sh: info: /etc/nginx/conf.d/default.conf is not a file or does not exist\n"
            "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh\n"
            "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh\n"
            "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh\n"
            "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
            f'{t} [notice] 1#1: using the "epoll" event method\n'
            f"{t} [notice] 1#1: nginx/1.27.2\n"
            f"{t} [notice] 1#1: built by gcc 13.2.1 20240309 (Alpine 13.2.1_git20240309)\n"
            f"{t} [notice] 1#1: OS: Linux 6.1.112-122.189.amzn2023.x86_64\n"
            f"{t} [notice] 1#1: getrlimit(RLIMIT_NOFILE): 1048576:1048576")


EXPECTED = {"category": "config_error", "component": "web-frontend", "action": "none", "rationale": (
    "the new pods' nginx exits 0 (reason Completed) right after 'Configuration complete; ready for start up': "
    "the ConfigMap web-frontend-nginx, replaced 46 minutes ago, starts with `daemon on;`, so nginx backgrounds "
    "itself and PID 1 returns. The rollout restart only made new pods read it; the old ReplicaSet's template is "
    "identical (just restartedAt), so a rollback would fail the same way. Fix the ConfigMap (daemon off). "
    "Sources: nginx 'daemon' directive (nginx.org/en/docs/ngx_core_module.html#daemon); exit code 0 crash loops "
    "from a backgrounded entrypoint (kubernetesinterviewquestions.com/errors/exit-code-0); nginx:1.27.2 "
    "entrypoint output as in public container logs.")}


def build() -> Bundle:
    b = Bundle("web-frontend-exit0-crashloop", "KubePodCrashLooping in storefront", "2026-11-14T18:40:00Z", EXPECTED)
    nodes = b.nodes(["ip-10-33-0-71.us-west-2.compute.internal", "ip-10-33-1-72.us-west-2.compute.internal",
                     "ip-10-33-2-73.us-west-2.compute.internal"], ["10.33.0.71", "10.33.1.72", "10.33.2.73"],
                    ["us-west-2a", "us-west-2b", "us-west-2c"])
    b.configmap(NS, "web-frontend-nginx", {"nginx.conf": CONF}, created=EDIT)
    web = ctr("nginx", "nginx:1.27.2-alpine", cpu="100m", mem="64Mi", mem_limit="128Mi",
              ports=[{"containerPort": 8080, "name": "http"}],
              readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
              volumeMounts=[{"name": "conf", "mountPath": "/etc/nginx/nginx.conf", "subPath": "nginx.conf"},
                            {"name": "site", "mountPath": "/usr/share/nginx/html"}])
    vols = [{"name": "conf", "configMap": {"name": "web-frontend-nginx"}},
            {"name": "site", "persistentVolumeClaim": {"claimName": "web-frontend-site", "readOnly": True}}]
    dep = b.deployment(NS, "web-frontend", [web], replicas=4, ready=3, volumes=vols,
                       revisions=[(9 * 1440, None, {"kubectl.kubernetes.io/restartedAt": b.ts(9 * 1440)}),
                                  (RESTART, None, {"kubectl.kubernetes.io/restartedAt": b.ts(RESTART)})],
                       rs_replicas=[3, 2])
    old_pods = [b.pod(dep, n, Running(9 * 1440), created=9 * 1440, owner=("ReplicaSet", dep.replicasets[0]))
                for n in nodes]
    crash = []
    for i, n in enumerate(nodes[:2]):
        p = b.pod(dep, n, Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=nginx pod="
                                  f"web-frontend_{NS}", restarts=13 - i, last=Ended(0, "Completed", 2.4 + i, 2.4 + i)),
                  created=RESTART - 0.1 * i)
        crash.append(p)
        b.kubectl_logs(p, startup(b, 2.4 + i), container="nginx", previous=True)
        for k in range(13 - i):
            m = RESTART - 0.2 - k * 3 - i
            b.log(p, m, startup(b, m), stream="stderr")
        b.event(NS, ("Pod", p), "BackOff", f"Back-off restarting failed container nginx in pod {p}_{NS}"
                f"({b.uid('Pod', NS, p)})", first=RESTART - 1, last=0.8, count=180, type="Warning", host=n)
        b.event(NS, ("Pod", p), "Started", "Started container nginx", first=RESTART - 0.1, last=2.4 + i, count=13 - i,
                host=n)
    b.event(NS, ("Deployment", "web-frontend"), "ScalingReplicaSet",
            f"Scaled up replica set {dep.replicasets[1]} to 1", first=RESTART, source="deployment-controller")
    b.event(NS, ("Deployment", "web-frontend"), "ScalingReplicaSet",
            f"Scaled down replica set {dep.replicasets[0]} to 3 from 4", first=RESTART, source="deployment-controller")
    b.event(NS, ("Deployment", "web-frontend"), "ScalingReplicaSet",
            f"Scaled up replica set {dep.replicasets[1]} to 2 from 1", first=RESTART, source="deployment-controller")
    for m in range(178, 0, -2):
        p = old_pods[m % 3]
        b.log(p, m, f'10.33.{m % 3}.{20 + m % 40} - - [{b.at(m).strftime("%d/%b/%Y:%H:%M:%S +0000")}] '
                    f'"GET /assets/app.{b.hash(8, "bundle")}.js HTTP/1.1" 200 {181000 + m} "https://shop.acme.io/" '
                    '"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"')

    ksm = {"job": "kube-state-metrics", "namespace": NS}
    for i, p in enumerate(crash):
        starts = [RESTART - 0.2 - k * 3 - i for k in range(13 - i)]
        done = lambda m, s=starts: sum(1 for x in s if x >= m) - 1 if m <= s[0] else 0  # noqa: E731
        b.counter("kube_pod_container_status_restarts_total", {**ksm, "pod": p, "container": "nginx"},
                  lambda m, d=done: max(0, d(m) - d(m + 1)))
        b.gauge("kube_pod_container_status_waiting_reason", {**ksm, "pod": p, "container": "nginx",
                                                             "reason": "CrashLoopBackOff"},
                lambda m, s=starts: None if m > s[0] else (1 if m < s[-1] or int(m) % 3 else 0))
        b.gauge("kube_pod_container_status_last_terminated_reason", {**ksm, "pod": p, "container": "nginx",
                                                                     "reason": "Completed"},
                lambda m, s=starts: None if m > s[0] - 0.1 else 1)
        b.gauge("kube_pod_container_status_last_terminated_exitcode", {**ksm, "pod": p, "container": "nginx"},
                lambda m, s=starts: None if m > s[0] - 0.1 else 0)
    b.gauge("kube_deployment_spec_replicas", {**ksm, "deployment": "web-frontend"}, 4)
    b.gauge("kube_deployment_status_replicas_available", {**ksm, "deployment": "web-frontend"},
            lambda m: 4 if m > RESTART else 3)

    b.alert = kp_alert(b, {"alertname": "KubePodCrashLooping", "container": "nginx", "namespace": NS, "pod": crash[0],
                           "reason": "CrashLoopBackOff", "severity": "warning", "job": "kube-state-metrics",
                           "prometheus": "monitoring/kube-prometheus-stack-prometheus"}, started=24)
    return b
