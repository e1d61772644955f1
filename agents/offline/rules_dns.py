"""dns_failure: name resolution fails. Where it breaks decides the component:

* the DNS server itself (its pods crash-loop or log errors, or its metrics say SERVFAIL): the DNS
  workload, found as the pods behind the cluster's DNS label (k8s-app=kube-dns) or by its log format;
* the path to it: a NetworkPolicy that restricts a workload's egress without allowing UDP 53 makes
  every lookup of that workload time out while the DNS pods are healthy: the affected workload, with
  the policy named.
"""
from __future__ import annotations

import re

from agents.offline.signals import Ctx, Hypothesis
from tools.textclip import clip_middle

_DNS_SERVER = re.compile(r"coredns|kube-dns|dns", re.I)   # only when the API cannot say which pods serve DNS
_SERVER_LINE = re.compile(r"plugin/|\[ERROR\]|\[FATAL\]")


def dns_servers(ctx: Ctx) -> set[str]:
    """Workloads serving cluster DNS: the pods the k8s-app=kube-dns selector returned, else by name."""
    found = {ctx.f.pods[name].workload for name in ctx.f.dns_server_pods if name in ctx.f.pods}
    return found or {w for w in ctx.workloads() if _DNS_SERVER.search(w)}


def dns_failure(ctx: Ctx) -> Hypothesis | None:
    h = Hypothesis("dns_failure")
    servers = dns_servers(ctx)
    rows = [r for r in ctx.f.rows.get("dns_errors", []) if r.state == "abnormal"]
    if rows:
        r = max(rows, key=lambda r: r.value or 0)
        h.add(0.45, r.ref, f"CoreDNS answers {r.labels.get('rcode')} to {(r.value or 0):.0%} of queries", r.since)
    hits = ctx.hits("dns_resolver")
    # A result mixing pods tells who logged it only roughly: the line's own format says server or client.
    server_hits = [x for x in hits if _SERVER_LINE.search(x.example) or (x.scoped_pod and ctx.attribution(x) & servers)]
    client_hits = [x for x in hits if x not in server_hits]
    clients = sorted({w for x in client_hits for w in ctx.attribution(x)} - servers)
    # The subject's own read logs failing lookups: a resolver error is specific, it decides by itself.
    own = [x for x in client_hits if x.scoped_pod and ctx.attribution(x) & ctx.focus]
    if client_hits:
        x = max(own or client_hits, key=lambda x: x.count)
        h.add(0.4 if own else 0.3 if len(clients) >= 2 else 0.2, x.ref, f"name resolution fails in "
              f"{len(clients) or 'some'} workload(s) ({', '.join(clients[:5])}): \"{clip_middle(x.example, 240)}\"",
              x.first)
    if server_hits:
        x = max(server_hits, key=lambda x: x.count)
        h.add(0.2 if h.score else 0.3, x.ref, f"the DNS server logs errors x{sum(x.count for x in server_hits)}: "
                                               f"\"{clip_middle(x.example, 240)}\"", x.first)
    sick = _sick_server_pods(ctx, servers)
    if sick and h.score:
        p = sick[0]
        c = next((c for c in p.containers if c.restarts or c.state == "waiting"), p.containers[0] if p.containers else None)
        state = f"{c.reason or c.state}, last exit {c.termination[1]} ({c.termination[0]}), {c.restarts} restarts" \
            if c else p.phase
        h.add(0.3, p.ref, f"{len(sick)} DNS server pod(s) of {p.workload} are down: {p.name} {state}")
    if not h.score:
        nx = ctx.hits("dns_nxdomain")
        nx_wls = {w for x in nx for w in ctx.attribution(x)}
        if len(nx_wls) >= 2:
            x = nx[0]
            h.add(0.3, x.ref, f"{len(nx_wls)} workloads cannot resolve names: \"{clip_middle(x.example, 200)}\"",
                  x.first)
        else:
            return None
    blocked = _blocking_policy(ctx, clients)
    dns_wls = sorted({w for x in server_hits for w in ctx.attribution(x)} | servers)
    if blocked and not sick and not rows:
        pol, victim = blocked
        h.add(0.35, pol.ref, f"NetworkPolicy {pol.namespace}/{pol.name} (created {_when(pol)}) restricts the egress "
                             f"of {victim}'s pods to {'; '.join(pol.egress[:3]) or 'nothing'} and allows no DNS "
                             "(UDP 53 to kube-dns): their lookups time out while the DNS server answers others")
        if servers and not server_hits:
            h.add(0.05, None, f"the DNS server pods ({', '.join(sorted(servers))}) are Ready")
        h.component, h.params["policy"] = victim, f"{pol.namespace}/{pol.name}"
    elif own and not (servers or server_hits or sick or rows):
        # Nothing says the DNS server is at fault: the answer is about the subject whose lookups fail.
        h.component = sorted(ctx.attribution(own[0]) & ctx.focus)[0]
        _policy_suspect(h, ctx, h.component)
    else:
        # The pods that serve DNS (by the API), else who logs the server's lines, else a DNS-named workload.
        by_lines = sorted({w for x in server_hits for w in ctx.attribution(x)})
        h.component = next(iter(sorted(servers & set(by_lines) or servers)), None) or \
            (by_lines[0] if len(by_lines) == 1 else next((w for w in dns_wls if _DNS_SERVER.search(w)), None)) or \
            (dns_wls[0] if dns_wls else "coredns")
    affected = set(clients) & ctx.focus
    h.score = min(1.0, h.score) * (1.0 if (affected or not ctx.focus or h.component in ctx.focus) else 0.8)
    h.namespace = ctx.namespace_of(h.component)
    return h


def _sick_server_pods(ctx: Ctx, servers: set[str]) -> list:
    return [p for p in ctx.f.pods.values() if p.workload in servers
            and (not p.ready or any(c.restarts and c.state != "running" or c.reason == "CrashLoopBackOff"
                                    for c in p.containers))]


def _blocking_policy(ctx: Ctx, clients: list[str]):
    """(policy, affected workload) when an egress policy without DNS selects a failing client's pods,
    the subject's first."""
    for wl in sorted(set(clients) | ctx.focus, key=lambda w: (w not in ctx.focus, w)):
        pods = {p.name for p in ctx.pods(wl)}
        for pol in ctx.f.policies:
            if pol.allows_dns is False and pods & set(pol.selects):
                return pol, wl
    return None


def _policy_suspect(h: Hypothesis, ctx: Ctx, victim: str) -> None:
    """A NetworkPolicy that selects the failing pods but whose egress rules were not shown to block
    DNS (its spec was not read, or it names no egress): still the first thing to check."""
    pods = {p.name for p in ctx.pods(victim)}
    pol = next((p for p in ctx.f.policies if pods & set(p.selects) and p.allows_dns is not True), None)
    if pol is None:
        return
    h.add(0.05, pol.ref, f"NetworkPolicy {pol.namespace}/{pol.name} selects {victim}'s pods: a possible cause, "
                         "if it restricts their egress without allowing DNS (UDP 53 to kube-dns)")
    h.params["policy_suspect"] = f"{pol.namespace}/{pol.name}"


def _when(pol) -> str:
    return pol.created.strftime("%Y-%m-%dT%H:%M:%SZ") if pol.created else "at an unknown time"
