"""Saturation and dependencies: CPU limits, load, connection pools, slow queries, unreachable services."""
from __future__ import annotations

import re

from agents.offline.durations import slow_calls
from agents.offline.logsig import hosts_in, slow_ms
from agents.offline.signals import Ctx, Hypothesis
from agents.offline.subject import dependency_workload
from agents.offline.rulekit import ROLLOUT_WINDOW, SLACK, _finish, _latency_bad, _rate_ratio, best, rollout_of
from tools.k8s.quantity import cpu_cores
from tools.textclip import clip_middle

TINY_CPU = 0.1   # cores: a limit this small throttles any real work

def cpu_throttling(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        rows = [r for r in ctx.service_rows("cpu_throttling_ratio", wl) if r.value is not None]
        if not rows:
            continue
        r = max(rows, key=lambda r: r.value)
        if r.value < 0.25:
            continue
        h = Hypothesis("cpu_throttling")
        who = f"{r.labels.get('pod') or wl}/{r.labels.get('container') or '?'}"
        h.add(0.4 + min(0.3, (r.value - 0.25) * 0.6), r.ref,
              f"{r.text} for {who}" if r.extra.get("from_alert") else
              f"{who} CPU-throttled in {r.value:.0%} of CFS periods (peak {(r.peak or r.value):.0%})", r.since)
        h.params["container"] = r.labels.get("container")
        named = h.params["container"]
        c = next((c for p in ctx.pods(wl) for c in p.containers
                  if c.limits.get("cpu") and (not named or c.name == named)), None)
        if c is not None:
            limit = cpu_cores(c.limits["cpu"]) or 0
            h.add(0.1 if limit <= TINY_CPU else 0.05, ctx.pods(wl)[0].ref,
                  f"container {c.name} of {wl} has a CPU limit of {c.limits['cpu']}"
                  + (f" (request {c.requests['cpu']})" if c.requests.get("cpu") else ""))
            h.params.setdefault("container", c.name)
        slow = slow_calls(ctx.lines_of(wl))
        if slow is not None:
            h.add(0.1, ctx.log_ref(wl), f"{wl}'s own logs show {slow.count} call(s) taking {slow.typical:.2g} s "
                                        f"(up to {slow.slowest:.2g} s): \"{clip_middle(slow.example, 200)}\"")
        lat = _latency_bad(ctx, wl)
        if lat:
            h.add(0.15, lat.ref, f"{lat.labels.get('service', wl)}: {lat.text}", lat.since)
        ratio, rr = _rate_ratio(ctx, wl)
        if ratio is not None and ratio >= 1.8:
            h.counter(0.35, f"request rate of {wl} is {ratio:.1f}x its baseline: load, not the limit, changed")
        elif ratio is not None and rr is not None:
            h.add(0.05, rr.ref, f"request rate of {wl} only {ratio:.2f}x its baseline (no surge)")
        if any(c.termination[0] == "OOMKilled" for p in ctx.pods(wl) for c in p.containers):
            h.counter(0.6, f"{wl} is OOMKilled")
        for p in ctx.pods(wl):
            c = next((c for c in p.containers if c.name == h.params["container"]), None)
            if c and c.limits.get("cpu"):
                h.params["cpu_limit"] = c.limits["cpu"]
                break
        out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ traffic_spike
def traffic_spike(ctx: Ctx) -> Hypothesis | None:
    out = []
    for wl in ctx.workloads():
        ratio, rr = _rate_ratio(ctx, wl)
        if ratio is None or ratio < 1.8:
            continue
        h = Hypothesis("traffic_spike")
        h.add(0.35 + min(0.35, (ratio - 1.8) * 0.2), rr.ref, f"{rr.labels.get('service', wl)} request rate "
              f"{rr.value:.3g}/s vs baseline {rr.extra['baseline']:.3g}/s ({ratio:.1f}x)", rr.since)
        h.params["ratio"] = ratio
        sat = []
        thr = [r for r in ctx.service_rows("cpu_throttling_ratio", wl) if (r.value or 0) >= 0.2]
        if thr:
            sat.append((thr[0], f"pods CPU-throttled {max(r.value for r in thr):.0%}"))
        lat = _latency_bad(ctx, wl)
        if lat:
            sat.append((lat, lat.text))
        err = next((r for r in ctx.service_rows("error_ratio", wl) if r.state == "abnormal"), None)
        if err:
            sat.append((err, err.text))
        if sat:
            h.add(0.15, sat[0][0].ref, f"{wl} saturates: " + "; ".join(s for _, s in sat))
        new, _ = rollout_of(ctx, wl)
        if new is not None and rr.since and new.created - SLACK <= rr.since <= new.created + ROLLOUT_WINDOW:
            h.counter(0.7, f"{wl} rolled out revision {new.number} just before the rate change")
        if any(c.restarts for p in ctx.pods(wl) for c in p.containers if c.termination[0] not in (None, "Completed")):
            h.counter(0.7, f"{wl} pods are crashing")
        w = ctx.f.workloads.get(wl)
        rep = next((r for r in ctx.f.rows.get("replicas_available_vs_desired", []) if r.labels.get("deployment") == wl),
                   None)
        h.params["replicas"] = (w.desired if w and w.desired else None) or (rep.extra.get("desired") if rep else None) \
            or len(ctx.pods(wl)) or None
        out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ connection_pool_exhausted
def connection_pool_exhausted(ctx: Ctx) -> Hypothesis | None:
    out = []
    pool_rows = [r for r in ctx.f.rows.get("db_connections", []) if r.labels.get("pool") and (r.peak or r.value or 0) >= 0.9]
    db_rows = [r for r in ctx.f.rows.get("db_connections", []) if r.labels.get("instance")]
    for wl in ctx.workloads():
        h = Hypothesis("connection_pool_exhausted")
        hits = ctx.hits("pool", wl)
        if hits:
            x = max(hits, key=lambda x: x.count)
            n = sum(x.count for x in hits)
            h.add(0.5 + (0.1 if n >= 10 else 0), x.ref, f"{wl} logs pool exhaustion x{n}: \"{clip_middle(x.example, 240)}\"", x.first)
        ns = ctx.namespace_of(wl)
        mine = [r for r in pool_rows if r.labels.get("namespace") == ns and (hits or wl in ctx.focus)]
        if mine:
            r = mine[0]
            h.add(0.25 if hits else 0.45, r.ref, f"pool {r.labels.get('pool')} in {ns}: {r.text}", r.since)
        if not h.score:
            continue
        if db_rows and all((r.peak or r.value or 0) < 0.8 for r in db_rows):
            r = db_rows[0]
            h.add(0.05, r.ref, f"the database itself is far from its connection limit ({r.text})")
        lat = _latency_bad(ctx, wl) or next((r for r in ctx.service_rows("error_ratio", wl) if r.state == "abnormal"),
                                            None)
        if lat:
            h.add(0.1, lat.ref, f"{lat.labels.get('service', wl)}: {lat.text}", lat.since)
        slow = [x for x in ctx.hits("slow_db", wl) if (slow_ms(x.example) or 0) >= 1000]
        if slow:
            h.counter(0.75, f"{wl} also logs slow statements: the pool may only be waiting on slow queries")
        out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ slow_query
SLOW_TX_S = 2.0


def slow_query(ctx: Ctx) -> Hypothesis | None:
    slow = [x for x in ctx.hits("slow_db") if (slow_ms(x.example + " " + x.template) or 0) >= 500]
    tx = [r for r in ctx.f.rows.get("pg_tx", []) if (r.value or 0) >= SLOW_TX_S
          and r.labels.get("state", "active") == "active"]
    if not slow and not tx:
        return None
    out = []
    for wl in ctx.workloads():
        mine = [x for x in slow if wl in ctx.attribution(x)]
        h = Hypothesis("slow_query")
        if mine:
            x = max(mine, key=lambda x: x.count)
            h.add(0.45, x.ref, f"{wl} logs slow database calls x{sum(x.count for x in mine)} "
                               f"(up to {max(slow_ms(x.example + ' ' + x.template) or 0 for x in mine):.0f} ms): "
                               f"\"{clip_middle(x.example, 220)}\"", x.first)
        lat = _latency_bad(ctx, wl)
        if not mine and not (lat and wl in ctx.focus):
            continue
        db_side = [x for x in slow if not (ctx.attribution(x) & {wl})]
        if db_side and (wl in ctx.focus or not ctx.focus):
            x = max(db_side, key=lambda x: x.count)
            ms = max(slow_ms(x.example + " " + x.template) or 0 for x in db_side)
            h.add(0.45 if not mine else 0.15, x.ref, f"database statements take up to {ms:.0f} ms "
                  f"(x{sum(x.count for x in db_side)}): \"{clip_middle(x.example, 220)}\"", x.first)
        if tx and (wl in ctx.focus or not ctx.focus) and lat:
            r = max(tx, key=lambda r: r.value or 0)
            h.add(0.3 if (mine or db_side) else 0.4, r.ref, f"the longest active statement on "
                  f"{r.labels.get('datname') or r.labels.get('instance') or 'the database'} runs {r.value:.1f} s")
        if lat and h.score:
            h.add(0.15, lat.ref, f"{lat.labels.get('service', wl)}: {lat.text}", lat.since)
        if ctx.hits("pool", wl):
            h.counter(0.8, f"{wl} also reports pool exhaustion")
        thr = [r for r in ctx.service_rows("cpu_throttling_ratio", wl) if (r.value or 0) >= 0.5]
        if thr:
            h.counter(0.7, f"{wl} is CPU-throttled")
        out.append(_finish(h, ctx, wl))
    return best(out)


# ------------------------------------------------------------------------------ dependency_unavailable
def dependency_unavailable(ctx: Ctx) -> Hypothesis | None:
    out = []
    known = ctx.workloads()
    probes = [r for r in ctx.f.rows.get("probe_success", []) if r.state == "abnormal"]
    for wl in known:
        hits = ctx.hits("refused", wl)
        slow = ctx.hits("timeout", wl)
        if not hits and not slow:
            continue
        h = Hypothesis("dependency_unavailable")
        crash = [x for x in hits if x.scoped_pod and x.previous]
        x = max(crash or hits or slow, key=lambda x: x.count)
        base = 0.55 if crash else (0.45 if hits else 0.25)
        hosts = [hh for y in (crash or hits or slow) for hh in hosts_in(y.example + " " + y.template)]
        target = _dependency(hosts, known, wl)
        # The line that names the dependency is the one to quote.
        line = next((t for y in (crash or hits or slow) for t in (y.example, y.template) if target and target in t),
                    x.example)
        port = re.search(rf"(?<![\w.-]){re.escape(target)}:(\d{{2,5}})\b", line) if target else None
        endpoint = f"{target}:{port.group(1)}" if port else (target or "a dependency")
        h.add(base, x.ref, f"{wl} {'cannot connect to' if hits else 'times out connecting to'} {endpoint}: "
                           f"\"{clip_middle(line, 240)}\"", x.first)
        h.params["dependency"] = target
        if target:
            others = {w for y in ctx.hits(("refused", "timeout")) for w in ctx.attribution(y)
                      if w != wl and any(_same_host(target, hh) for hh in hosts_in(y.example + " " + y.template))}
            if others:
                h.add(0.1, x.ref, f"{', '.join(sorted(others))} fail to reach {target} too")
            probe = next((r for r in probes if target.split(":")[0] in r.labels.get("instance", "")), None)
            if probe:
                h.add(0.15, probe.ref, f"blackbox probe of {probe.labels.get('instance')} failing ({probe.text})",
                      probe.since)
            dep_wl = _in_cluster_workload(ctx, target, known)
            if dep_wl and dep_wl != wl:
                h.params["in_cluster"] = dep_wl
                h.counter(0.6, f"{target} is the in-cluster workload {dep_wl}: its own failure is the cause")
        if ctx.hits(("dns_resolver",), wl):
            h.counter(0.5, f"{wl} also fails name resolution")
        out.append(_finish(h, ctx, wl))
    return best(out)


def _same_host(a: str, b: str) -> bool:
    return a.split(":")[0] == b.split(":")[0]


def _in_cluster_workload(ctx: Ctx, host: str, known: list[str]) -> str | None:
    """The workload behind a host (pod, Service, workload name), or the Service's name for an in-cluster
    address whose pods are not known."""
    found = dependency_workload(host.split(":")[0], set(known), {p.name: p for p in ctx.f.pods.values()}, ctx.f)
    if found:
        return found
    if ".svc" in host or host.endswith("cluster.local"):
        return host.split(".")[0]
    return None


def _dependency(hosts: list[str], known: list[str], wl: str) -> str | None:
    cands = [h for h in hosts if h.split(".")[0] != wl]
    return cands[0] if cands else None

