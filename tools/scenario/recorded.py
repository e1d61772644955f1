"""Scenario bundles reconstructed from recorded investigations (HolmesGPT's test_investigate fixtures).

A recorded case is a folder: `issue_data.json` (the alert, possibly empty), `investigate_request.json`
(the request the investigator got) and one `*.txt` per recorded tool call: a JSON header line
`{toolset_name, tool_name, match_params}`, usually a JSON result line (status, error, invocation),
then the tool's output (`stdout:` / `stderr:` sections, or bare). `reconstruct(case, dst)` writes a
bundle (format v1, scenarios/README.md) from it with one generic reader of kubectl output:
describe of pods, deployments, jobs and nodes, `get -o yaml`, pod tables, event tables, lineage
trees, current and previous pod logs. Nothing is read per case. The result is only as faithful as
the text: table rows and node pod lists become skeleton pods, ages become times before `now`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tools.intake import Alert, parse_any, parse_robusta
from tools.scenario.kubectl_describe import AGO, describe_objects, owner_ref
from tools.scenario.kubectl_tables import lineage_rows, owner_from_labels, pod_rows, event_rows
from tools.scenario.kubectl_text import rfc3339

# Tools whose recorded answers are evidence outside Kubernetes objects and pod logs (by name prefix).
OTHER_EVIDENCE = {"fetch_tempo_trace": "traces (Tempo)", "execute_prometheus": "Prometheus query results"}
_LOG_TOOLS = ("fetch_pod_logs", "kubectl_logs", "kubectl_logs_all_containers", "kubectl_previous_logs",
              "kubectl_previous_logs_all_containers")
_TABLE_TOOLS = ("kubectl_get_by_kind_in_namespace", "kubectl_get_by_name", "kubectl_get_by_kind_in_cluster",
                "kubectl_find_resource")
_FAILED = re.compile(r"^Command `[^`]*` failed with return code \d+", re.M)


@dataclass
class Recording:
    tool: str
    toolset: str
    params: dict[str, Any]
    invocation: str
    ok: bool
    text: str


@dataclass
class Reconstruction:
    """What reconstruct() wrote, or why the case was skipped."""
    case: str
    skipped: str | None = None
    objects: int = 0
    logs: int = 0
    unused: list[str] = field(default_factory=list)   # tools whose output is not Kubernetes/log evidence


def read_recording(path: Path) -> Recording | None:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        return None
    if not isinstance(header, dict) or "tool_name" not in header:
        return None
    rest, result = lines[1:], {}
    if rest and rest[0].startswith("{") and '"schema_version"' in rest[0]:
        try:
            result = json.loads(rest[0])
        except ValueError:
            result = {}
        rest = rest[1:]
    body = "\n".join(rest)
    ok = result.get("status", "success") not in ("error", "no_data") and not _FAILED.search(body)
    if "stdout:" in body:   # keep the stdout section only
        body = body.split("stdout:", 1)[1]
        body = re.split(r"^stderr:\s*$", body, maxsplit=1, flags=re.M)[0]
    if '\\"' in body and body.count('\\"') > body.count('"') - body.count('\\"'):
        body = body.replace('\\"', '"')   # recorded with its JSON quoting left in
    params = header.get("match_params") or result.get("params") or {}
    return Recording(tool=header["tool_name"], toolset=str(header.get("toolset_name", "")), params=params,
                     invocation=str(result.get("invocation") or ""), ok=ok, text=body.strip("\n"))


def recordings(case: Path) -> list[Recording]:
    return [r for r in (read_recording(p) for p in sorted(case.glob("*.txt"))) if r is not None]


def skip_reason(case: Path, recs: list[Recording]) -> str | None:
    """Why a case cannot be reconstructed as Kubernetes objects and pod logs, or None."""
    other = sorted({what for r in recs if r.ok for prefix, what in OTHER_EVIDENCE.items() if r.tool.startswith(prefix)})
    if other:
        return f"its evidence is {', '.join(other)}, not Kubernetes objects or pod logs"
    if not recs:
        return "no tool output was recorded (the case is about the investigator without tools)"
    return None


def alert_of(case: Path) -> Alert | None:
    """The alert through our intake: issue_data.json, or (when that is empty) the request's title and
    subject read as the Robusta finding they came from."""
    for name in ("issue_data.json",):
        p = case / name
        if p.is_file():
            got = parse_any(p.read_text(encoding="utf-8"))
            if hasattr(got, "alerts") and got.alerts:
                return got.alerts[0]
    p = case / "investigate_request.json"
    if not p.is_file():
        return None
    req = json.loads(p.read_text(encoding="utf-8"))
    subject = req.get("subject") or {}
    ctx = req.get("context") or {}
    finding = {"aggregation_key": ctx.get("issue_type") or req.get("title"), "title": req.get("title"),
               "description": req.get("description") or None, "source": req.get("source"),
               "subject_type": subject.get("kind") or subject.get("subject_type"), "subject_name": subject.get("name"),
               "subject_namespace": subject.get("namespace"), "subject_node": subject.get("node"),
               "labels": {"container": subject["container"]} if subject.get("container") else {}}
    got = parse_robusta({k: v for k, v in finding.items() if v is not None})
    return got.alerts[0] if hasattr(got, "alerts") and got.alerts else None


def alert_dict(a: Alert) -> dict[str, Any]:
    """The Alert as one Alertmanager webhook alert (the bundle's `alert`)."""
    d: dict[str, Any] = {"status": a.status, "labels": dict(a.labels), "annotations": dict(a.annotations),
                         "fingerprint": a.fingerprint}
    if a.starts_at:
        d["startsAt"] = rfc3339(a.starts_at)
    if a.generator_url:
        d["generatorURL"] = a.generator_url
    return d


def objects_of(recs: list[Recording]) -> list[dict[str, Any]]:
    """Objects stated by the recorded kubectl outputs, merged: yaml over describe over table rows."""
    ranked: list[tuple[int, dict[str, Any]]] = []
    for r in recs:
        if not r.ok or not r.text.strip():
            continue
        ns = r.params.get("namespace") or None
        kind = str(r.params.get("kind") or r.params.get("resource_type") or "").lower()
        if r.tool == "kubectl_get_yaml":
            docs = [d for d in yaml.safe_load_all(r.text) if isinstance(d, dict)]
            items = [i for d in docs for i in (d.get("items") or [d] if d.get("kind") == "List" else [d])]
            ranked += [(3, o) for o in items if o.get("kind") and o.get("metadata")]
        elif r.tool == "kubectl_describe":
            ranked += [(2, o) for o in describe_objects(kind, r.text, ns)]
        elif r.tool in _TABLE_TOOLS and kind == "pod":
            ranked += [(1, o) for o in pod_rows(r.text, ns)]
        elif r.tool in ("kubectl_events", "kubectl_get_events"):
            ranked += [(1, o) for o in event_rows(r.text, ns)]
        elif r.tool.startswith("kubectl_lineage"):
            ranked += [(1, o) for o in lineage_rows(r.text, ns)]
    merged: dict[tuple, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    seen_events: set[tuple] = set()
    for rank, o in sorted(ranked, key=lambda x: x[0]):
        if o["kind"] == "Event":
            io = o.get("involvedObject") or {}
            key = (io.get("kind"), io.get("name"), o.get("reason"), o.get("message"))
            if key not in seen_events:
                seen_events.add(key)
                events.append(o)
            continue
        meta = o.get("metadata") or {}
        key = (o["kind"], meta.get("namespace") if o["kind"] not in ("Node",) else None, meta.get("name"))
        merged[key] = _overlay(merged.get(key, {}), o)
    objs = list(merged.values())
    objs += _implied_replicasets(objs)
    _name_containers(objs)
    for i, e in enumerate(events):
        e["metadata"]["name"] = f"{e['involvedObject']['name']}.recorded{i}"
    return objs + events


def _overlay(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """high's fields over low's; mappings merge, lists and scalars from high replace low's."""
    out = dict(low)
    for k, v in high.items():
        out[k] = _overlay(low[k], v) if isinstance(v, dict) and isinstance(low.get(k), dict) else v
    return out


def _implied_replicasets(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ReplicaSets the pods name as their controller but no output described. A ReplicaSet whose name
    ends with its pods' pod-template-hash was made by the Deployment named by the rest (the
    Deployment controller's naming); this restores the owner chain Pod -> ReplicaSet -> Deployment."""
    have = {(o["kind"], o["metadata"].get("namespace"), o["metadata"].get("name")) for o in objs}
    out: dict[tuple, dict[str, Any]] = {}
    for o in objs:
        meta = o["metadata"]
        h = (meta.get("labels") or {}).get("pod-template-hash")
        for ref in meta.get("ownerReferences") or []:
            key = ("ReplicaSet", meta.get("namespace"), ref["name"])
            if ref["kind"] != "ReplicaSet" or key in have or key in out or not h or not ref["name"].endswith(f"-{h}"):
                continue
            out[key] = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": ref["name"], "namespace": meta.get("namespace"),
                                     "labels": {"pod-template-hash": h},
                                     "ownerReferences": [owner_ref("Deployment", ref["name"][: -len(h) - 1])]},
                        "spec": {"selector": {"matchLabels": {"pod-template-hash": h}}}}
    return list(out.values())


def _name_containers(objs: list[dict[str, Any]]) -> None:
    """Skeleton pods (from table rows) take their containers from their owner's template when it was
    described; a table row alone does not name them."""
    templates = {}
    for o in objs:
        tpl = ((o.get("spec") or {}).get("template") or {}).get("spec")
        if tpl and tpl.get("containers"):
            templates[(o["kind"], o["metadata"].get("name"))] = tpl
    for o in objs:
        if o["kind"] != "Pod" or (o.get("spec") or {}).get("containers"):
            continue
        meta = o["metadata"]
        refs = meta.get("ownerReferences") or ([owner_from_labels(meta["name"], meta.get("labels") or {})]
                                               if owner_from_labels(meta["name"], meta.get("labels") or {}) else [])
        tpl = next((templates[(r["kind"], r["name"])] for r in refs if (r["kind"], r["name"]) in templates), None)
        if tpl is None and refs and refs[0]["kind"] == "ReplicaSet":   # a Deployment's pod: RS name = deployment-hash
            tpl = templates.get(("Deployment", refs[0]["name"].rsplit("-", 1)[0]))
        statuses = (o.get("status") or {}).get("containerStatuses") or []
        if tpl is not None:
            o["spec"]["containers"] = tpl["containers"]
            for cs, c in zip(statuses, tpl["containers"]):
                cs.update({"name": c["name"], "image": c.get("image", "")})
        for cs in statuses:
            cs["name"] = cs["name"] or "unnamed"
            o["spec"].setdefault("containers", [])
        if not o["spec"]["containers"] and statuses:
            o["spec"]["containers"] = [{"name": cs["name"], "image": cs.get("image", "")} for cs in statuses]


def logs_of(recs: list[Recording]) -> dict[str, str]:
    """{relative log path (fake API convention): text}; a single-container call wins over --all-containers."""
    out: dict[str, tuple[int, str]] = {}
    for r in recs:
        if r.tool not in _LOG_TOOLS or not r.ok:
            continue
        pod = str(r.params.get("pod_name") or r.params.get("name") or "")
        if not pod or "*" in pod:
            continue
        ns = r.params.get("namespace") or "default"
        previous = "previous" in r.tool or "--previous" in r.invocation
        container = r.params.get("container")
        stem = f"{ns}/{pod}" + (f".{container}" if container else "") + (".previous" if previous else "")
        rank = 0 if "all_containers" in r.tool or "--all-containers" in r.invocation else 1
        if r.text.strip() and (stem not in out or out[stem][0] < rank):
            out[stem] = (rank, r.text.rstrip("\n") + "\n")
    return {f"{stem}.log": text for stem, (_, text) in out.items()}


_TIME_FIELDS = ("creationTimestamp", "startTime", "startedAt", "finishedAt", "lastHeartbeatTime",
                "lastTransitionTime", "lastUpdateTime")


def moment(objs: list[dict[str, Any]], alert: Alert | None) -> datetime | None:
    """When the investigation ran: the latest absolute time the data state, and each object's creation
    plus the age of its oldest event (ages count back from that moment)."""
    times: list[datetime] = []
    oldest: dict[tuple, int] = {}
    for o in objs:
        if o.get("kind") == "Event":
            io, first = o.get("involvedObject") or {}, str(o.get("firstTimestamp", ""))
            if first.startswith(AGO):
                k = (io.get("kind"), io.get("name"))
                oldest[k] = max(oldest.get(k, 0), int(first[len(AGO):]))
    for o in objs:
        for v in _walk_times(o):
            times.append(v)
        meta = o.get("metadata") or {}
        created = _parse(meta.get("creationTimestamp"))
        if created and (o.get("kind"), meta.get("name")) in oldest:
            times.append(created + timedelta(seconds=oldest[(o["kind"], meta["name"])]))
    if alert is not None and alert.starts_at:
        times.append(alert.starts_at)
    return max(times) + timedelta(seconds=60) if times else None


def _walk_times(o: Any):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in _TIME_FIELDS and _parse(v):
                yield _parse(v)
            elif isinstance(v, (dict, list)):
                yield from _walk_times(v)
    elif isinstance(o, list):
        for v in o:
            yield from _walk_times(v)


def _parse(v: Any) -> datetime | None:
    if not isinstance(v, str) or v.startswith(AGO):
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else None


def resolve_ages(o: Any, now: datetime) -> Any:
    if isinstance(o, dict):
        return {k: resolve_ages(v, now) for k, v in o.items()}
    if isinstance(o, list):
        return [resolve_ages(v, now) for v in o]
    if isinstance(o, str) and o.startswith(AGO):
        return rfc3339(now - timedelta(seconds=int(o[len(AGO):])))
    return o


def reconstruct(case: Path, dst: Path, expected: dict[str, str]) -> Reconstruction:
    """Write the bundle for `case` into `dst` (with `expected` as its ground truth)."""
    recs = recordings(case)
    rec = Reconstruction(case=case.name)
    rec.skipped = skip_reason(case, recs)
    if rec.skipped:
        return rec
    alert = alert_of(case)
    if alert is None:
        rec.skipped = "no alert could be read from issue_data.json or investigate_request.json"
        return rec
    objs = objects_of(recs)
    now = moment(objs, alert)
    if now is None:
        rec.skipped = "no time is stated anywhere, so ages cannot be placed"
        return rec
    objs = resolve_ages(objs, now)
    logs = logs_of(recs)
    rec.objects, rec.logs = len(objs), len(logs)
    rec.unused = sorted({r.tool for r in recs if not r.tool.startswith("kubectl") and r.tool not in _LOG_TOOLS})
    dst.mkdir(parents=True, exist_ok=True)
    doc = {"id": dst.name, "title": f"{alert.name} (recorded investigation {case.name})", "now": rfc3339(now),
           "alert": alert_dict(alert), "expected": expected}
    (dst / "scenario.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    if objs or logs:
        k8s = dst / "k8s"
        k8s.mkdir(exist_ok=True)
        (k8s / "objects.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objs},
                                                         sort_keys=False, allow_unicode=True), encoding="utf-8")
        for rel, text in logs.items():
            f = k8s / "logs" / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")
    return rec
