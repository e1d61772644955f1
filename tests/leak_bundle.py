"""A scenario bundle with the secret corpus planted in every backend input path.

Log documents (OpenSearch), pod logs (current and previous), events and object fields (container
state and termination messages, env values, args, annotations) each get their own corpus. Plants
are spread over GROUPS apps/pods/objects so that every tool answer stays within its budget and
each carrier really reaches the model, masked.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from tests.secret_corpus import Plant

NOW = datetime(2026, 10, 6, 10, 12, tzinfo=timezone.utc)
NS = "shop"
GROUPS = 8
SUFFIX = "-7d9f8c6b5-x2kqz"


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def groups(plants: list[Plant]) -> list[list[Plant]]:
    return [plants[k::GROUPS] for k in range(GROUPS)]


def pod_name(prefix: str, k: int) -> str:
    return f"{prefix}{k}{SUFFIX}"


def write_bundle(root: Path, *, logs: list[Plant], pod_logs: list[Plant], events: list[Plant],
                 fields: list[Plant]) -> Path:
    (root / "k8s" / "logs").mkdir(parents=True)
    (root / "scenario.yaml").write_text(yaml.safe_dump({
        "id": root.name, "title": "secrets planted in every backend", "now": _iso(NOW),
        "message": "shop/checkout is failing",
        "expected": {"category": "unknown", "component": "checkout", "action": "none"}}))
    (root / "logs.jsonl").write_text("\n".join(json.dumps(d) for d in _log_documents(logs)) + "\n")
    pods = [_pod(pod_name("podlog", k), [("app", None)]) for k in range(GROUPS)]
    pods += [_pod(pod_name("fields", k), [(f"c{j}", p) for j, p in enumerate(group)])
             for k, group in enumerate(groups(fields))]
    (root / "k8s" / "pods.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    (root / "k8s" / "events.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                          "items": _events(events)}))
    for k, group in enumerate(groups(pod_logs)):
        lines = [ln for p in group for line in p.lines() for ln in line.split("\n")]
        padding = [f"{_iso(NOW - timedelta(seconds=600 - i))} INFO heartbeat ok seq={i}" for i in range(70)]
        (root / "k8s" / "logs" / f"{pod_name('podlog', k)}.log").write_text("\n".join(padding + lines) + "\n")
        (root / "k8s" / "logs" / f"{pod_name('podlog', k)}.previous.log").write_text(
            "\n".join(lines + ["panic: giving up after secret errors"]) + "\n")
    return root


def _log_documents(plants: list[Plant]) -> list[dict]:
    docs = []
    for k, group in enumerate(groups(plants)):
        lines = [line for p in group for line in p.lines()]
        for i, line in enumerate(lines):
            docs.append({"@timestamp": _iso(NOW - timedelta(minutes=20, seconds=-i)), "log": line, "level": "error",
                         "stream": "stderr",
                         "kubernetes": {"namespace_name": NS, "pod_name": pod_name("oslog", k), "container_name": "app",
                                        "labels": {"app": f"oslog{k}"}}})
    return docs


def _pod(name: str, containers: list[tuple[str, Plant | None]]) -> dict:
    started = _iso(NOW - timedelta(minutes=30))
    specs, statuses, annotations = [], [], {}
    for cname, plant in containers:
        spec: dict = {"name": cname, "image": f"registry.acme.io/shop/{cname}:1.0.0"}
        status: dict = {"name": cname, "ready": plant is None, "restartCount": 0 if plant is None else 4,
                        "image": spec["image"], "imageID": f"registry.acme.io/shop/{cname}@sha256:{'ab' * 32}",
                        "state": {"running": {"startedAt": started}}}
        if plant is not None:
            spec["env"] = [{"name": f"APP_SETTING_{cname.upper()}", "value": plant.text},
                           {"name": "LOG_LEVEL", "value": "debug"}]
            spec["args"] = ["--config-line", plant.text, "--port=8080"]
            annotations[f"acme.io/last-config-{cname}"] = plant.text
            status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": plant.text}}
            status["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1, "message": plant.text,
                                                  "startedAt": started, "finishedAt": _iso(NOW - timedelta(minutes=2))}}
        specs.append(spec)
        statuses.append(status)
    phase_ok = all(p is None for _, p in containers)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "creationTimestamp": started, "annotations": annotations,
                         "labels": {"app": name.split("-")[0]}},
            "spec": {"nodeName": "ip-10-10-8-211.eu-west-1.compute.internal", "containers": specs},
            "status": {"phase": "Running", "startTime": started, "containerStatuses": statuses,
                       "conditions": [{"type": "Ready", "status": "True" if phase_ok else "False"}]}}


def _events(plants: list[Plant]) -> list[dict]:
    items = []
    for k, group in enumerate(groups(plants)):
        for i, p in enumerate(group):
            when = _iso(NOW - timedelta(minutes=10, seconds=i))
            items.append({"apiVersion": "v1", "kind": "Event",
                          "metadata": {"name": f"{pod_name('events', k)}.{i:04x}", "namespace": NS,
                                       "creationTimestamp": when},
                          "involvedObject": {"kind": "Pod", "namespace": NS, "name": pod_name("events", k)},
                          "reason": "Failed", "message": p.text, "type": "Warning", "count": 1,
                          "firstTimestamp": when, "lastTimestamp": when, "source": {"component": "kubelet"}})
    return items
