"""Causes below the workload: volumes, nodes, TLS certificates, cluster DNS."""
from __future__ import annotations

import re

from agents.offline.logsig import SERVER_TLS, hosts_in
from agents.offline.rulekit import _finish, best
from agents.offline.signals import Ctx, Hypothesis

FULL = 0.05          # free share at which a filesystem counts as full
_DNS_SERVER = re.compile(r"coredns|kube-dns|dns", re.I)


# ------------------------------------------------------------------------------ disk_full
def disk_full(ctx: Ctx) -> Hypothesis | None:
    full = [r for r in ctx.f.rows.get("filesystem_free", []) if r.value is not None and r.value <= FULL]
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("disk_full")
        hits = ctx.hits("disk", wl)
        if hits:
            x = max(hits, key=lambda x: x.count)
            h.add(0.5, x.ref, f"{wl} fails writes x{sum(x.count for x in hits)}: {x.example[:200]}", x.first)
        pvc = [r for r in full if r.labels.get("persistentvolumeclaim") and _claim_of(r.labels["persistentvolumeclaim"], wl)]
        if pvc:
            r = pvc[0]
            h.add(0.35 if hits else 0.5, r.ref, f"PVC {r.labels.get('namespace')}/{r.labels['persistentvolumeclaim']} "
                  f"has {r.value:.1%} free", r.since)
            h.params["volume"] = r.labels["persistentvolumeclaim"]
        elif hits and any(r.labels.get("persistentvolumeclaim") and r.labels.get("namespace") == ctx.namespace_of(wl)
                          for r in full):
            r = next(r for r in full if r.labels.get("namespace") == ctx.namespace_of(wl))
            h.add(0.25, r.ref, f"PVC {r.labels.get('namespace')}/{r.labels.get('persistentvolumeclaim')} has "
                               f"{r.value:.1%} free", r.since)
        if not h.score:
            continue
        out.append(_finish(h, ctx, wl))
    return best(out)


def _claim_of(claim: str, wl: str) -> bool:
    """PVCs are named after their workload: <wl>-<purpose> or <template>-<statefulset>-<n>."""
    return claim == wl or claim.startswith(wl + "-") or f"-{wl}-" in claim or claim.endswith("-" + wl)


# ------------------------------------------------------------------------------ node_pressure
def node_pressure(ctx: Ctx) -> Hypothesis | None:
    out = []
    cond_rows = [r for r in ctx.f.rows.get("node_conditions", []) if r.state == "abnormal"]
    names = sorted(set(ctx.f.nodes) | {r.labels.get("node", "") for r in cond_rows} - {""})
    for node in names:
        h = Hypothesis("node_pressure")
        n = ctx.f.nodes.get(node)
        bad = (n.pressure + ([f"Ready={n.ready}"] if n.ready != "True" else [])) if n else []
        if n and bad:
            h.add(0.45, n.ref, f"node {node}: {', '.join(bad)}" + (f" since {n.since:%H:%M}Z" if n.since else ""),
                  n.since)
        rows = [r for r in cond_rows if r.labels.get("node") == node]
        if rows and not bad:
            h.add(0.45, rows[0].ref, f"node {node}: " + ", ".join(f"{r.labels.get('condition')}={r.labels.get('status')}"
                                                                  for r in rows), rows[0].since)
        if not h.score:
            continue
        evicted = [p for p in ctx.f.pods.values() if p.node == node and p.reason == "Evicted"]
        if evicted:
            wls = sorted({p.workload for p in evicted})
            h.add(0.25 + min(0.1, 0.05 * (len(evicted) - 1)), evicted[0].ref,
                  f"{len(evicted)} pod(s) evicted from {node} ({', '.join(wls)}): {(evicted[0].message or '')[:160]}")
        evs = [e for e in ctx.f.events if e.kind == "Node" and e.name == node and e.reason != "NodeNotSchedulable"]
        if evs:
            e = max(evs, key=lambda e: (e.type == "Warning", e.count))
            h.add(0.1, e.ref, f"{e.reason} x{e.count} on node {node}: {e.message[:160]}", e.first)
        ev_evict = [e for e in ctx.f.events if e.reason == "Evicted" and "node was low on resource" in e.message.lower()]
        if ev_evict and not evicted:
            h.add(0.2, ev_evict[0].ref, f"Evicted: {ev_evict[0].message[:160]}", ev_evict[0].first)
        h.params["node"] = node
        h.component = node
        focus_pods = [p for p in ctx.f.pods.values() if p.workload in ctx.focus and p.node]
        on_node = any(p.node == node for p in focus_pods) or node in ctx.scope.nodes
        named_other = ctx.scope.nodes and node not in ctx.scope.nodes
        weight = 0.7 if named_other else (1.0 if (not ctx.focus or on_node or not focus_pods) else 0.7)
        h.score = min(1.0, h.score) * weight
        out.append(h)
    return best(out)


# ------------------------------------------------------------------------------ certificate_expired
def certificate_expired(ctx: Ctx) -> Hypothesis | None:
    h = Hypothesis("certificate_expired")
    rows = [r for r in ctx.f.rows.get("certificate_expiry", []) if r.value is not None and r.value < 0.5]
    expired = [r for r in rows if r.value < 0]
    target = None
    if expired:
        r = min(expired, key=lambda r: r.value)
        target = r.labels.get("instance") or r.labels.get("name")
        h.add(0.6, r.ref, f"certificate of {target} expired {abs(r.value) * 24:.1f} h ago", r.since)
    elif rows:
        r = rows[0]
        target = r.labels.get("instance") or r.labels.get("name")
        h.add(0.2, r.ref, f"certificate of {target} expires in {r.value * 24:.1f} h")
    hits = ctx.hits("tls_expired")
    if hits:
        x = max(hits, key=lambda x: x.count)
        h.add(0.25 if expired else 0.5, x.ref, f"TLS clients reject an expired certificate x{sum(x.count for x in hits)}: "
                                               f"{x.example[:200]}", x.first)
    if not h.score:
        return None
    probes = [r for r in ctx.f.rows.get("probe_success", []) if r.state == "abnormal"]
    probe = next((r for r in probes if target and r.labels.get("instance") == target), None)
    if probe:
        h.add(0.1, probe.ref, f"blackbox probe of {probe.labels.get('instance')} failing", probe.since)
    h.component = _tls_server(ctx, target, hits + ctx.hits("tls_other"))
    h.params["certificate"] = target
    h.score = min(1.0, h.score) * (1.0 if (not ctx.focus or h.component in ctx.focus) else 0.8)
    h.namespace = ctx.namespace_of(h.component)
    return h


def _tls_server(ctx: Ctx, target: str | None, hits) -> str | None:
    """The workload presenting the certificate: the one logging server-side handshake failures, the
    in-cluster service clients name in their x509 errors, or a workload named like the probed host."""
    votes: dict[str, float] = {}
    known = ctx.workloads()
    for x in hits:
        text = x.example + " " + x.template
        if SERVER_TLS.search(text):
            for w in ctx.attribution(x):
                votes[w] = votes.get(w, 0) + 2
        for host in hosts_in(text):
            first = host.split(".")[0]
            if first in known:
                votes[first] = votes.get(first, 0) + 1.5
    host = (target or "").split("://")[-1].split("/")[0].split(":")[0]
    for w in known:
        if host and _name_overlap(w, host):
            votes[w] = votes.get(w, 0) + 1
    if votes:
        return max(sorted(votes), key=lambda w: votes[w])
    if ctx.scope.focus:
        return ctx.scope.focus[0]
    return host.split(".")[0] if host else None


def _name_overlap(workload: str, host: str) -> bool:
    parts = set(re.split(r"[-.]", workload)) - {"api", "svc", "web", "app", "service", "server"}
    hp = {p.rstrip("s") for p in re.split(r"[-.]", host)}
    return any(len(p) >= 4 and p.rstrip("s") in hp for p in parts)


# ------------------------------------------------------------------------------ dns_failure
def dns_failure(ctx: Ctx) -> Hypothesis | None:
    h = Hypothesis("dns_failure")
    rows = [r for r in ctx.f.rows.get("dns_errors", []) if r.state == "abnormal"]
    if rows:
        r = max(rows, key=lambda r: r.value or 0)
        h.add(0.45, r.ref, f"CoreDNS answers {r.labels.get('rcode')} to {(r.value or 0):.0%} of queries", r.since)
    hits = ctx.hits("dns_resolver")
    server_hits = [x for x in hits if re.search(r"plugin/|\[ERROR\]", x.example)
                   or any(_DNS_SERVER.search(w) for w in ctx.attribution(x))]
    client_hits = [x for x in hits if x not in server_hits]
    clients = sorted({w for x in client_hits for w in ctx.attribution(x)})
    if client_hits:
        x = max(client_hits, key=lambda x: x.count)
        h.add(0.3 if len(clients) >= 2 else 0.2, x.ref, f"name resolution fails in {len(clients) or 'some'} "
              f"workload(s) ({', '.join(clients[:5])}): {x.example[:180]}", x.first)
    if server_hits:
        x = max(server_hits, key=lambda x: x.count)
        h.add(0.2 if h.score else 0.3, x.ref, f"the DNS server logs errors x{sum(x.count for x in server_hits)}: "
                                               f"{x.example[:180]}", x.first)
    if not h.score:
        nx = ctx.hits("dns_nxdomain")
        nx_wls = {w for x in nx for w in ctx.attribution(x)}
        if len(nx_wls) >= 2:
            x = nx[0]
            h.add(0.3, x.ref, f"{len(nx_wls)} workloads cannot resolve names: {x.example[:160]}", x.first)
        else:
            return None
    dns_wls = sorted({w for x in server_hits for w in ctx.attribution(x)} |
                     {w for w in ctx.workloads() if _DNS_SERVER.search(w)})
    h.component = next((w for w in dns_wls if "dns" in w), dns_wls[0] if dns_wls else "coredns")
    affected = set(clients) & ctx.focus
    h.score = min(1.0, h.score) * (1.0 if (affected or not ctx.focus) else 0.8)
    h.namespace = ctx.namespace_of(h.component)
    return h
