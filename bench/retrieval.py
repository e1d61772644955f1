"""Retrieval quality and latency of the knowledge base.

Accuracy: the labelled queries in bench/retrieval_queries.yaml against the bundled
runbooks (knowledge/runbooks) plus the past incidents in bench/retrieval_incidents.yaml,
reported as recall@1, recall@5 and MRR. Latency: p50/p95 of KnowledgeBase.search on
an index padded with distractor runbooks to ~1,000 and ~10,000 chunks (accuracy is
reported there too, since distractors can push the right document down).

Distractors are runbook-shaped Markdown built from the Loghub log templates (real
log vocabulary from 12 systems) and generated operations prose, with front matter
drawn from the same taxonomy, so they compete on the same words as real runbooks.

    .venv/bin/python bench/retrieval.py [--sizes 1000,10000] [--rounds 3] [--with-hash]

Hybrid runs with sentence-transformers or fastembed when importable and loadable;
otherwise it says "hybrid: no embedding model available". `--with-hash` adds the
hashing test embedder, which measures hybrid latency but says nothing about quality.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import datasets  # noqa: E402
from knowledge import BUNDLED_RUNBOOKS, IncidentRecord, KnowledgeBase  # noqa: E402

QUERIES = REPO / "bench" / "retrieval_queries.yaml"
INCIDENTS = REPO / "bench" / "retrieval_incidents.yaml"

CATEGORIES = ["oom_killed", "config_error", "image_pull_error", "bad_deploy", "cpu_throttling",
              "connection_pool_exhausted", "dependency_unavailable", "slow_query", "disk_full",
              "node_pressure", "unschedulable", "certificate_expired", "dns_failure", "probe_failure",
              "traffic_spike", "unknown"]


def load_queries(path: Path | None = None) -> list[dict[str, Any]]:
    rows = yaml.safe_load((path or QUERIES).read_text()) or []
    return [r for r in rows if isinstance(r, dict) and r.get("query") and r.get("expected")]


def load_incidents(path: Path | None = None) -> list[IncidentRecord]:
    path = path or INCIDENTS
    if not path.exists():
        return []
    return [IncidentRecord.from_mapping(r) for r in (yaml.safe_load(path.read_text()) or [])]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def evaluate(kb: KnowledgeBase, queries: list[dict[str, Any]], rounds: int = 1, k: int = 5) -> dict[str, Any]:
    """recall@1, recall@k, MRR (first round) and search latency over all rounds."""
    kb.search("warm up the in-memory index")
    ranks: list[int | None] = []
    latencies: list[float] = []
    misses = []
    for r in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            hits = kb.search(q["query"], limit=k)
            latencies.append((time.perf_counter() - t0) * 1000)
            if r:
                continue
            ids = [h.id for h in hits]
            rank = ids.index(q["expected"]) + 1 if q["expected"] in ids else None
            ranks.append(rank)
            if rank != 1:
                misses.append({"query": q["query"], "expected": q["expected"], "rank": rank, "got": ids[:3]})
    n = len(ranks) or 1
    return {
        "queries": len(ranks),
        "recall@1": sum(1 for x in ranks if x == 1) / n,
        f"recall@{k}": sum(1 for x in ranks if x is not None) / n,
        "mrr": sum(1 / x for x in ranks if x) / n,
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "misses": misses,
    }


# --- distractors --------------------------------------------------------------
_SERVICES = ["ledger", "search-api", "inventory", "notifier", "billing-worker", "auth-gateway", "catalog",
             "reporting", "media-transcoder", "geo-lookup", "fraud-scorer", "mailer", "scheduler"]
_COMPONENTS = ["ingest pipeline", "batch scheduler", "block replication", "metadata service", "session store",
               "job tracker", "executor pool", "leader election", "RPC layer", "storage daemon",
               "proxy chain", "authentication module", "compute node", "name node"]
_ISSUES = ["stalls", "falls behind", "drops requests", "loses quorum", "retries forever", "reports errors",
           "floods the log", "stops heartbeating", "rejects clients", "slows down", "restarts repeatedly"]
_SENTENCES = [
    "Compare the {metric} of the {component} with the previous week before changing anything.",
    "If the {component} {issue}, check whether a recent change touched its configuration.",
    "Look for {metric} spikes that line up with the first error in the log.",
    "Escalate to the owning team when the {component} still {issue} after {n} minutes.",
    "A single noisy node usually explains this; drain it and watch the {metric}.",
    "Record the {metric} and the node name in the incident channel for the postmortem.",
    "Rotate the affected {component} instance only after confirming replicas are healthy.",
    "Do not restart every instance at once; the {component} needs {n} members to stay available.",
    "Increase the log level of the {component} temporarily to capture the failing request.",
    "Verify that the {metric} returns to baseline within {n} minutes of the change.",
]
_METRICS = ["request rate", "queue depth", "heartbeat interval", "GC pause time", "replication lag",
            "open file count", "thread count", "error ratio", "handshake time", "block report time"]


def _templates() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    root = datasets.require("loghub")
    for f in sorted(root.glob("*/*_2k.log_templates.csv")):
        with f.open(newline="", encoding="utf-8", errors="replace") as fh:
            rows = [r.get("EventTemplate", "") for r in csv.DictReader(fh)]
        out[f.parent.name] = [r for r in rows if r]
    if not out:
        datasets.require("loghub", "HDFS", "HDFS_2k.log_templates.csv")  # exits naming where to get them
    return out


def _prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_SENTENCES).format(metric=rng.choice(_METRICS), component=rng.choice(_COMPONENTS),
                                                  issue=rng.choice(_ISSUES), n=rng.choice([5, 10, 15, 30]))
                    for _ in range(n))


def write_distractors(folder: Path, chunks: int, seed: int = 7) -> int:
    """Runbook-like Markdown files totalling about `chunks` sections; returns files written."""
    rng = random.Random(seed)
    templates = _templates()
    systems = list(templates)
    folder.mkdir(parents=True, exist_ok=True)
    written = sections = 0
    while sections < chunks:
        system = rng.choice(systems)
        component, issue = rng.choice(_COMPONENTS), rng.choice(_ISSUES)
        title = f"{system} {component} {issue}"
        logs = rng.sample(templates[system], k=min(len(templates[system]), rng.randint(3, 6)))
        body = [
            "---", f"title: {title}", f"services: [{rng.choice(_SERVICES)}]",
            f"categories: [{rng.choice(CATEGORIES)}]", "---", f"# {title}", _prose(rng, 2), "",
            "## Symptoms", *(f"- `{t}`" for t in logs), "",
            "## Diagnosis", _prose(rng, rng.randint(2, 5)), "",
            "## Remediation", _prose(rng, rng.randint(2, 4)), "",
            "## Verification", _prose(rng, 2), "",
        ]
        (folder / f"{written:05d}-{system.lower()}.md").write_text("\n".join(body))
        written += 1
        sections += 5
    return written


# --- runs --------------------------------------------------------------------
def build(workdir: Path, backend: str, model: str | None, incidents: list[IncidentRecord],
          distractor_chunks: int = 0) -> KnowledgeBase:
    kb = KnowledgeBase(workdir / "data", embed_backend=backend, embed_model=model)
    kb.ingest(BUNDLED_RUNBOOKS)
    for rec in incidents:
        kb.remember_incident(rec)
    if distractor_chunks > 0:
        folder = workdir / "distractors"
        write_distractors(folder, distractor_chunks)
        kb.ingest(folder)
    return kb


def hybrid_backends(with_hash: bool) -> list[tuple[str, str | None, str]]:
    out = []
    for backend, module in (("sentence-transformers", "sentence_transformers"), ("fastembed", "fastembed")):
        if importlib.util.find_spec(module) is not None:
            out.append((backend, os.environ.get("EMBED_MODEL"), backend))
    if with_hash:
        out.append(("hash", None, "hash (test embedder)"))
    return out


def cold_load_ms(workdir: Path, backend: str, model: str | None) -> float:
    """First search of a fresh process: read every chunk from Chroma and build BM25."""
    kb = KnowledgeBase(workdir / "data", embed_backend=backend, embed_model=model)
    t0 = time.perf_counter()
    kb.search("cold start")
    ms = (time.perf_counter() - t0) * 1000
    kb.close()
    return ms


def run(sizes: list[int], rounds: int, with_hash: bool) -> list[dict[str, Any]]:
    queries = load_queries()
    incidents = load_incidents()
    configs = [("none", None, "bm25")] + hybrid_backends(with_hash)
    rows = []
    for backend, model, label in configs:
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
            kb = build(Path(tmp) / "real", backend, model, incidents)
            if backend != "none" and kb.embedder is None:
                print(f"hybrid: {label} could not load: {kb.warnings[0] if kb.warnings else '?'}")
                continue
            mode = kb.status()["mode"]
            base = kb.status()["chunks"]
            rows.append({"mode": mode, "corpus": "real", "chunks": base, **evaluate(kb, queries, rounds)})
            kb.close()
            for size in sizes:
                work = Path(tmp) / f"pad{size}"
                t0 = time.perf_counter()
                kb = build(work, backend, model, incidents, max(0, size - base))
                built = time.perf_counter() - t0
                st = kb.status()
                rows.append({"mode": mode, "corpus": "real+distractors", "chunks": st["chunks"],
                             **evaluate(kb, queries, rounds), "ingest_s": built,
                             "cold_ms": cold_load_ms(work, backend, model)})
                kb.close()
    if not any(r["mode"].startswith("hybrid") and "hash" not in r["mode"] for r in rows):
        print("hybrid: no embedding model available")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| mode | corpus | chunks | queries | recall@1 | recall@5 | MRR | p50 ms | p95 ms | ingest s | cold load ms |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        extra = (f"{r['ingest_s']:.1f} | {r['cold_ms']:.0f}" if "ingest_s" in r else "- | -")
        out.append(f"| {r['mode']} | {r['corpus']} | {r['chunks']} | {r['queries']} | {r['recall@1']:.3f} | "
                   f"{r['recall@5']:.3f} | {r['mrr']:.3f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {extra} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="padded index sizes in chunks")
    ap.add_argument("--rounds", type=int, default=3, help="latency samples per query")
    ap.add_argument("--with-hash", action="store_true", help="also time hybrid with the hashing test embedder")
    ap.add_argument("--misses", action="store_true", help="list queries whose expected document is not first")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if any(int(s) > 0 for s in args.sizes.split(",") if s):
        _templates()  # the padded indexes need Loghub: say where to get it before the long real-corpus run
    rows = run([int(s) for s in args.sizes.split(",") if s], args.rounds, args.with_hash)
    print(table(rows))
    if args.misses:
        for r in rows:
            if r["corpus"] == "real":
                print(f"\n{r['mode']} misses:")
                for m in r["misses"]:
                    print(f"  rank={m['rank']} expected={m['expected']} got={m['got']} q={m['query'][:90]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
