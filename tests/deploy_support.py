"""Shared by the deploy tests: the deploy/ tree, rendering it with kustomize, reading its YAML,
and the metric names the bot really exports."""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.support import REPO

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
MONITORING = K8S / "components" / "monitoring"
# The Kubernetes release whose schemas (shipped by kubernetes-validate) the manifests must satisfy.
KUBE_VERSION = "1.30"
# Custom resources: no schema in kubernetes-validate, checked structurally instead.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}


def kustomize_command() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


@functools.lru_cache(maxsize=None)
def _render(path: str) -> tuple[dict[str, Any], ...]:
    command = kustomize_command()
    assert command is not None
    out = subprocess.run([*command, path], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kustomize failed for {path}:\n{out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def render(path: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize path` renders; skips (with the reason) without kubectl or kustomize."""
    if kustomize_command() is None:
        pytest.skip("kustomize rendering needs kubectl (or kustomize) on PATH; raw base files are still validated")
    return [json.loads(json.dumps(d)) for d in _render(str(path))]  # a copy: tests may not alter the cache


def overlay(name: str) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / name)


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _patch_files() -> set[Path]:
    """Files the kustomizations use as patches: partial objects, valid only once merged."""
    found = set()
    for kust in K8S.rglob("kustomization.yaml"):
        for patch in yaml.safe_load(kust.read_text()).get("patches") or []:
            if "path" in patch:
                found.add((kust.parent / patch["path"]).resolve())
    return found


def raw_manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object written as a file under deploy/k8s (kustomizations, patches and
    promtool tests left out), for checking without a kustomize binary."""
    patches = _patch_files()
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml" or path.name.endswith(".test.yaml") or path.resolve() in patches:
            continue
        for doc in yaml_documents(path):
            yield path, doc


def objects(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = objects(docs, kind, name)
    return found


def config_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The bot's generated settings ConfigMap (chatops-<hash>)."""
    [cm] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("chatops-")
            and "LOG_LEVEL" in (d.get("data") or {})]
    return cm["data"]


_EXPORTED = """
import json
from bot import metrics
from prometheus_client import REGISTRY
# The metrics a process exports only once it observed something, and the scrape-time queue gauges.
metrics.audit_verified(True)
metrics.slack_reachable(True)
metrics.register_queue_probe(lambda: (0, None))
suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "info": ("_info",)}
names = {}
for family in REGISTRY.collect():
    if family.name.startswith("chatops_"):
        names.update({family.name + s: family.name for s in suffixes.get(family.type, ("",))})
print(json.dumps(names))
"""


@functools.lru_cache(maxsize=1)
def exported_metrics() -> dict[str, str]:
    """{series name: metric family} for every chatops_* series bot/metrics.py exports, read from the
    live registry of a fresh process (this one's may hold other tests' observations)."""
    out = subprocess.run([sys.executable, "-c", _EXPORTED], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
