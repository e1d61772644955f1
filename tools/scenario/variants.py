"""Bundle variants for robustness runs and metamorphic tests (issue 14), built on the rewriting
primitives of tools/scenario/transform.py:

* `remove_workloads`: a neighbour's objects, events, pod logs, log documents and metric series gone;
* `neighbours`: the unhealthy workloads of a bundle that are neither its answer nor its alert's subject;
* `kubectl_only`: the log documents moved into `kubectl logs` files of their pods and OpenSearch
  dropped, as a cluster with only the Kubernetes API has them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tools.scenario.bundle import K8S_DIR, LOGS_FILE, load_expected
from tools.scenario.transform import controller_suffix, copy_bundle, read_docs, read_objects, read_scenario, rewrite


def remove_workloads(src: Path, dst: Path, workloads: set[str]) -> None:
    """A copy without these workloads: their objects, their pods' events, logs and metric series."""
    if not workloads:
        copy_bundle(src, dst)
        return
    def own(name: str) -> bool:
        return any(name == w or (name.startswith(w + "-") and controller_suffix(name[len(w) + 1:])) for w in workloads)

    def keep(o: Any) -> bool:
        if "metric_labels" in o:
            return not any(own(v) for v in re.findall(r'="([^"]*)"', o["metric_labels"]))
        if "kubernetes" in o:
            return not own((o.get("kubernetes") or {}).get("pod_name", ""))
        name = (o.get("metadata") or {}).get("name", "")
        if o.get("kind") == "Event":
            name = (o.get("involvedObject") or {}).get("name", "")
        return not own(name)

    rewrite(src, dst, lambda s: s, keep=keep)


def neighbours(bundle: Path) -> set[str]:
    """Workloads with unhealthy pods (waiting, Pending, restarting) that are neither the expected
    component nor named by the alert, and host none of the expected node's pods."""
    exp = load_expected(bundle)
    doc = read_scenario(bundle)
    alert_text = json.dumps(doc.get("alert") or doc.get("message") or "")
    objects = read_objects(bundle)
    owners = _owner_roots(objects)
    out = set()
    for o in objects:
        if o.get("kind") != "Pod":
            continue
        meta, spec, status = o.get("metadata") or {}, o.get("spec") or {}, o.get("status") or {}
        root = owners.get(meta.get("name", ""))
        if not root or root == exp["component"] or root in alert_text or spec.get("nodeName") == exp["component"]:
            continue
        statuses = status.get("containerStatuses") or []
        waiting = any((s.get("state") or {}).get("waiting") for s in statuses)
        restarting = any(int(s.get("restartCount") or 0) > 0 for s in statuses)
        if waiting or restarting or status.get("phase") == "Pending":
            out.add(root)
    return out


def _owner_roots(objects: list[dict[str, Any]]) -> dict[str, str]:
    """pod name -> the top of its owner chain, by ownerReferences."""
    parent = {}
    for o in objects:
        meta = o.get("metadata") or {}
        ref = next(iter(meta.get("ownerReferences") or []), None)
        if ref:
            parent[meta.get("name", "")] = ref.get("name", "")
    out = {}
    for o in objects:
        if o.get("kind") == "Pod":
            name = o["metadata"]["name"]
            cur, seen = name, 0
            while cur in parent and seen < 4:
                cur, seen = parent[cur], seen + 1
            out[name] = cur
    return out


def kubectl_only(src: Path, dst: Path) -> None:
    """The log documents become `kubectl logs` files of the pods the API still holds; no OpenSearch."""
    copy_bundle(src, dst)
    docs = read_docs(src)
    (dst / LOGS_FILE).unlink(missing_ok=True)
    pods = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in read_objects(src) if o.get("kind") == "Pod"}
    logs = dst / K8S_DIR / "logs"
    by_file: dict[str, list[str]] = {}
    for d in sorted(docs, key=lambda d: d.get("@timestamp", "")):
        k = d.get("kubernetes") or {}
        pod = pods.get((k.get("namespace_name"), k.get("pod_name")))
        if pod is None:
            continue
        names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        stem = k["pod_name"] + (f".{k.get('container_name')}" if len(names) > 1 else "")
        by_file.setdefault(stem, []).append(str(d.get("log") or d.get("message") or ""))
    if by_file:
        logs.mkdir(parents=True, exist_ok=True)
    for stem, lines in by_file.items():
        f = logs / f"{stem}.log"
        if not f.exists():   # a file the bundle already has (the crashed instance) stays as it is
            f.write_text("\n".join(lines) + "\n", encoding="utf-8")

