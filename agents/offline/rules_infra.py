"""Causes below the workload: volumes and TLS certificates (nodes: rules_node, DNS: rules_dns)."""
from __future__ import annotations

import re

from agents.offline.logsig import SERVER_TLS, hosts_in
from agents.offline.rulekit import _finish, best
from agents.offline.rules_dns import dns_failure  # noqa: F401  (the taxonomy's rules, importable from here)
from agents.offline.rules_node import node_pressure  # noqa: F401
from agents.offline.signals import Ctx, Hypothesis
from tools.textclip import clip_middle

FULL = 0.05          # free share at which a filesystem counts as full


# ------------------------------------------------------------------------------ disk_full
def disk_full(ctx: Ctx) -> Hypothesis | None:
    full = [r for r in ctx.f.rows.get("filesystem_free", []) if r.value is not None and r.value <= FULL]
    out = []
    for wl in ctx.workloads():
        h = Hypothesis("disk_full")
        hits = ctx.hits("disk", wl)
        if hits:
            x = max(hits, key=lambda x: x.count)
            h.add(0.5, x.ref, f"{wl} fails writes x{sum(x.count for x in hits)}: \"{clip_middle(x.example, 240)}\"", x.first)
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
                                               f"\"{clip_middle(x.example, 240)}\"", x.first)
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
