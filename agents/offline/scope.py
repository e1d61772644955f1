"""Scope resolution: which namespaces, workloads, pods and hosts an incident is about.

Names follow Kubernetes' controller naming, so a workload can be read off a pod name even when
the API is not available: <deployment>-<pod-template-hash>-<5>, <cronjob>-<minutes>-<5>,
<statefulset>-<ordinal>, <job|daemonset>-<5>.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlparse

from agents.trigger import Trigger

_HASH = r"[a-z0-9]{6,10}"
_SUFFIX = r"[a-z0-9]{5}"
_DEPLOY_POD = re.compile(rf"^(?P<w>[a-z0-9][a-z0-9-]*?)-(?P<h>{_HASH})-{_SUFFIX}$")
_CRON_POD = re.compile(rf"^(?P<w>[a-z0-9][a-z0-9-]*?)-\d{{6,}}-{_SUFFIX}$")
_STS_POD = re.compile(r"^(?P<w>[a-z0-9][a-z0-9-]*?)-\d{1,3}$")
_JOB_POD = re.compile(rf"^(?P<w>[a-z0-9][a-z0-9-]*?)-{_SUFFIX}$")
_CRON_JOB = re.compile(r"^(?P<w>[a-z0-9][a-z0-9-]*?)-\d{6,}$")
_RS = re.compile(rf"^(?P<w>[a-z0-9][a-z0-9-]*?)-(?P<h>{_HASH})$")

# Namespaces and label values that belong to the monitoring stack, not to the workload in trouble.
_EXPORTER_NS = re.compile(r"monitoring|prometheus|observability|grafana|alertmanager|logging|telemetry", re.I)
# "exporter" as the name's last word (redis-exporter, its pods' hash suffixes allowed): a workload that
# merely has the word inside its name (analytics-exporter-fast) is an application, not a scraper.
_EXPORTER_NAME = re.compile(r"exporter(?:-(?=[a-z0-9]*\d)[a-z0-9]{5,10})?(?:-[a-z0-9]{5})?$|kube-state-metrics|blackbox|prometheus|alertmanager|pushgateway|"
                            r"node-exporter|cadvisor|kubelet|apiserver|^blackbox", re.I)
_NS_NAME = re.compile(r"(?<![\w./:-])([a-z0-9][a-z0-9-]{1,62})/([a-z0-9][a-z0-9.-]{1,252})(?![\w/-])")
_WORD = re.compile(r"(?<![\w.-])[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?![\w-])")
_URL = re.compile(r"https?://[^\s\"'<>|)]+")
_STOP = frozenset("""a an and any are as at be been but by can could did do does for from had has have how i if in
is it its kube me my no not now of on or our please prod production since so some than that the then there this
to too up us was we were what when where which who why will with you your yes alert alerts firing resolved critical
warning info severity pod pods container node nodes service services deployment namespace cluster job jobs error
errors latency high low rate look take see saw know anyone someone users user keep keeps getting evicted minutes
min hours hour ago last again help check bot incident time times details description summary runbook dashboard
show""".split())


def workload_of_pod(pod: str) -> tuple[str, str]:
    """(workload, kind guess) for a pod name."""
    for rx, kind in ((_CRON_POD, "CronJob"), (_DEPLOY_POD, "Deployment"), (_STS_POD, "StatefulSet"),
                     (_JOB_POD, "Job")):
        m = rx.match(pod)
        if m and _has_digit_or_hash(pod, rx, kind):
            return m.group("w"), kind
    return pod, "Pod"


def _has_digit_or_hash(pod: str, rx: re.Pattern, kind: str) -> bool:
    # "api-gateway" must not become "api": a template hash or suffix always holds a digit or
    # a consonant run no English word has; require at least one digit in hash+suffix.
    if kind in ("CronJob", "StatefulSet"):
        return True
    tail = pod[len(rx.match(pod).group("w")):]
    return any(c.isdigit() for c in tail) or not any(c in "aeiouy" for c in tail.replace("-", ""))


def workload_of_owner(owner: str | None, pod: str) -> tuple[str, str]:
    """From k8s_pods' owner field ('Deployment/x (via ReplicaSet/x-h)', 'Job/x', 'StatefulSet/x')."""
    if owner:
        kind, _, rest = owner.partition("/")
        name = rest.split(" ", 1)[0]
        if kind == "ReplicaSet":
            m = _RS.match(name)
            return (m.group("w"), "Deployment") if m else (name, "ReplicaSet")
        if kind == "Job":
            m = _CRON_JOB.match(name)
            return (m.group("w"), "CronJob") if m else (name, "Job")
        if kind and name:
            return name, kind
    return workload_of_pod(pod)


def job_workload(job: str) -> str:
    m = _CRON_JOB.match(job)
    return m.group("w") if m else job


def pod_hash(pod: str) -> str | None:
    m = _DEPLOY_POD.match(pod)
    return m.group("h") if m else None


def is_exporter_namespace(ns: str | None) -> bool:
    return bool(ns and _EXPORTER_NS.search(ns))


def is_exporter_name(name: str | None) -> bool:
    return bool(name and _EXPORTER_NAME.search(name))


@dataclass
class Scope:
    namespace: str | None = None          # the namespace to investigate first
    namespaces: list[str] = field(default_factory=list)  # candidates, best first
    focus: list[str] = field(default_factory=list)       # workloads the alert is about
    pods: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)       # hostnames named by the alert (probe targets)
    nodes: list[str] = field(default_factory=list)       # nodes named by the alert's labels
    words: list[str] = field(default_factory=list)       # other identifiers from the text
    start: datetime | None = None
    alertname: str | None = None
    exporter_alert: bool = False
    resolved: bool = False                # the cluster confirmed the subject (agents.scope.resolve_scope)
    subject_kind: str | None = None       # Deployment, CronJob, ... of focus[0] when resolved
    host_nodes: list[str] = field(default_factory=list)  # nodes hosting the subject's pods

    def add_focus(self, name: str | None) -> None:
        if name and name not in self.focus:
            self.focus.append(name)


def scope_from_trigger(trigger: Trigger) -> Scope:
    """Everything the alert/message says about where to look; nothing is queried yet."""
    s = Scope(start=trigger.alert.starts_at if trigger.alert else None,
              alertname=trigger.alert.name if trigger.alert else None)
    labels = dict(trigger.alert.labels) if trigger.alert else {}
    ann = trigger.alert.annotations if trigger.alert else {}
    text = " ".join([trigger.text, *ann.values()])
    ns = trigger.namespace or labels.get("namespace")
    # kube-state-metrics labels alerts with the object's namespace; a blackbox or exporter alert
    # carries the monitoring stack's namespace (or none) and names its target elsewhere.
    s.exporter_alert = is_exporter_namespace(ns)
    if ns and not is_exporter_namespace(ns):
        s.namespaces.append(ns)
    for a, b in _NS_NAME.findall(_URL.sub(" ", text)):
        if a.isdigit() or is_exporter_namespace(a):
            continue
        if a not in s.namespaces:
            s.namespaces.append(a)
        if workload_of_pod(b)[1] != "Pod":
            if b not in s.pods:
                s.pods.append(b)
            s.add_focus(workload_of_pod(b)[0])
        else:
            s.add_focus(job_workload(b))
    pods = [trigger.pod, labels.get("pod"), labels.get("exported_pod")]
    for p in pods:
        if p and p not in s.pods and not is_exporter_name(p):
            s.pods.append(p)
            s.add_focus(workload_of_pod(p)[0])
    for key in ("deployment", "statefulset", "daemonset", "cronjob", "job_name", "kube_deployment", "kube_stateful_set",
                "kube_daemon_set", "kube_cronjob", "kube_job", "k8s_deployment_name", "k8s_statefulset_name",
                "k8s_daemonset_name", "k8s_cronjob_name", "k8s_job_name", "service", "app", "container",
                "consumergroup", "workload"):
        v = labels.get(key)
        if v and not is_exporter_name(v):
            s.add_focus(job_workload(v) if key in ("job_name", "kube_job", "k8s_job_name") else v)
    for key in ("node", "kubernetes_node", "exported_node", "kube_node", "k8s_node_name"):
        if labels.get(key) and labels[key] not in s.nodes:
            s.nodes.append(labels[key])
    if trigger.service and not is_exporter_name(trigger.service) and trigger.service not in s.focus:
        s.add_focus(job_workload(trigger.service))
    for url in _URL.findall(text) + [labels.get("instance", "")]:
        host = _host(url)
        if host and not re.fullmatch(r"[\d.]+", host) and host not in s.hosts and _looks_like_target(url, labels):
            s.hosts.append(host)
    for w in _WORD.findall(_URL.sub(" ", text.lower())):
        if len(w) >= 3 and w not in _STOP and w not in s.words and w not in s.pods:
            s.words.append(w)
    s.namespace = s.namespaces[0] if s.namespaces else None
    return s


def _host(url: str) -> str | None:
    """The host of a URL or host:port, or None; a masked credential such as
    https://[REDACTED:github_token]@github.com reads as a bad IPv6 literal to urlparse."""
    if not url:
        return None
    try:
        return urlparse(url if "://" in url else f"//{url}").hostname
    except ValueError:
        return None


def _looks_like_target(url: str, labels: dict) -> bool:
    """A probe target (instance label or URL in a probe alert), not a runbook or dashboard link."""
    if url == labels.get("instance"):
        return True
    return not re.search(r"runbook|grafana|dashboard|alertmanager|prometheus|/graph|slack|github", url, re.I)
