"""Follow-up answers without a model, from the stored evidence (fetching only what is missing).

It answers "why not X", "show the logs of Y", "what changed" and "which runbook" (agents/followup/
intents.py) and says honestly that anything else needs a model. An answer cites where each fact
comes from, including evidence an earlier question of the thread fetched, which it reuses rather
than fetching again. It never revises the diagnosis: that takes a model's judgement.
"""
from __future__ import annotations

from typing import Any

from agents.followup.context import Fetched, FollowupContext
from agents.followup.fetch import Fetcher
from agents.followup.intents import Intent, parse
from agents.followup.reply import Reply
from agents.offline.logsig import CLASS_QUERIES, classify
from agents.scope import TriggerScope
from agents.toolrunner import ToolRunner
from tools.taxonomy import category_label

NEEDS_MODEL = ("I can't answer that without a model. Without one I answer these from the incident's evidence: "
               "\"why not X?\" (a cause), \"show the logs of Y\" (a workload or pod), \"what changed?\" and "
               "\"which runbook?\". "
               "Anything else needs a configured model (see Follow-up questions in the README).")
# Log signature classes (agents/offline/logsig.py) that point at a category.
SIGNATURES: dict[str, tuple[str, ...]] = {
    "dns_failure": ("dns_resolver", "dns_nxdomain"), "certificate_expired": ("tls_expired", "tls_other"),
    "disk_full": ("disk",), "connection_pool_exhausted": ("pool",), "oom_killed": ("oom",),
    "dependency_unavailable": ("refused", "timeout"), "slow_query": ("slow_db",), "config_error": ("config",)}
LOG_TOOLS = ("k8s_pod_logs", "search_logs")
SHOWN_LINES = 15


def _where(f: Fetched, number: int) -> str:
    when = "for this question" if f.question == number else f"for question {f.question} at {f.at}"
    return f"{f.cite()}, fetched {when}"


class OfflineFollowup:
    name = "offline"

    async def answer(self, ctx: FollowupContext, runner: ToolRunner, scope: TriggerScope) -> Reply:
        intent = parse(ctx.question)
        fetch = Fetcher(runner, ctx.number)
        handler = {"why_not": self._why_not, "logs": self._logs, "changed": self._changed,
                   "runbook": self._runbook}.get(intent.kind) if intent else None
        text = await handler(intent, ctx, fetch, scope) if handler else None
        if text is None:
            return Reply(NEEDS_MODEL, answered=False, fetched=fetch.fetched)
        return Reply(text, fetched=fetch.fetched)

    # -- "why not X" ------------------------------------------------------------------------
    async def _why_not(self, intent: Intent, ctx: FollowupContext, fetch: Fetcher, scope: TriggerScope) -> str | None:
        d, cat = ctx.diagnosis, intent.category
        if cat is None:
            return None  # not a cause we know the words for: judging it needs a model
        label, said = category_label(cat), category_label(d.category)
        if cat == d.category:
            return f"It is {label}: that is the diagnosis (confidence {d.confidence:.0%}).\n" + _because(ctx)
        ruled = [r for r in d.ruled_out if r.category == cat]
        lines = [f"{label} was weighed and ruled out: {ruled[0].reason}" if ruled
                 else f"{label} was not among the causes the diagnosis weighed."]
        classes = SIGNATURES.get(cat, ())
        if classes:
            lines.append(await self._signatures(cat, classes, ctx, fetch, scope))
        backing = [e for e in d.evidence if e.supports == cat]
        if backing:
            lines.append(f"Evidence marked as supporting {label}: " + "; ".join(
                f"{e.finding} ({e.tool} `{e.query}`)" for e in backing[:3]))
        lines.append(f"The diagnosis stays {said}. " + _because(ctx))
        return "\n".join(lines)

    async def _signatures(self, cat: str, classes: tuple[str, ...], ctx: FollowupContext, fetch: Fetcher,
                          scope: TriggerScope) -> str:
        """Lines of the evidence at hand with the cause's log signature; a log search for them when no
        log lines are at hand yet."""
        pool = ctx.pool()
        if not any(f.lines for f in pool if f.tool in LOG_TOOLS) and fetch.available("search_logs"):
            query = " | ".join(CLASS_QUERIES[c] for c in classes if c in CLASS_QUERIES)
            if query:
                args: dict[str, Any] = {"query": query, "limit": 200}
                if _namespace(ctx, scope):
                    args["namespace"] = _namespace(ctx, scope)
                await fetch.run("search_logs", args)
        pool = fetch.fetched + pool
        hits = [(f, line) for f in pool for line in f.lines if classify(line) in classes]
        findings = [e for e in ctx.diagnosis.evidence if classify(e.finding) in classes]
        label = category_label(cat)
        if not hits and not findings:
            looked = len(pool) + len(ctx.diagnosis.evidence)
            return (f"None of the {looked} pieces of evidence at hand (the diagnosis's findings and "
                    f"{len(pool)} fetched result(s)) shows a {label} signature ({', '.join(classes)}).")
        out = [f"Signs of {label} in the evidence:"]
        for f, line in hits[:3]:
            out.append(f"- `{line}` in {_where(f, ctx.number)}")
        for e in findings[:2]:
            out.append(f"- the diagnosis found: {e.finding} ({e.tool} `{e.query}`)")
        if len(hits) > 3:
            out.append(f"({len(hits)} matching lines in all.)")
        return "\n".join(out)

    # -- "show the logs of Y" ---------------------------------------------------------------
    async def _logs(self, intent: Intent, ctx: FollowupContext, fetch: Fetcher, scope: TriggerScope) -> str | None:
        ns, _, name = intent.subject.rpartition("/") if "/" in intent.subject else (None, "", intent.subject)
        ns = ns or _namespace(ctx, scope)
        name = name or ctx.diagnosis.component or next(iter(sorted(scope.pods)), "")
        if not name:
            return "Whose logs? Name a workload or pod, e.g. \"show the logs of cart\"."
        earlier = next((f for f in ctx.pool() if f.tool in LOG_TOOLS and f.status == "ok" and f.lines
                        and _about(f.args, name, ns)), None)
        if earlier is not None:
            return _show_logs(name, earlier, ctx.number)
        found = await self._fetch_logs(name, ns, fetch, scope)
        if found is None:
            return f"I found no logs of {name}" + (f" in namespace {ns}" if ns else "") + ": " + (
                "; ".join(f.brief()[2:] for f in fetch.fetched) or "no log source is configured") + "."
        return _show_logs(name, found, ctx.number)

    async def _fetch_logs(self, name: str, ns: str | None, fetch: Fetcher, scope: TriggerScope) -> Fetched | None:
        pods = sorted(p for p in scope.pods if p == name or p.startswith(name + "-"))
        restarts: dict[str, int] = {}
        if not pods and ns and fetch.available("k8s_pods"):
            result, _ = await fetch.run("k8s_pods", {"namespace": ns})
            rows = (result.data or {}).get("pods") if isinstance(result.data, dict) else None
            for p in rows or ():
                if isinstance(p, dict) and (p.get("name") == name or str(p.get("name", "")).startswith(name + "-")):
                    restarts[p["name"]] = int(p.get("restarts") or 0)
            pods = sorted(restarts, key=lambda p: -restarts[p])  # the most troubled first
        if pods and ns and fetch.available("k8s_pod_logs"):
            result, f = await fetch.run("k8s_pod_logs", {"namespace": ns, "pod": pods[0], "previous": True,
                                                         "tail_lines": 100})
            if result.status == "ok" and f.lines:
                return f
        if fetch.available("search_logs"):
            args = {"app": name, "limit": 100, **({"namespace": ns} if ns else {})}
            result, f = await fetch.run("search_logs", args)
            if result.status == "ok" and f.lines:
                return f
        return None

    # -- "what changed" ---------------------------------------------------------------------
    async def _changed(self, intent: Intent, ctx: FollowupContext, fetch: Fetcher, scope: TriggerScope) -> str:
        ns = _namespace(ctx, scope)
        name = ctx.diagnosis.component
        rollout = next((f for f in ctx.pool() if f.tool == "k8s_deployments" and f.status == "ok"
                        and _about(f.args, name or "", ns, key="name")), None)
        if rollout is None and ns and fetch.available("k8s_deployments"):
            _, rollout = await fetch.run("k8s_deployments", {"namespace": ns, **({"name": name} if name else {})})
        out = []
        if rollout is not None and rollout.status == "ok":
            out.append(f"Rollout history ({_where(rollout, ctx.number)}): {rollout.summary}")
            out += [f"- {line}" for line in rollout.lines[:8]]
        elif rollout is not None:
            out.append(f"The rollout history could not be read: {rollout.brief()[2:]}")
        timeline = ctx.diagnosis.timeline
        if timeline:
            out.append("Timeline of the diagnosis:")
            out += [f"- {t.time} {t.event}" + (f" ({t.source})" if t.source else "") for t in timeline[:10]]
        return "\n".join(out) or "Nothing in the evidence records a change, and no rollout history could be read."

    # -- "which runbook" ----------------------------------------------------------------------
    async def _runbook(self, intent: Intent, ctx: FollowupContext, fetch: Fetcher, scope: TriggerScope) -> str:
        d = ctx.diagnosis
        hits = next((f for f in ctx.pool() if f.tool == "search_knowledge" and f.status == "ok"), None)
        if hits is None and fetch.available("search_knowledge"):
            query = " ".join(x for x in (category_label(d.category), d.component, d.summary[:200]) if x)
            _, hits = await fetch.run("search_knowledge", {"query": query, "category": d.category, "limit": 3})
        out = []
        if hits is not None and hits.status == "ok" and hits.lines:
            out.append(f"Runbooks and past incidents for {category_label(d.category)} ({_where(hits, ctx.number)}):")
            out += [f"- {line}" for line in hits.lines[:5]]
        known = [e for e in d.evidence if e.tool == "search_knowledge"]
        out += [f"- the diagnosis found: {e.finding}" for e in known[:3]]
        out += [f"- similar incident {s.id}: {s.title}" + (f" (action: {s.action})" if s.action else "")
                for s in d.similar_incidents[:3]]
        if not out:
            why = hits.brief()[2:] if hits is not None else "no knowledge base is configured"
            return f"I found no runbook for {category_label(d.category)}: {why}."
        return "\n".join(out)


def _namespace(ctx: FollowupContext, scope: TriggerScope) -> str | None:
    return scope.namespace or ctx.incident.get("namespace")


def _about(args: dict[str, Any], name: str, ns: str | None, key: str | None = None) -> bool:
    """Whether earlier call arguments were about workload `name` (a pod of it, its app label)."""
    if ns and args.get("namespace") not in (None, ns):
        return False
    keys = (key,) if key else ("pod", "app", "name")
    values = [str(args[k]) for k in keys if args.get(k)]
    return any(v == name or v.startswith(name + "-") for v in values) or (key is not None and not values)


def _show_logs(name: str, f: Fetched, number: int) -> str:
    shown = f.lines[-SHOWN_LINES:]
    more = f" (last {len(shown)} of {len(f.lines)} lines kept)" if len(f.lines) > len(shown) else ""
    body = "\n".join(shown)
    return f"Logs of {name} ({_where(f, number)}){more}:\n```\n{body}\n```"


def _because(ctx: FollowupContext) -> str:
    d = ctx.diagnosis
    top = "; ".join(f"{e.finding} ({e.tool} `{e.query}`)" for e in d.evidence[:2])
    return f"Its evidence: {top}." if top else f"Its summary: {d.summary}"
