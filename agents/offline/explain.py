"""Turning the chosen hypothesis into what people read: summary, evidence, timeline, sources."""
from __future__ import annotations

from datetime import datetime, timedelta

from agents.diagnosis import Evidence, ProposedAction, SimilarIncident, TimelineEntry
from agents.offline.features import Facts
from agents.offline.signals import Ctx, Hypothesis, iso
from tools.taxonomy import CATEGORY_DESCRIPTIONS

MAX_EVIDENCE = 8
MAX_TIMELINE = 14
SOURCE_TOOLS = {"prometheus": "metrics", "opensearch": "logs", "kubernetes": "Kubernetes API",
                "knowledge": "knowledge base"}


def summary(h: Hypothesis, ctx: Ctx, proposals: list[ProposedAction], unavailable: list[str],
            runner_up: Hypothesis | None) -> str:
    if h.category == "unknown":
        if not ctx.f.sources_ok - {"knowledge"}:
            missing = ", ".join(s.split(":")[0] for s in unavailable) or "every source"
            return (f"No data source answered ({missing}), so the cause cannot be determined. "
                    "Check the sources' connectivity and diagnose again.")
        lead = f"The evidence does not single out a cause (best guess {runner_up.category} for "\
               f"{runner_up.component}, score {runner_up.score:.2f})." if runner_up else \
               "No abnormal signal was found for the alert's scope."
        return lead + " A human should look at the evidence below."
    findings: list[str] = []
    for e in h.evidence:
        tail = e.finding.split(": ", 1)[-1][:80]
        if e.finding and not any(tail in f for f in findings):
            findings.append(e.finding.rstrip("."))
    findings = findings[:2]
    what = CATEGORY_DESCRIPTIONS[h.category].split(" (")[0]
    text = f"{h.category.replace('_', ' ').capitalize()} in {h.component}: {what}. " + ". ".join(findings) + "."
    if proposals:
        p = proposals[0]
        text += f" Proposed: {p.action_type} {p.target}" + (f" ({p.rationale})" if p.rationale else "") + "."
    else:
        text += " No catalog action fits: " + _human_fix(h) + "."
    return text[:1190]


def _human_fix(h: Hypothesis) -> str:
    return {
        "config_error": "fix the configuration/Secret/command; restarts and rollbacks do not help",
        "dependency_unavailable": f"restore {h.params.get('dependency') or 'the dependency'}; nothing to do in-cluster",
        "slow_query": "fix the query, index or plan",
        "disk_full": f"expand or clean {h.params.get('volume') or 'the volume'}",
        "certificate_expired": f"renew the certificate of {h.params.get('certificate') or h.component}",
        "dns_failure": "fix the resolver configuration",
        "probe_failure": "fix the probe definition (endpoint, timeout, threshold)",
        "unschedulable": "the requests fit a node; add capacity or free resources",
        "image_pull_error": "fix the image reference or the registry credentials",
    }.get(h.category, "a human fix is needed")


def evidence(h: Hypothesis, others: list[Hypothesis]) -> list[Evidence]:
    out = list(h.evidence)
    for o in others[:2]:
        if o.score >= 0.2 and o.evidence:
            e = o.evidence[0]
            out.append(e.model_copy(update={"finding": f"(considered {o.category}, score {o.score:.2f}) {e.finding}"}))
    seen, uniq = set(), []
    for e in out:
        if (e.finding, e.query) not in seen:
            seen.add((e.finding, e.query))
            uniq.append(e)
    return uniq[:MAX_EVIDENCE]


def timeline(h: Hypothesis, ctx: Ctx) -> list[TimelineEntry]:
    f: Facts = ctx.f
    items: list[tuple[datetime, str, str]] = []
    horizon = f.now - timedelta(hours=3)
    if ctx.scope.start:
        items.append((ctx.scope.start, f"alert {ctx.scope.alertname or ''} started firing".replace("  ", " "), "alert"))
    interesting = set(ctx.focus) | ({h.component} if h.component else set())
    for w in f.workloads.values():
        for r in w.revisions[:2]:
            if r.created and r.created >= horizon and (w.name in interesting or r is w.revisions[0]):
                imgs = ", ".join(r.images.values())
                items.append((r.created, f"{w.name} revision {r.number} created ({imgs})", "k8s_deployments"))
    for e in h.evidence:
        if e.time:
            t = _parse(e.time)
            if t:
                items.append((t, e.finding[:160], e.tool))
    for name in ("error_ratio", "latency_p99", "cpu_throttling_ratio", "memory_vs_limit"):
        for r in f.rows.get(name, []):
            if r.state == "abnormal" and r.since and (not interesting or _row_in(r, interesting)):
                items.append((r.since, f"{name} abnormal for {r.labels.get('service') or r.labels.get('pod')}: "
                                       f"{r.text}", "prom_named"))
    for ns, t in f.first_error.items():
        if ns in (h.namespace, ctx.scope.namespace):
            items.append((t, f"first error logs in {ns}", "log_aggregations"))
    for n in f.nodes.values():
        if n.since and (n.pressure or n.ready != "True"):
            items.append((n.since, f"node {n.name}: {', '.join(n.pressure) or 'NotReady'}", "k8s_nodes"))
    items = [(t, ev, s) for t, ev, s in items if t >= horizon]
    items.sort(key=lambda x: (x[0], x[1]))
    seen, out = set(), []
    for t, ev, s in items:
        key = (iso(t), ev)
        if key not in seen:
            seen.add(key)
            out.append(TimelineEntry(time=iso(t), event=ev, source=s))
    return out[-MAX_TIMELINE:]


def _row_in(r, names: set[str]) -> bool:
    from agents.offline.features import row_workload
    return row_workload(r) in names or r.labels.get("service") in names


def _parse(s: str):
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def similar(facts: Facts) -> list[SimilarIncident]:
    out = []
    for hit in facts.knowledge:
        if hit.get("type") != "incident":
            continue
        out.append(SimilarIncident(id=str(hit.get("source", "")), title=str(hit.get("title", "")),
                                   source=str(hit.get("source", "")), score=float(hit.get("score") or 0.0),
                                   action=hit.get("action_that_worked")))
    return out[:5]


def unavailable_sources(unavailable: dict[str, str], facts: Facts) -> list[str]:
    out = [f"{src}: {why[:300]}" for src, why in sorted(unavailable.items())]
    for src, err in sorted(facts.failed.items()):
        # A single bad query of a source that otherwise answered is not an unavailable source.
        if src not in unavailable and src not in facts.sources_ok:
            out.append(f"{src}: {err[:200]}")
    return out
