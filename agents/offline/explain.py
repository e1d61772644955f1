"""Turning the chosen hypothesis into what people read: summary, evidence, timeline, sources."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from agents.diagnosis import Evidence, ProposedAction, RuledOut, SimilarIncident, TimelineEntry
from agents.offline.features import Facts
from agents.offline.remedy import DEFAULT_ACTION
from agents.offline.signals import Ctx, Hypothesis, iso
from agents.offline.state import state_of, subject_ref
from tools.taxonomy import category_label
from tools.textclip import clip_middle

MAX_EVIDENCE = 8
MAX_RULED_OUT = 5
SUMMARY_ROOM = 900   # a third finding only while the summary stays readable
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
        subject = ctx.scope.focus[0] if ctx.scope.focus else None
        state = state_of(ctx, subject)
        lead = (f"{subject_ref(ctx, subject, ctx.namespace_of(subject))}: {state}. " if subject and state else "")
        lead += f"The evidence does not single out a cause (best guess {category_label(runner_up.category)} for "\
                f"{runner_up.component}, score {runner_up.score:.2f})." if runner_up else \
                "No abnormal signal was found for the alert's subject."
        seen = [e.finding.rstrip(".") for e in (runner_up.strongest() if runner_up else [])[:2]]
        if seen:
            lead += " Seen: " + "; ".join(seen) + "."
        return clip_middle(lead + " A human should look at the evidence below.", 1190)
    ref = subject_ref(ctx, h.component, h.namespace)
    state = state_of(ctx, h.component)
    text = f"{category_label(h.category)} — {ref}" + (f": {state}" if state else "") + ". "
    findings: list[str] = []
    for e in h.strongest():
        tail = e.finding.split(": ", 1)[-1][:80]
        if e.finding and not any(tail in f for f in findings) and not _redundant(e.finding, state):
            findings.append(e.finding.rstrip("."))
    kept = findings[:2]
    if findings[2:] and len(text) + sum(len(f) for f in findings[:3]) < SUMMARY_ROOM:
        kept = findings[:3]
    text = (text + ". ".join(_capital(f) for f in kept) + ("." if kept else "")).rstrip()
    if proposals:
        p = proposals[0]
        text += f" Proposed: {p.action_type} {p.target}" + (f" ({p.rationale})" if p.rationale else "") + "."
    elif h.params.get("not_a_deployment"):
        text += (f" No catalog action fits: {_human_fix(h)}; the catalog's {DEFAULT_ACTION[h.category]} acts on "
                 f"Deployments, not on a {h.params['not_a_deployment']}.")
    else:
        text += " No catalog action fits: " + _human_fix(h) + "."
    return clip_middle(text, 1190)


def _redundant(finding: str, state: str) -> bool:
    """The state sentence already says it (a node's conditions, its evictions)."""
    words = {w for w in re.findall(r"[\w./-]{4,}", finding)}
    return bool(state) and bool(words) and sum(w in state for w in words) >= 0.7 * len(words)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _human_fix(h: Hypothesis) -> str:
    explanation = h.params.get("explanation")
    return {
        "config_error": (f"{explanation.describe()}; fix it in the workload's spec, ConfigMap or Secret (restarts and "
                         "rollbacks do not help)") if explanation is not None and explanation.config else
                        "fix the configuration/Secret/command; restarts and rollbacks do not help",
        "dependency_unavailable": f"restore {h.params.get('dependency') or 'the dependency'}; nothing to do in-cluster",
        "config_error_target": f"correct the host or port {h.component} dials: {h.params.get('dependency')} is up and "
                               "accepts connections elsewhere; restarts and rollbacks do not help",
        "slow_query": "fix the query, index or plan",
        "disk_full": f"expand or clean {h.params.get('volume') or 'the volume'}",
        "certificate_expired": f"renew the certificate of {h.params.get('certificate') or h.component}",
        "dns_failure": (f"allow DNS egress (UDP and TCP 53 to kube-dns) in NetworkPolicy {h.params['policy']}"
                        if h.params.get("policy") else
                        f"check that NetworkPolicy {h.params['policy_suspect']} allows DNS egress (UDP and TCP 53 to "
                        "kube-dns), else fix the resolver configuration" if h.params.get("policy_suspect") else
                        "fix the resolver configuration"),
        "probe_failure": "fix the probe definition (endpoint, timeout, threshold)",
        "unschedulable": h.params.get("capacity_note") or "the requests fit a node; add capacity or free resources",
        "image_pull_error": "fix the image reference or the registry credentials",
        "oom_killed": f"raise the memory limit of {h.params.get('container') or h.component}"
                      + (f" (now {h.params['memory_limit']})" if h.params.get("memory_limit") else ""),
        "cpu_throttling": f"increase the CPU limit of {h.params.get('container') or h.component}"
                          + (f" (now {h.params['cpu_limit']})" if h.params.get("cpu_limit") else "") + " or remove it",
        "bad_deploy": "roll it back to its previous revision",
        "connection_pool_exhausted": "restart it to free the leaked connections, then fix the leak",
        "traffic_spike": "add replicas for the surge",
    }.get("config_error_target" if h.category == "config_error" and h.params.get("dependency") else h.category,
          "a human fix is needed")


def evidence(h: Hypothesis) -> list[Evidence]:
    """Findings that support the answer; rejected hypotheses go to ruled_out, never here."""
    seen, uniq = set(), []
    for e in h.evidence:
        if (e.finding, e.query) not in seen:
            seen.add((e.finding, e.query))
            uniq.append(e)
    return uniq[:MAX_EVIDENCE]


def ruled_out(chosen: Hypothesis, others: list[Hypothesis]) -> list[RuledOut]:
    """Each other hypothesis worth naming, with the reason it lost: its own counter-evidence, or a
    weaker case than the answer's."""
    out = []
    for o in others:
        if o.score < 0.1 or (o.category == chosen.category and o.component == chosen.component):
            continue
        reason = "; ".join(dict.fromkeys(o.against[-2:])) if o.against else ""
        if not reason:
            first = o.evidence[0].finding if o.evidence else "little evidence"
            reason = f"weaker evidence (score {o.score:.2f} against {chosen.score:.2f}): {clip_middle(first, 200)}"
        out.append(RuledOut(category=o.category, component=o.component, reason=clip_middle(reason, 400)))
    return out[:MAX_RULED_OUT]


def timeline(h: Hypothesis, ctx: Ctx) -> list[TimelineEntry]:
    f: Facts = ctx.f
    items: list[tuple[datetime, str, str]] = []
    horizon = f.now - timedelta(hours=3)
    if ctx.scope.start:
        items.append((ctx.scope.start, f"alert {ctx.scope.alertname or ''} started firing".replace("  ", " "), "alert"))
    interesting = set(ctx.focus) | ({h.component} if h.component else set()) | set(ctx.linked)
    for w in f.workloads.values():
        for r in w.revisions[:2]:
            # Changes of the subject, the answer and what is linked to them; every recent one when
            # the alert names no subject.
            if r.created and r.created >= horizon and (w.name in interesting or (not ctx.focus and r is w.revisions[0])):
                imgs = ", ".join(r.images.values())
                what = "; ".join(r.changes[:2]) if r.changes else imgs
                items.append((r.created, f"{w.name} revision {r.number} created ({what})", "k8s_deployments"))
    for e in f.events_for(workload=h.component) if h.component else []:
        if e.type == "Warning" and e.first:
            items.append((e.first, f"{e.reason} on {e.kind}/{e.name}: {clip_middle(e.message, 140)}", "k8s_events"))
    for e in h.evidence:
        if e.time:
            t = _parse(e.time)
            if t:
                items.append((t, clip_middle(e.finding, 160), e.tool))
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
    out = [f"{src}: {clip_middle(why, 300)}" for src, why in sorted(unavailable.items())]
    for src, err in sorted(facts.failed.items()):
        # A single bad query of a source that otherwise answered is not an unavailable source.
        if src not in unavailable and src not in facts.sources_ok:
            out.append(f"{src}: {clip_middle(err, 200)}")
    return out
