"""Diagnosis on incidents reconstructed from recorded investigations on real clusters (no metrics).

    .venv/bin/python bench/recorded_eval.py [--only CASE ...] [--no-knowledge] [--json] [-v]

The recordings are HolmesGPT's test_investigate fixtures (Apache-2.0, external dataset
`holmesgpt/`, see bench/datasets.py): per case the alert, the kubectl outputs an investigator
got, and the statements a correct answer must make (`expected_outputs.derived.json`). At run time
each case is rebuilt into a bundle in a temporary folder by tools/scenario/recorded.py (a generic
reader of kubectl text; nothing is stored in the repository) and diagnosed by the offline engine
with only the Kubernetes API (objects, events, pod logs) — no Prometheus, no OpenSearch.

Scores:
* category: the expected category is OUR labelling of each case, derived from its expected
  statements by the LABELS table below (first matching row wins);
* key facts: each expected statement is "mentioned" when our summary + evidence contain all of its
  hard terms (numbers, identifiers, quoted or backticked text, CamelCase/ALL-CAPS reasons) and at
  least half of its other content words, after normalising (lower case, CamelCase split, plural and
  -ed/-ing endings and a final silent e dropped).
Cases whose evidence is not Kubernetes objects or logs are listed as skipped, with the reason.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import datasets  # noqa: E402

CASES = ("holmesgpt", "tests", "llm", "fixtures", "test_investigate")

# Our labelling: expected statement phrase (regex, case-insensitive) -> category, in priority order.
# Conventions from scenarios/README.md: heartbeats are `unknown`; DNS blocked by a NetworkPolicy is
# `dns_failure`; a node over its pod capacity is `node_pressure`; a failed run that cannot reach its
# database is `dependency_unavailable`; a wrong command, a shell syntax error or a missing
# variable is `config_error`; slow requests whose time the logs put in a database call are `slow_query`.
LABELS: tuple[tuple[str, str], ...] = (
    (r"not an issue|always be (?:active|firing)", "unknown"),
    (r"\bOOM", "oom_killed"),
    (r"certificate expired", "certificate_expired"),
    (r"network policy", "dns_failure"),
    (r"GPU", "unschedulable"),
    (r"too many pods|capacity", "node_pressure"),
    (r"CPU throttling", "cpu_throttling"),
    (r"pulling the (?:Docker )?image", "image_pull_error"),
    (r"syntax error|not found|typo|variable is (?:missing|undefined)", "config_error"),
    (r"connecting to", "dependency_unavailable"),
    (r"taking longer than|slow", "slow_query"),
)


def label(statements: list[str]) -> str:
    for pattern, category in LABELS:
        if any(re.search(pattern, s, re.I) for s in statements):
            return category
    return "unknown"


# Words that carry no fact of their own in an expected statement.
_STOP = set("""a an the is are was be been being of in on at to for from by with and or that this these those it
its as must mention mentions should may might which who what when pod pods experiencing has have had because
due into than not point points named name about because""".split())
_HARD = re.compile(r"`[^`]+`|\"[^\"]+\"|'[^']+'|\S*\d\S*|\S+[-_/]\S+|\b[A-Z][a-z]+[A-Z]\w*|\b[A-Z]{2,}\w*")


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > 4 and w.endswith(suf):
            return w[: -len(suf)]
    # a silent final e goes too, so "increase" meets "increasing" and "complete" "completed"
    return w[:-1] if len(w) > 4 and w.endswith("e") else w


def tokens(text: str) -> list[str]:
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [_stem(t) for t in re.findall(r"[a-z0-9]+", text.lower())]


def key_terms(statement: str) -> tuple[list[list[str]], list[str]]:
    """(hard terms, each as its tokens; soft content words)."""
    hard = [tokens(m.group(0)) for m in _HARD.finditer(statement)]
    hard = [h for h in hard if h and not set(h) <= {_stem(w) for w in _STOP}]
    hard_tokens = {t for h in hard for t in h}
    soft = [t for t in tokens(_HARD.sub(" ", statement)) if t not in {_stem(w) for w in _STOP} and t not in hard_tokens]
    return hard, list(dict.fromkeys(soft))


def mentioned(statement: str, answer: str) -> bool:
    have = set(tokens(answer))
    hard, soft = key_terms(statement)
    if not all(set(h) <= have for h in hard):
        return False
    return not soft or sum(t in have for t in soft) * 2 >= len(soft)


def statements_of(case: dict[str, Any]) -> list[str]:
    s = case.get("expected_output") or []
    return [s] if isinstance(s, str) else list(s)


async def evaluate(root: Path, only: list[str], knowledge: bool, verbose: bool = False) -> list[dict[str, Any]]:
    from bench.diagnose_eval import knowledge_tool_factory, run_one
    from tools.scenario.recorded import reconstruct

    truth = json.loads((root / "expected_outputs.derived.json").read_text())["cases"]
    make_knowledge, close = knowledge_tool_factory(knowledge)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="chatops-recorded-") as tmp:
            for name in sorted(truth):
                if only and name not in only:
                    continue
                statements = statements_of(truth[name])
                expected = label(statements)
                dst = Path(tmp) / re.sub(r"[^a-z0-9-]+", "-", name.lower())
                rec = reconstruct(root / name, dst, {"category": expected, "component": "-", "action": "none",
                                                     "rationale": "; ".join(statements)})
                row: dict[str, Any] = {"case": name, "expected": expected, "statements": statements}
                if rec.skipped:
                    rows.append({**row, "skipped": rec.skipped})
                    continue
                got = await run_one(dst, "offline", make_knowledge, None, ("prometheus", "opensearch"))
                answer = " ".join([got["summary"], *got["evidence"]])
                facts = [mentioned(s, answer) for s in statements]
                rows.append({**row, "got": got["got"]["category"], "component": got["got"]["component"],
                             "category_ok": got["got"]["category"] == expected, "facts": facts,
                             "objects": rec.objects, "logs": rec.logs, "summary": got["summary"],
                             "evidence": got["evidence"]})
                if verbose:
                    print(f"{name}: {got['got']} — {got['summary']}\n  " + "\n  ".join(got["evidence"]),
                          file=sys.stderr)
    finally:
        if close:
            close()
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if "skipped" not in r]
    facts = [f for r in scored for f in r["facts"]]
    return {"cases": len(scored), "skipped": len(rows) - len(scored),
            "category_correct": sum(r["category_ok"] for r in scored),
            "category_accuracy": sum(r["category_ok"] for r in scored) / (len(scored) or 1),
            "facts_mentioned": sum(facts), "facts": len(facts)}


def markdown(rows: list[dict[str, Any]], tot: dict[str, Any]) -> str:
    out = ["| case | expected category (our labelling) | our category | component | key facts |",
           "|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['case']} | {r['expected']} | skipped: {r['skipped']} | | |")
            continue
        facts = "; ".join(f"{'✓' if ok else '✗'} {s[:70]}" for s, ok in zip(r["statements"], r["facts"]))
        out.append(f"| {r['case']} | {r['expected']} | {r['got']}{'' if r['category_ok'] else ' ✗'} | "
                   f"{r['component'] or '–'} | {facts} |")
    out += ["", f"**recorded: {tot['cases']} cases ({tot['skipped']} skipped)** — category "
                f"{tot['category_accuracy']:.0%} ({tot['category_correct']}/{tot['cases']}), key facts mentioned "
                f"{tot['facts_mentioned']} of {tot['facts']}"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--no-knowledge", action="store_true", help="do not register search_knowledge")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each answer to stderr")
    args = ap.parse_args(argv)
    root = datasets.require(*CASES)
    logging.basicConfig(level=logging.WARNING)
    rows = asyncio.run(evaluate(root, args.only, not args.no_knowledge, args.verbose))
    tot = totals(rows)
    print(json.dumps({"rows": rows, "totals": tot}, indent=1) if args.json else markdown(rows, tot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
