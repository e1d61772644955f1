"""Facts from the Kubernetes read tools, read from their typed fields (tools/k8s/views.py), never
from the one-line summaries or the `owner` string they render for a reader."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agents.offline.facts import Container, Event, Job, Node, Policy, Pod, Revision, Workload
from agents.offline.scope import job_workload, pod_hash, workload_of_pod
from tools.k8s.compact import parse_time

_DNS_IMAGE = re.compile(r"/(?:coredns|k8s-dns-kube-dns|kube-dns|k8s-dns-node-cache|dnsmasq)[:@]|/coredns/", re.I)

if TYPE_CHECKING:
    from agents.offline.features import Facts, Obs


def _namespace(o: "Obs") -> str:
    return o.result.data.get("namespace") or o.args.get("namespace", "")


def k8s_pods(f: "Facts", o: "Obs") -> None:
    ns = _namespace(o)
    f.namespaces.add(ns)
    for v in o.result.data.get("pods") or []:
        if isinstance(v, dict) and v.get("name"):
            f.pods[v["name"]] = pod_of(v, ns, o)
            if o.key == "dns_server" and serves_dns(v):
                f.dns_server_pods.add(v["name"])
    for svc, pods in (o.result.data.get("services") or {}).items():
        if isinstance(pods, list):
            f.services[(ns, svc)] = [p for p in pods if isinstance(p, str)]
    healthy = o.result.data.get("healthy_pods")
    if isinstance(healthy, list):
        for item in healthy:
            v = item if isinstance(item, dict) else {"name": item}
            if isinstance(v.get("name"), str) and v["name"] not in f.pods:
                f.pods[v["name"]] = pod_of(v, ns, o)


def serves_dns(v: dict[str, Any]) -> bool:
    """A cluster DNS server pod: a container listening on 53, or the image of a known DNS server."""
    return any(53 in (c.get("ports") or []) or _DNS_IMAGE.search(str(c.get("image", "")))
               for c in v.get("containers") or [])


def pod_of(v: dict[str, Any], ns: str, o: "Obs") -> Pod:
    name = v["name"]
    workload, controller = v.get("workload") or {}, v.get("controller") or {}
    if workload.get("name"):
        wl, kind = workload["name"], workload.get("kind", "Pod")
    else:  # a reduced healthy entry (name only): the controllers' naming rule
        wl, kind = workload_of_pod(name)
    owner_rs = controller.get("name") if controller.get("kind") == "ReplicaSet" else pod_hash(name)
    containers = [container_of(c) for c in v.get("containers") or []]
    unsched = next((c.get("message") or c.get("reason") for c in v.get("conditions") or []
                    if c.get("type") == "PodScheduled" and c.get("status") == "False"), None)
    ready, _, total = str(v.get("ready", "1/1")).partition("/")
    return Pod(name=name, namespace=ns, workload=wl, kind=kind, owner_rs=owner_rs, node=v.get("node"),
               phase=v.get("phase", "Running"), reason=v.get("reason"), message=v.get("message"),
               ready=ready == total and total not in ("", "0"), restarts=int(v.get("restarts") or 0),
               started=parse_time(v.get("start_time")), containers=containers, unschedulable=unsched,
               stuck_pending="Pending" in (v.get("problems") or []),
               uses={k: list(x) for k, x in (v.get("uses") or {}).items()},
               config_hosts=list(v.get("config_hosts") or []), ref=o.ref)


def container_of(c: dict[str, Any]) -> Container:
    last = c.get("last_termination") or {}
    return Container(
        name=c.get("name", "?"), image=c.get("image", ""), state=c.get("state"), reason=c.get("reason"),
        message=c.get("message"), exit_code=c.get("exit_code"), last_reason=last.get("reason"),
        last_exit=last.get("exit_code"), last_finished=parse_time(last.get("finished_at")),
        restarts=int(c.get("restarts") or 0), ready=bool(c.get("ready")), limits=dict(c.get("limits") or {}),
        requests=dict(c.get("requests") or {}), init=bool(c.get("init")), ports=list(c.get("ports") or []),
        last_message=last.get("message"))


def k8s_deployments(f: "Facts", o: "Obs") -> None:
    ns = _namespace(o)
    f.namespaces.add(ns)
    for d in o.result.data.get("deployments") or []:
        if not isinstance(d, dict) or not d.get("name"):
            continue
        reps = d.get("replicas") or {}
        revs = [Revision(number=h.get("revision"), rs=h.get("name", ""), created=parse_time(h.get("created")),
                         images=dict(h.get("images") or {}), replicas=int(h.get("replicas") or 0),
                         ready=int(h.get("ready") or 0), changes=list(h.get("changes") or []),
                         restart_only=bool(h.get("restart_only"))) for h in d.get("rollout_history") or []]
        f.workloads[d["name"]] = Workload(name=d["name"], namespace=ns, kind="Deployment", desired=reps.get("desired"),
                                          available=reps.get("available"), revisions=revs,
                                          problems=list(d.get("problems") or []), ref=o.ref)
    for name in o.result.data.get("healthy_deployments") or []:
        if isinstance(name, str) and name not in f.workloads:
            f.workloads[name] = Workload(name=name, namespace=ns, ref=o.ref)


def k8s_events(f: "Facts", o: "Obs") -> None:
    ns = _namespace(o)
    seen = {(e.namespace, e.kind, e.name, e.reason, e.message) for e in f.events}
    for e in o.result.data.get("events") or []:
        kind, _, name = str(e.get("object", "")).partition("/")
        if (ns, kind, name, e.get("reason", ""), e.get("message", "")) in seen:
            continue  # the same event read twice (namespace list, then the subject's own)
        f.events.append(Event(type=e.get("type", "Normal"), reason=e.get("reason", ""), kind=kind, name=name,
                              message=e.get("message", ""), count=int(e.get("count") or 1),
                              first=parse_time(e.get("first")), last=parse_time(e.get("last")), namespace=ns,
                              ref=o.ref))


def k8s_nodes(f: "Facts", o: "Obs") -> None:
    for n in o.result.data.get("nodes") or []:
        if not isinstance(n, dict) or not n.get("name"):
            continue
        conds = n.get("conditions") or []
        pressure = [c["type"] for c in conds if c.get("type") != "Ready" and c.get("status") == "True"]
        since = [parse_time(c.get("since")) for c in conds
                 if (c.get("type") in pressure) or (c.get("type") == "Ready" and c.get("status") != "True")]
        old = f.nodes.get(n["name"])
        f.nodes[n["name"]] = Node(
            name=n["name"], ready=str(n.get("ready", "True")), problems=list(n.get("problems") or []),
            pressure=pressure, since=min((s for s in since if s), default=None),
            allocatable=dict(n.get("allocatable") or {}), tainted=bool(n.get("taints")),
            taints=list(n.get("taints") or []), addresses=dict(n.get("addresses") or {}),
            messages={c["type"]: c["message"] for c in conds if c.get("message")},
            load=dict(n.get("load") or (old.load if old else {})), ref=o.ref if n.get("load") or not old else old.ref)
    for name in o.result.data.get("healthy_nodes") or []:
        if isinstance(name, str) and name not in f.nodes:
            f.nodes[name] = Node(name=name, ref=o.ref)


def k8s_jobs(f: "Facts", o: "Obs") -> None:
    ns = _namespace(o)
    crons = {c.get("name"): c for c in o.result.data.get("cronjobs") or [] if isinstance(c, dict)}
    for j in o.result.data.get("jobs") or []:
        if not isinstance(j, dict) or not j.get("name"):
            continue
        owner = j.get("owner") or ""
        wl = owner.split("/", 1)[1] if owner.startswith("CronJob/") else j["name"]
        cron = crons.get(wl) or {}
        f.job_owner[j["name"]] = wl
        f.jobs.append(Job(name=j["name"], namespace=ns, workload=wl, status=j.get("status", "Running"),
                          failed=int(j.get("failed") or 0), succeeded=int(j.get("succeeded") or 0),
                          problems=list(j.get("problems") or []), reason=j.get("failure_reason"),
                          start=parse_time(j.get("start")),
                          cron_last_success=parse_time(cron.get("last_successful")), command=j.get("command"),
                          changes=list(cron.get("changes_since_last_success") or []), ref=o.ref))


def k8s_network_policies(f: "Facts", o: "Obs") -> None:
    ns = _namespace(o)
    for p in o.result.data.get("policies") or []:
        if isinstance(p, dict) and p.get("name") and not any(x.name == p["name"] and x.namespace == ns
                                                             for x in f.policies):
            f.policies.append(Policy(name=p["name"], namespace=ns, created=parse_time(p.get("created")),
                                     selects=list(p.get("selects") or []), egress=list(p.get("egress") or []),
                                     allows_dns=p.get("allows_dns"), ref=o.ref))


def resolve_job_owners(f: "Facts") -> None:
    """A Job's pods belong to the CronJob that owns the Job (k8s_jobs reads the Job's ownerReference);
    without k8s_jobs, the CronJob controller's naming (<cronjob>-<scheduled minute>) stands in."""
    for p in f.pods.values():
        if p.kind != "Job":
            continue
        owner = f.job_owner.get(p.workload) or job_workload(p.workload)
        if owner != p.workload:
            p.workload, p.kind = owner, "CronJob"


HANDLERS = {"k8s_pods": k8s_pods, "k8s_deployments": k8s_deployments, "k8s_events": k8s_events,
            "k8s_nodes": k8s_nodes, "k8s_jobs": k8s_jobs, "k8s_network_policies": k8s_network_policies}
