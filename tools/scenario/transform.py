"""Bundle transformers for metamorphic tests and robustness runs (issue 14).

* `rename_and_shift`: every user namespace, workload, pod, Service, ConfigMap, Secret, PVC,
  NetworkPolicy and node gets a meaningless new name, consistently in the Kubernetes objects, the
  pod logs, the log documents, the metrics, the alert (labels, annotations, text) and the expected
  answer; and every timestamp moves by one offset. A diagnosis that changes under it read a name or a
  wall-clock value instead of the evidence.
* the other variants (a neighbour removed, Kubernetes only) are in tools/scenario/variants.py and
  rewrite bundles with the same primitives.

Names reserved by Kubernetes (kube-system, default...) and images keep their names: they say what
runs, not what someone called it.
"""
from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import yaml

from tools.scenario.bundle import K8S_DIR, LOGS_FILE, METRICS_FILE, SCENARIO_FILE, load_expected, load_yaml_documents

RESERVED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
_KEEP_KEYS = frozenset({"image", "imageID", "container_image", "container_hash", "apiVersion", "kind", "uid",
                        "pod_id", "docker_id", "resourceVersion", "fingerprint", "generatorURL"})
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "Pod", "Service",
                   "ConfigMap", "Secret", "PersistentVolumeClaim", "NetworkPolicy", "Node")
_SYLLABLES = ("ka", "lo", "mi", "ru", "te", "vo", "za", "ne", "pi", "su", "do", "fe")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Text = Callable[[str], str]


# ----------------------------------------------------------------------------------- reading
def read_objects(bundle: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    k8s = bundle / K8S_DIR
    for f in _k8s_files(k8s):
        for doc in load_yaml_documents(f):
            out += doc.get("items") or [] if doc.get("kind") == "List" else [doc]
    return out


def _k8s_files(k8s: Path) -> list[Path]:
    """The object files of k8s/ (YAML or JSON, as the fake API server loads them)."""
    return sorted(f for f in k8s.iterdir() if f.suffix in (".yaml", ".yml", ".json")) if k8s.is_dir() else []


def read_docs(bundle: Path) -> list[dict[str, Any]]:
    f = bundle / LOGS_FILE
    return [json.loads(ln) for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()] if f.is_file() else []


def read_scenario(bundle: Path) -> dict[str, Any]:
    return load_yaml_documents(bundle / SCENARIO_FILE)[0]


def object_names(bundle: Path) -> tuple[set[str], set[str], set[str]]:
    """(namespaces, object names, node names) a bundle holds: what a rename must cover."""
    namespaces: set[str] = set()
    names: set[str] = set()
    nodes: set[str] = set()
    for o in read_objects(bundle):
        meta = o.get("metadata") or {}
        if o.get("kind") == "Node":
            nodes.add(meta.get("name", ""))
        elif o.get("kind") in _WORKLOAD_KINDS:
            names.add(meta.get("name", ""))
        if meta.get("namespace"):
            namespaces.add(meta["namespace"])
        if o.get("kind") == "Pod" and (o.get("spec") or {}).get("nodeName"):
            nodes.add(o["spec"]["nodeName"])
    for d in read_docs(bundle):
        k = d.get("kubernetes") or {}
        namespaces.add(k.get("namespace_name", ""))
        names.add(k.get("pod_name", ""))
        if k.get("host"):
            nodes.add(k["host"])
    namespaces -= RESERVED_NAMESPACES
    return {n for n in namespaces if n}, {n for n in names if n}, {n for n in nodes if n}


# ----------------------------------------------------------------------------------- renaming
def rename_map(bundle: Path, seed: int = 7) -> dict[str, str]:
    """old -> new for every user name in the bundle. Pods and ReplicaSets keep their controller
    suffixes (<deployment>-<hash>-<5>), so the workload's new name is what they are renamed with."""
    namespaces, names, nodes = object_names(bundle)
    tops = _workload_roots(names)
    counter = iter(range(seed, seed + 1700))

    def fresh(prefix: str) -> str:
        # Letters only, vowels included: nothing a controller's suffix (hash, ordinal) could be taken for.
        n = next(counter)
        return f"{prefix}{_SYLLABLES[n % 12]}{_SYLLABLES[(n // 12) % 12]}{_SYLLABLES[(n // 144) % 12]}"

    out: dict[str, str] = {}
    for ns in sorted(namespaces):
        out[ns] = fresh("ns-")
    for root in sorted(tops, key=len, reverse=True):
        out[root] = fresh("app-")
    for node in sorted(nodes):
        out[node] = fresh("node-") + ".cluster.internal"
    return out


def _workload_roots(names: set[str]) -> set[str]:
    """Each name without its controller suffixes (a pod's template hash and random part, a Job's
    schedule minute, a StatefulSet ordinal): the names to invent a new name for."""
    return {_root(n) for n in names}


def _root(name: str) -> str:
    parts = name.split("-")
    for cut in range(1, min(3, len(parts) - 1) + 1):
        if controller_suffix("-".join(parts[-cut:])):
            return _root("-".join(parts[:-cut])) if cut < len(parts) else name
    return name


# Generated name parts use Kubernetes' alphabet, which has no vowels (rand.String: bcdfghjklmnpqrstvwxz2456789).
_GENERATED = r"[bcdfghjklmnpqrstvwxz0-9]"


def controller_suffix(rest: str) -> bool:
    """What controllers append: a template hash, a random 5, an ordinal, a schedule minute."""
    return bool(re.fullmatch(rf"(?:{_GENERATED}{{5,10}}(?:-{_GENERATED}{{5}})?|\d{{1,3}}|\d{{6,}}(?:-{_GENERATED}{{5}})?)",
                             rest))


def _renamer(mapping: dict[str, str]) -> Text:
    if not mapping:
        return lambda s: s
    alts = "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True))
    rx = re.compile(rf"(?<![A-Za-z0-9_])(?:{alts})(?![A-Za-z0-9_])")
    return lambda s: rx.sub(lambda m: mapping[m.group(0)], s)


# ----------------------------------------------------------------------------------- time
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})([T ])(\d{2}):(\d{2}):(\d{2})((?:[.,]\d+)?)")
_SLASH = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_APACHE = re.compile(r"(\d{2})/(" + "|".join(_MONTHS) + r")/(\d{4}):(\d{2}):(\d{2}):(\d{2})")
_EPOCH_MS = re.compile(r'(?<=["\']time["\']:)\s*(1[5-9]\d{11}|2[01]\d{11})')
_CLOCK = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?=\s)")


def _shifter(offset: timedelta) -> Text:
    def iso(m: re.Match) -> str:
        y, mo, d, sep, h, mi, s, frac = m.groups()
        if int(y) < 1900:   # Go's zero time ("0001-01-01T00:00:00Z") means "not set"
            return m.group(0)
        t = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s)) + offset
        return f"{t:%Y-%m-%d}{sep}{t:%H:%M:%S}{frac}"

    def slash(m: re.Match) -> str:
        t = datetime(*map(int, m.groups())) + offset
        return f"{t:%Y/%m/%d %H:%M:%S}"

    def apache(m: re.Match) -> str:
        d, mon, y, h, mi, s = m.groups()
        t = datetime(int(y), _MONTHS.index(mon) + 1, int(d), int(h), int(mi), int(s)) + offset
        return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S}"

    def epoch_ms(m: re.Match) -> str:
        return str(int(m.group(1)) + int(offset.total_seconds() * 1000))

    def clock(m: re.Match) -> str:
        t = datetime(2000, 1, 1, *map(int, m.groups())) + offset
        return f"{t:%H:%M:%S}"

    def shift(s: str) -> str:
        s = _ISO.sub(iso, s)
        s = _SLASH.sub(slash, s)
        s = _APACHE.sub(apache, s)
        s = _EPOCH_MS.sub(epoch_ms, s)
        return "\n".join(_CLOCK.sub(clock, ln) for ln in s.split("\n"))

    return shift


def _walk(value: Any, fn: Text, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: (v if k in _KEEP_KEYS else _walk(v, fn, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, fn, key) for v in value]
    return fn(value) if isinstance(value, str) else value


# ----------------------------------------------------------------------------------- writing
def _dump(path: Path, doc: Any) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=160), encoding="utf-8")


def _write_docs(path: Path, docs: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n" for d in docs), encoding="utf-8")


def copy_bundle(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def rewrite(src: Path, dst: Path, fn: Text, epoch_shift: int = 0, keep: Callable[[Any], bool] = lambda _: True,
             file_name: Text = lambda s: s) -> None:
    """Copy a bundle applying `fn` to every text it holds (object strings, log lines, metric labels)."""
    copy_bundle(src, dst)
    doc = _walk(read_scenario(src), fn)
    doc["id"] = read_scenario(src)["id"]
    _dump(dst / SCENARIO_FILE, doc)
    k8s = dst / K8S_DIR
    if k8s.is_dir():
        for f in _k8s_files(k8s):
            items = [o for d in load_yaml_documents(f)
                     for o in (d.get("items") or [] if d.get("kind") == "List" else [d])]
            doc = {"apiVersion": "v1", "kind": "List", "items": [_walk(o, fn) for o in items if keep(o)]}
            if f.suffix == ".json":
                f.write_text(json.dumps(doc, indent=1), encoding="utf-8")
            else:
                _dump(f, doc)
        logs = k8s / "logs"
        for f in sorted(logs.glob("*.log")) if logs.is_dir() else []:
            stem = f.name[:-len(".log")]
            if not keep({"kind": "Pod", "metadata": {"name": stem.split(".")[0]}}):
                f.unlink()
                continue
            text = fn(f.read_text(encoding="utf-8"))
            f.unlink()
            (logs / (file_name(stem) + ".log")).write_text(text, encoding="utf-8")
    docs = read_docs(src)
    if docs:
        _write_docs(dst / LOGS_FILE, [_walk(d, fn) for d in docs if keep(d)])
    metrics = src / METRICS_FILE
    if metrics.is_file():
        out = []
        for ln in metrics.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)(?:\s+(\d+(?:\.\d+)?))?$", ln)
            if not m or ln.startswith("#"):
                out.append(ln)
                continue
            name, labels, value, ts = m.groups()
            if not keep({"metric_labels": labels or ""}):
                continue
            ts = str(int(float(ts)) + epoch_shift) if ts else None
            out.append(f"{name}{fn(labels or '')} {value}" + (f" {ts}" if ts else ""))
        (dst / METRICS_FILE).write_text("\n".join(out) + "\n", encoding="utf-8")


def rename_and_shift(src: Path, dst: Path, offset: timedelta = timedelta(days=37, hours=5, minutes=13),
                     seed: int = 7) -> dict[str, str]:
    """A renamed, time-shifted copy of a bundle; returns the rename map (old -> new)."""
    mapping = rename_map(src, seed)
    rename, shift = _renamer(mapping), _shifter(offset)
    fn = lambda s: shift(rename(s))  # noqa: E731
    rewrite(src, dst, fn, epoch_shift=int(offset.total_seconds()), file_name=rename)
    doc = load_yaml_documents(dst / SCENARIO_FILE)[0]
    exp = load_expected(src)
    doc["expected"] = {**exp, "component": mapping.get(exp["component"], rename(exp["component"]))}
    _dump(dst / SCENARIO_FILE, doc)
    return mapping
