"""Validate scenario bundles (format v1) and describe what each data source holds.

    python -m tools.scenario.check DIR [--deep]

DIR is one bundle or a folder of bundles. --deep also backfills metrics.om into a throw-away
TSDB with `promtool tsdb create-blocks-from openmetrics`, the way a demo Prometheus is loaded.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tools.scenario.bundle import (ACTIONS, CATEGORIES, K8S_DIR, LOGS_FILE, METRICS_FILE, SCENARIO_FILE,
                                   ScenarioError, iter_scenarios, load_yaml_documents, parse_time)
from tools.scenario.openmetrics import MAX_REPORTED, check_openmetrics

KNOWN_KINDS = {"Deployment", "ReplicaSet", "Pod", "Event", "Node", "Job", "CronJob", "Service",
               # also served by the Kubernetes fake; engines may not read them all yet
               "StatefulSet", "DaemonSet", "ConfigMap", "PersistentVolumeClaim", "NetworkPolicy"}
ALERT_STATUSES = {"firing", "resolved"}
FUTURE_SLACK = timedelta(minutes=5)
SIZE_WARN = 1_500_000
POD_LOG_RE = re.compile(r"^(?P<pod>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)\.log$")
LEVEL_RE = re.compile(r"\b(FATAL|PANIC|CRITICAL|ERROR|ERR|WARN|WARNING|INFO|DEBUG)\b", re.I)
PINO_LEVELS = {"60": "fatal", "50": "error", "40": "warn", "30": "info", "20": "debug"}
# Labels whose values name workloads, pods or nodes (used to find the expected component).
NAME_LABELS = ("namespace", "pod", "container", "deployment", "service", "job_name", "cronjob", "node", "instance",
               "statefulset", "daemonset", "consumergroup", "app", "job")


@dataclass
class CheckReport:
    path: Path
    id: str = ""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _ts(t: float | datetime) -> str:
    if not isinstance(t, datetime):
        t = datetime.fromtimestamp(t, timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _span(a: datetime, b: datetime) -> str:
    left = _ts(a)
    right = _ts(b)
    return f"{left} … {right[11:] if right[:10] == left[:10] else right}"


# -- scenario.yaml --------------------------------------------------------------------------------
def _check_scenario_file(path: Path, rep: CheckReport, names: set[str]) -> tuple[datetime | None, dict | None]:
    f = path / SCENARIO_FILE
    try:
        docs = load_yaml_documents(f)
    except ScenarioError as exc:
        rep.problems.append(str(exc))
        return None, None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        rep.problems.append(f"{f}: expected one YAML mapping")
        return None, None
    doc = docs[0]
    rep.id = str(doc.get("id", ""))
    for key in ("id", "title", "now", "expected"):
        if key not in doc:
            rep.problems.append(f"{f}: missing required key {key!r}")
    if rep.id and rep.id != path.name:
        rep.warnings.append(f"{f}: id {rep.id!r} differs from directory name {path.name!r}")
    now = None
    if "now" in doc:
        try:
            now = parse_time(doc["now"], f"{f}: now")
        except ScenarioError as exc:
            rep.problems.append(str(exc))
    alert, message = doc.get("alert"), doc.get("message")
    if (alert is None) == (message is None):
        rep.problems.append(f"{f}: exactly one of 'alert' or 'message' is required")
    if alert is not None:
        _check_alert(alert, f, rep, names)
    if message is not None:
        if not isinstance(message, str) or not message.strip():
            rep.problems.append(f"{f}: 'message' must be non-empty text")
        else:
            # Mixed case too: a heartbeat bundle's component is the alert's name (InfoInhibitor).
            names.update(re.findall(r"[A-Za-z0-9][A-Za-z0-9.-]*[A-Za-z0-9]", message))
    exp = doc.get("expected")
    if exp is not None:
        if not isinstance(exp, dict):
            rep.problems.append(f"{f}: 'expected' must be a mapping")
            exp = None
        else:
            if exp.get("category") not in CATEGORIES:
                rep.problems.append(f"{f}: expected.category {exp.get('category')!r} is not in taxonomy v1")
            if exp.get("action") not in ACTIONS:
                rep.problems.append(f"{f}: expected.action {exp.get('action')!r} is not an action type v1")
            if not isinstance(exp.get("component"), str) or not exp.get("component"):
                rep.problems.append(f"{f}: expected.component must be a non-empty string")
    return now, exp


def _check_alert(alert, f: Path, rep: CheckReport, names: set[str]) -> None:
    if not isinstance(alert, dict):
        rep.problems.append(f"{f}: 'alert' must be a mapping (one Alertmanager webhook alert)")
        return
    if alert.get("status") not in ALERT_STATUSES:
        rep.problems.append(f"{f}: alert.status must be one of {sorted(ALERT_STATUSES)}, got {alert.get('status')!r}")
    labels = alert.get("labels")
    if not isinstance(labels, dict) or not labels.get("alertname"):
        rep.problems.append(f"{f}: alert.labels.alertname is required")
    else:
        names.update(str(v) for v in labels.values())
        if not any(k in labels for k in ("namespace", "node", "instance")):
            rep.warnings.append(f"{f}: alert has no namespace/node/instance label to scope an investigation")
    ann = alert.get("annotations", {})
    if not isinstance(ann, dict) or not (ann.get("summary") or ann.get("description")):
        rep.warnings.append(f"{f}: alert.annotations has neither summary nor description")
    for key in ("startsAt", "endsAt"):
        v = alert.get(key)
        if v is None:
            if key == "startsAt":
                rep.problems.append(f"{f}: alert.startsAt is required")
            continue
        try:
            parse_time(v, f"{f}: alert.{key}")
        except ScenarioError as exc:
            rep.problems.append(str(exc))


# -- metrics.om ---------------------------------------------------------------------------------------
def _check_metrics(path: Path, now: datetime | None, rep: CheckReport, names: set[str], deep: bool) -> None:
    f = path / METRICS_FILE
    size = f.stat().st_size
    if size > SIZE_WARN:
        rep.warnings.append(f"{f}: {size / 1e6:.2f} MB (keep bundles under ~1.5 MB)")
    max_ts = (now + FUTURE_SLACK).timestamp() if now else None
    with open(f, encoding="utf-8", errors="replace") as fh:
        s = check_openmetrics(fh, max_ts=max_ts, where=str(f))
    rep.problems += s.problems
    for k in NAME_LABELS:
        names.update(s.label_values.get(k, ()))
    if s.samples:
        fams = sorted(s.families)
        shown = ", ".join(fams[:12]) + (f" (+{len(fams) - 12} more)" if len(fams) > 12 else "")
        step = f", step {s.step:g}s" if s.step else ""
        rep.sources["metrics"] = (f"{s.series:,} series, {s.samples:,} samples, {_span(_dt(s.first_ts), _dt(s.last_ts))}"
                                  f"{step}; {len(fams)} families: {shown}")
        recent = datetime.now(timezone.utc) - timedelta(days=1)
        if s.last_ts and s.last_ts > recent.timestamp():
            rep.warnings.append(f"{f}: samples within a day of the wall clock; promtool backfill refuses the newest ~3h")
    else:
        rep.sources["metrics"] = "no samples"
    if deep and not s.problems:
        _promtool_backfill(f, s.samples, rep)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _promtool_backfill(f: Path, expected_samples: int, rep: CheckReport) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        rep.warnings.append("deep check skipped: promtool not installed")
        return
    with tempfile.TemporaryDirectory(prefix="scenario-tsdb-") as out:
        try:
            proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(f), out],
                                  capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            rep.problems.append(f"{f}: promtool backfill timed out after 300s")
            return
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            rep.problems.append(f"{f}: promtool backfill failed (rc {proc.returncode}): {' | '.join(tail)}")
            return
        blocks, samples = 0, 0
        for line in proc.stdout.splitlines():
            cols = line.split()
            if len(cols) >= 8 and len(cols[0]) == 26 and cols[4].isdigit():
                blocks += 1
                samples += int(cols[4])
        if samples != expected_samples:
            rep.problems.append(f"{f}: promtool stored {samples} samples, the file holds {expected_samples}")
        rep.sources["metrics"] += f"; promtool backfill ok ({blocks} blocks)"


# -- logs.jsonl -----------------------------------------------------------------------------------------
def _check_logs(path: Path, now: datetime | None, rep: CheckReport, names: set[str]) -> None:
    f = path / LOGS_FILE
    if f.stat().st_size > SIZE_WARN:
        rep.warnings.append(f"{f}: {f.stat().st_size / 1e6:.2f} MB (keep bundles under ~1.5 MB)")
    n, bad = 0, Counter()
    pods, namespaces, levels = set(), Counter(), Counter()
    first = last = None
    limit = now + FUTURE_SLACK if now else None

    def problem(kind: str, text: str) -> None:
        bad[kind] += 1
        if bad[kind] <= MAX_REPORTED:
            rep.problems.append(text)

    with open(f, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                problem("json", f"{f}:{lineno}: not JSON: {exc.msg}")
                continue
            if not isinstance(doc, dict):
                problem("json", f"{f}:{lineno}: not a JSON object")
                continue
            n += 1
            try:
                t = parse_time(doc.get("@timestamp"), f"{f}:{lineno}: @timestamp")
                first = t if first is None or t < first else first
                last = t if last is None or t > last else last
                if limit and t > limit:
                    problem("future", f"{f}:{lineno}: @timestamp {doc['@timestamp']} is after now + 5m")
            except ScenarioError as exc:
                problem("timestamp", str(exc))
            text = doc.get("log", doc.get("message"))
            if not isinstance(text, str):
                problem("text", f"{f}:{lineno}: needs a 'log' or 'message' string")
                text = ""
            k = doc.get("kubernetes")
            if not isinstance(k, dict) or not k.get("namespace_name"):
                problem("kubernetes", f"{f}:{lineno}: needs kubernetes.namespace_name")
                continue
            namespaces[k["namespace_name"]] += 1
            if k.get("pod_name"):
                pods.add(k["pod_name"])
            names.update(str(v) for v in (k.get("labels") or {}).values())
            levels[_level(text)] += 1
    for kind, c in bad.items():
        if c > MAX_REPORTED:
            rep.problems.append(f"... and {c - MAX_REPORTED} more log {kind} problems")
    names.update(pods)
    lv = ", ".join(f"{k} {v:,}" for k, v in levels.most_common() if k != "other")
    span = f", {_span(first, last)}" if first else ""
    rep.sources["logs"] = (f"{n:,} docs, {len(pods)} pods, {len(namespaces)} namespaces "
                           f"({', '.join(sorted(namespaces))}){span}; levels: {lv or 'none recognised'}")


def _level(text: str) -> str:
    m = re.search(r'"level":\s*(\d\d)\b', text[:80])
    if m:
        return PINO_LEVELS.get(m.group(1), "other")
    m = LEVEL_RE.search(text[:200])
    if not m:
        return "other"
    v = m.group(1).lower()
    return {"err": "error", "warning": "warn", "critical": "fatal", "panic": "fatal"}.get(v, v)


# -- k8s/ ---------------------------------------------------------------------------------------------
def _check_k8s(path: Path, now: datetime | None, rep: CheckReport, names: set[str]) -> None:
    root = path / K8S_DIR
    kinds: Counter = Counter()
    pods: set[str] = set()
    for f in sorted(root.rglob("*")):
        if not f.is_file() or f.relative_to(root).parts[0] == "logs":
            continue
        if f.suffix not in (".yaml", ".yml", ".json"):
            rep.warnings.append(f"{f}: ignored (not .yaml/.yml/.json)")
            continue
        try:
            if f.suffix == ".json":
                docs = [json.loads(f.read_text(encoding="utf-8"))]
            else:
                docs = load_yaml_documents(f)
        except (ScenarioError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            rep.problems.append(str(exc) if isinstance(exc, ScenarioError) else f"{f}: invalid JSON: {exc}")
            continue
        for i, obj in enumerate(_flatten(docs)):
            where = f"{f} item {i}"
            if not isinstance(obj, dict):
                rep.problems.append(f"{where}: not a mapping")
                continue
            kind, meta = obj.get("kind"), obj.get("metadata")
            if not obj.get("apiVersion") or not kind:
                rep.problems.append(f"{where}: needs apiVersion and kind")
                continue
            if not isinstance(meta, dict) or not meta.get("name"):
                rep.problems.append(f"{where}: {kind} needs metadata.name")
                continue
            if kind not in KNOWN_KINDS:
                rep.warnings.append(f"{where}: kind {kind} is outside the v1 set ({', '.join(sorted(KNOWN_KINDS))})")
            kinds[kind] += 1
            names.add(meta["name"])
            names.update(str(v) for v in (meta.get("labels") or {}).values())
            names.update(o.get("name", "") for o in meta.get("ownerReferences") or [] if isinstance(o, dict))
            if kind == "Pod":
                pods.add(meta["name"])
            if kind == "Event":
                inv = obj.get("involvedObject") or {}
                names.add(str(inv.get("name", "")))
                if not obj.get("reason"):
                    rep.problems.append(f"{where}: Event {meta['name']} has no reason")
    log_files = _check_pod_logs(root / "logs", pods, rep)
    order = ["Deployment", "ReplicaSet", "Pod", "Event", "Node", "Job", "CronJob", "Service"]
    parts = [f"{kinds[k]} {k}" for k in order if kinds[k]] + [f"{v} {k}" for k, v in kinds.items() if k not in order]
    rep.sources["k8s"] = ", ".join(parts) or "no objects"
    if log_files:
        rep.sources["k8s"] += f"; {log_files} pod log files"


def _flatten(docs: list) -> list:
    out = []
    for d in docs:
        if isinstance(d, dict) and str(d.get("kind", "")).endswith("List") and isinstance(d.get("items"), list):
            out.extend(d["items"])
        else:
            out.append(d)
    return out


def _check_pod_logs(logs: Path, pods: set[str], rep: CheckReport) -> int:
    """k8s/logs/[<namespace>/]<pod>[.<container>][.previous].log, shared with the fake Kubernetes API."""
    if not logs.is_dir():
        return 0
    n = 0
    entries = [f for e in sorted(logs.iterdir()) for f in (sorted(e.iterdir()) if e.is_dir() else [e])]
    for f in entries:
        if f.is_dir() or not POD_LOG_RE.match(f.name):
            rep.problems.append(f"{f}: pod log files are named <pod>[.<container>][.previous].log")
            continue
        n += 1
        stem = f.name[:-4].removesuffix(".previous")
        if pods and stem not in pods and stem.rsplit(".", 1)[0] not in pods:
            rep.warnings.append(f"{f}: no Pod object named {stem.rsplit('.', 1)[0]!r} in k8s/")
    return n


# -- entry points -------------------------------------------------------------------------------------
def _component_found(component: str, names: set[str]) -> bool:
    if component in names:
        return True
    prefix = component + "-"
    return any(n.startswith(prefix) for n in names)


def check_scenario(path: str | Path, deep: bool = False) -> CheckReport:
    """Validate one bundle directory; never raises for bundle content problems."""
    p = Path(path)
    rep = CheckReport(path=p)
    if not (p / SCENARIO_FILE).is_file():
        rep.problems.append(f"{p}: no {SCENARIO_FILE}")
        return rep
    names: set[str] = set()
    now, expected = _check_scenario_file(p, rep, names)
    if (p / METRICS_FILE).is_file():
        _check_metrics(p, now, rep, names, deep)
    if (p / LOGS_FILE).is_file():
        _check_logs(p, now, rep, names)
    if (p / K8S_DIR).is_dir():
        _check_k8s(p, now, rep, names)
    if not rep.sources:
        rep.warnings.append(f"{p}: no data sources (metrics.om, logs.jsonl, k8s/): only the alert to go on")
    comp = (expected or {}).get("component")
    if isinstance(comp, str) and comp and not _component_found(comp, names - {""}):
        rep.problems.append(f"{p / SCENARIO_FILE}: expected.component {comp!r} appears nowhere in the bundle's "
                            "k8s objects, alert, metric labels or log metadata")
    return rep


def check_many(path: str | Path, deep: bool = False) -> list[CheckReport]:
    """Check a bundle or every bundle under a folder."""
    dirs = iter_scenarios(path)
    if not dirs:
        rep = CheckReport(path=Path(path))
        rep.problems.append(f"{path}: no scenario bundles found (directories holding {SCENARIO_FILE})")
        return [rep]
    return [check_scenario(d, deep=deep) for d in dirs]


def render(report: CheckReport | list[CheckReport]) -> str:
    reports = report if isinstance(report, list) else [report]
    out = []
    for r in reports:
        out.append(f"{'OK  ' if r.ok else 'FAIL'} {r.id or r.path.name}  ({r.path})")
        for k, v in r.sources.items():
            out.append(f"     {k}: {v}")
        out += [f"     problem: {p}" for p in r.problems]
        out += [f"     warning: {w}" for w in r.warnings]
    if len(reports) > 1:
        bad = sum(not r.ok for r in reports)
        out.append(f"{len(reports)} bundles, {len(reports) - bad} ok, {bad} failing")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chatops scenario check", description="Validate scenario bundles (format v1).")
    ap.add_argument("path", help="a bundle directory or a folder of bundles")
    ap.add_argument("--deep", action="store_true", help="also backfill metrics with promtool")
    args = ap.parse_args(argv)
    reports = check_many(args.path, deep=args.deep)
    print(render(reports))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
