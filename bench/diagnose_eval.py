"""Diagnosis accuracy and cost over scenario bundles.

    .venv/bin/python bench/diagnose_eval.py [DIR=scenarios ...] [--sets] [--engine offline|anthropic] [--json]
                                            [--no-knowledge] [--only ID ...] [--drop SOURCE] [--matrix]

`--sets --matrix` prints the whole robustness matrix in one command: every set with all sources,
without Prometheus, without OpenSearch, without Kubernetes, and Kubernetes only (the log documents
turned into `kubectl logs` of their pods: a cluster with only the API, objects, events and pod logs).

Each DIR is one evaluation set (scenarios/handmade is one of its own, marked by its set.yaml and not
listed with scenarios/); --sets adds every set nested under each DIR. With more than one set, a
summary line per set follows the overall one.

Each bundle is replayed through ScenarioBackends (real Prometheus when installed, loopback
OpenSearch and Kubernetes fakes) and diagnosed through agents.session.run_diagnosis, with the
`search_knowledge` tool over a temporary knowledge base of knowledge/runbooks unless
--no-knowledge. Only this bench reads the ground truth (load_expected); the engine never does.

Columns: expected vs got category/component/action, confidence, tool calls, context bytes (sum of
the tool results the engine consumed, i.e. what a model would have read), estimated tokens
(bytes/4), seconds per bundle with the replay start-up, and seconds of the diagnosis alone (the first
bundle is diagnosed twice before timing, so a process's one-off cost, such as lazy imports, is reported
apart). Component matches when the workload (or node) name is equal, ignoring case; a pod name that
merely starts with the workload's name does not count.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agents.session import EngineSettings, run_diagnosis  # noqa: E402
from agents.trigger import Trigger  # noqa: E402
from tools.intake.alertmanager import alert_from_object  # noqa: E402
from tools.scenario.backends import ScenarioBackends  # noqa: E402
from tools.scenario.bundle import Scenario, iter_scenarios, iter_sets, load_expected, load_scenario  # noqa: E402


def trigger_for(sc: Scenario) -> Trigger:
    """What the bot would receive: the Alertmanager alert, or the posted message as text."""
    if sc.alert is not None:
        return Trigger.from_alert(alert_from_object(sc.alert), at=sc.now)
    return Trigger.from_text(sc.message or "", at=sc.now)


def knowledge_tool_factory(enabled: bool):
    """A function ctx -> [search_knowledge tool] over a temporary KB of the bundled runbooks."""
    if not enabled:
        return None, None
    from knowledge import BUNDLED_RUNBOOKS, KnowledgeBase
    from knowledge.tool import knowledge_tools

    tmp = tempfile.TemporaryDirectory(prefix="chatops-bench-kb-")
    kb = KnowledgeBase(Path(tmp.name), embed_backend="none")
    kb.ingest(BUNDLED_RUNBOOKS)

    def make(ctx):
        return knowledge_tools(kb, ctx)

    def close():
        kb.close()
        tmp.cleanup()

    return make, close


async def run_one(path: Path, engine: str, make_knowledge, api_key: str | None,
                  drop: tuple[str, ...] = ()) -> dict[str, Any]:
    sc = load_scenario(path)
    expected = load_expected(path)
    started = time.monotonic()
    with ScenarioBackends(sc, use_prometheus="prometheus" not in drop) as backends:
        for src in drop:  # robustness runs: pretend a source does not exist
            backends.config.absent[src] = f"{src} dropped for this run (--drop)"
        extra = make_knowledge(backends.ctx) if make_knowledge else []
        sources = backends.sources(extra_tools=extra)
        try:
            settings = EngineSettings(engine=engine, api_key=api_key)
            diag_started = time.monotonic()   # the diagnosis alone, apart from starting the replay
            res = await run_diagnosis(trigger_for(sc), sources.registry, sources.unavailable, settings=settings)
            diag_seconds = time.monotonic() - diag_started
        finally:
            sources.close()
    d = res.diagnosis
    got_action = d.proposals[0].action_type if d.proposals else "none"
    return {
        "id": sc.id,
        "expected": {k: expected[k] for k in ("category", "component", "action")},
        "got": {"category": d.category, "component": d.component, "action": got_action},
        "category_ok": d.category == expected["category"],
        "component_ok": (d.component or "").lower() == expected["component"].lower(),
        "action_ok": got_action == expected["action"],
        "confidence": d.confidence,
        "tool_calls": res.tool_calls,
        "context_bytes": res.context_bytes,
        "est_tokens": res.context_bytes // 4,
        "input_tokens": res.usage.input_tokens,
        "seconds": round(time.monotonic() - started, 2),
        "diagnosis_seconds": round(diag_seconds, 3),
        "engine": res.engine,
        "summary": d.summary,
        "evidence": [e.finding for e in d.evidence],   # what the answer states besides its summary
        "unavailable": d.unavailable_sources,
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows) or 1
    return {
        "bundles": len(rows),
        "category_accuracy": sum(r["category_ok"] for r in rows) / n,
        "component_accuracy": sum(r["component_ok"] for r in rows) / n,
        "action_accuracy": sum(r["action_ok"] for r in rows) / n,
        "mean_tool_calls": sum(r["tool_calls"] for r in rows) / n,
        "mean_context_bytes": sum(r["context_bytes"] for r in rows) / n,
        "mean_est_tokens": sum(r["est_tokens"] for r in rows) / n,
        "mean_seconds": sum(r["seconds"] for r in rows) / n,
        "mean_diagnosis_seconds": sum(r["diagnosis_seconds"] for r in rows) / n,
    }


def summary_line(name: str, tot: dict[str, Any]) -> str:
    return (f"**{name}: {tot['bundles']} bundles** — category {tot['category_accuracy']:.0%}, component "
            f"{tot['component_accuracy']:.0%}, action {tot['action_accuracy']:.0%}; mean tool calls "
            f"{tot['mean_tool_calls']:.1f}, mean context {tot['mean_context_bytes']:.0f} bytes "
            f"(~{tot['mean_est_tokens']:.0f} tokens), mean {tot['mean_seconds']:.1f} s per bundle "
            f"(diagnosis alone {tot['mean_diagnosis_seconds']:.2f} s, the rest starts the replay)")


def per_set(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = list(dict.fromkeys(r["set"] for r in rows))
    return {n: totals([r for r in rows if r["set"] == n]) for n in names}


def markdown(rows: list[dict[str, Any]], tot: dict[str, Any]) -> str:
    def mark(ok: bool) -> str:
        return "" if ok else " ✗"

    out = ["| bundle | expected category | got | expected component | got | expected action | got | conf | "
           "calls | bytes | ~tokens | s | diagnosis s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e, g = r["expected"], r["got"]
        out.append(f"| {r['id']} | {e['category']} | {g['category']}{mark(r['category_ok'])} | {e['component']} | "
                   f"{g['component']}{mark(r['component_ok'])} | {e['action']} | {g['action']}{mark(r['action_ok'])} | "
                   f"{r['confidence']:.2f} | {r['tool_calls']} | {r['context_bytes']} | {r['est_tokens']} | "
                   f"{r['seconds']:.1f} | {r['diagnosis_seconds']:.2f} |")
    sets = per_set(rows)
    out += ["", summary_line("all" if len(sets) > 1 else next(iter(sets), "all"), tot)]
    if len(sets) > 1:
        out += [summary_line(name, t) for name, t in sets.items()]
    return "\n".join(out)


def select_sets(dirs: list[str], nested: bool) -> dict[str, list[Path]]:
    """{set name: bundles}; a set is named by its folder relative to the repository when inside it."""
    out: dict[str, list[Path]] = {}
    for d in dirs:
        found = iter_sets(d) if nested else {Path(d): iter_scenarios(d)}
        for folder, bundles in found.items():
            folder = folder.resolve()
            out[str(folder.relative_to(REPO)) if folder.is_relative_to(REPO) else str(folder)] = bundles
    return out


# The robustness matrix: each evaluation set with all sources, then with one source missing, then as a
# cluster with only the Kubernetes API (log documents moved into `kubectl logs`, no metrics).
CONDITIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("all sources", ()), ("no prometheus", ("prometheus",)), ("no opensearch", ("opensearch",)),
    ("no kubernetes", ("kubernetes",)), ("kubernetes only", ("prometheus", "opensearch")))


async def run_matrix(sets: dict[str, list[Path]], args: argparse.Namespace) -> list[dict[str, Any]]:
    from tools.scenario.variants import kubectl_only

    out = []
    make_knowledge, close = knowledge_tool_factory(not args.no_knowledge)
    tmp = tempfile.TemporaryDirectory(prefix="chatops-matrix-")
    try:
        args.warm_up_line = await warm_up(sets, args, make_knowledge)
        for cond, drop in CONDITIONS:
            for set_name, bundles in sets.items():
                rows = []
                for b in bundles:
                    if args.only and b.name not in args.only:
                        continue
                    if cond == "kubernetes only":
                        if not (b / "k8s").is_dir():
                            continue   # nothing to read without the API
                        kubectl_only(b, Path(tmp.name) / set_name.replace("/", "_") / b.name)
                        b = Path(tmp.name) / set_name.replace("/", "_") / b.name
                    rows.append(await run_one(b, args.engine, make_knowledge, os.environ.get("ANTHROPIC_API_KEY"),
                                              drop))
                out.append({"set": set_name, "condition": cond, "totals": totals(rows),
                            "misses": [r["id"] for r in rows if not (r["category_ok"] and r["component_ok"])],
                            "got": {r["id"]: r["got"] for r in rows}})   # --json: compare answers across runs
                print(f"{set_name:22} {cond:16} {matrix_cell(out[-1]['totals'])}", file=sys.stderr)
    finally:
        tmp.cleanup()
        if close:
            close()
    return out


def matrix_cell(t: dict[str, Any]) -> str:
    return (f"{t['category_accuracy']:.0%} / {t['component_accuracy']:.0%} / {t['action_accuracy']:.0%} "
            f"({t['bundles']}, {t['mean_seconds']:.2f} s, diagnosis {t['mean_diagnosis_seconds']:.2f} s)")


async def warm_up(sets: dict[str, list[Path]], args: argparse.Namespace, make_knowledge) -> str:
    """Diagnose the first bundle twice before timing anything; the difference is the one-off cost a process pays
    once (lazy imports such as the kubernetes client), which the per-bundle means then exclude."""
    b = next((b for found in sets.values() for b in found if not args.only or b.name in args.only), None)
    if b is None:
        return ""
    key = os.environ.get("ANTHROPIC_API_KEY")
    cold = (await run_one(b, args.engine, make_knowledge, key))["diagnosis_seconds"]
    warm = (await run_one(b, args.engine, make_knowledge, key))["diagnosis_seconds"]
    line = (f"one-off first-diagnosis cost {cold - warm:.2f} s ({b.name}: first {cold:.2f} s, again {warm:.2f} s); "
            f"excluded from the means")
    print(line, file=sys.stderr)
    return line


def matrix_markdown(cells: list[dict[str, Any]]) -> str:
    sets = list(dict.fromkeys(c["set"] for c in cells))
    conds = [c for c, _ in CONDITIONS]
    out = ["category / component / action accuracy (bundles, mean seconds per bundle with replay start-up, "
           "mean seconds of the diagnosis alone)", "",
           "| set | " + " | ".join(conds) + " |", "|---|" + "---|" * len(conds)]
    for s_ in sets:
        by = {c["condition"]: c for c in cells if c["set"] == s_}
        out.append(f"| {s_} | " + " | ".join(matrix_cell(by[c]["totals"]) if c in by else "–" for c in conds) + " |")
    misses = [f"- {c['set']}, {c['condition']}: {', '.join(c['misses'])}" for c in cells if c["misses"]]
    return "\n".join(out + (["", "Misses (category or component):"] + misses if misses else []))


async def main_async(args: argparse.Namespace) -> int:
    sets = select_sets(args.dir, args.sets)
    if args.matrix:
        cells = await run_matrix(sets, args)
        print(json.dumps(cells, indent=1) if args.json else matrix_markdown(cells) + f"\n\n{args.warm_up_line}")
        return 0
    bundles = [(name, b) for name, found in sets.items() for b in found if not args.only or b.name in args.only]
    if not bundles:
        print(f"no bundles under {' '.join(args.dir)}", file=sys.stderr)
        return 2
    make_knowledge, close = knowledge_tool_factory(not args.no_knowledge)
    rows = []
    try:
        warm_line = await warm_up(sets, args, make_knowledge)
        for set_name, b in bundles:
            rows.append({"set": set_name, **await run_one(b, args.engine, make_knowledge,
                                                           os.environ.get("ANTHROPIC_API_KEY"), tuple(args.drop))})
            if args.verbose:
                print(f"{rows[-1]['id']}: {rows[-1]['got']} — {rows[-1]['summary']}", file=sys.stderr)
    finally:
        if close:
            close()
    tot = totals(rows)
    if args.json:
        print(json.dumps({"rows": rows, "totals": tot, "sets": per_set(rows), "warm_up": warm_line}, indent=1))
    else:
        print(markdown(rows, tot) + f"\n\n{warm_line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="*", default=[str(REPO / "scenarios")],
                    help="folders of bundles, each one evaluation set (default: scenarios)")
    ap.add_argument("--sets", action="store_true",
                    help="also score the evaluation sets nested under each DIR (folders holding set.yaml)")
    ap.add_argument("--engine", choices=("offline", "anthropic"), default="offline")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-knowledge", action="store_true", help="do not register search_knowledge")
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--drop", action="append", default=[], choices=("prometheus", "opensearch", "kubernetes"),
                    help="run as if this source did not exist (repeatable)")
    ap.add_argument("--matrix", action="store_true",
                    help="accuracy per set x {all sources, each source dropped, kubernetes only}")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each summary to stderr")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
