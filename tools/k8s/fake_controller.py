"""Opt-in controllers for FakeKubeAPI, so that a remediation's verification can be tested.

What kube-controller-manager does that an action can observe, and nothing more:
- Deployment: a pod-template change gets a ReplicaSet (a new one, or the matching old one on a
  rollback) with the next revision, and the deployment's revision annotation follows; after
  `delay` seconds the status converges (observedGeneration, replicas updated and available).
- ReplicaSet pods: a deleted pod owned by a ReplicaSet is replaced, after `delay`, by a new
  Running and Ready pod built from the ReplicaSet's template.
`stall()` makes a deployment never become available (or exceed its progress deadline) so the
timeout paths can be tested too. Rollouts do not create pods; only replacements do.
"""
from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tools.k8s.fake_store import ApiError, ObjectStore, resource_for_kind

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_MERGE = "application/merge-patch+json"
_DEP = resource_for_kind("Deployment")
_RS = resource_for_kind("ReplicaSet")
_POD = resource_for_kind("Pod")


@dataclass
class _Stall:
    available: int
    deadline_exceeded: bool


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bare(template: dict[str, Any] | None) -> dict[str, Any]:
    t = copy.deepcopy(template or {})
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return t


def _hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, 0))
    except (TypeError, ValueError):
        return 0


def _owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    uid = owner["metadata"].get("uid")
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


class FakeControllers:
    def __init__(self, store: ObjectStore, delay: float = 0.0):
        self.store = store
        self.delay = delay
        self._stalls: dict[tuple[str, str], _Stall] = {}
        self._timers: set[threading.Timer] = set()
        self._lock = threading.RLock()

    def stall(self, namespace: str, deployment: str, available: int = 0, deadline_exceeded: bool = False) -> None:
        """The deployment's new pods never become available (beyond `available`)."""
        self._stalls[(namespace, deployment)] = _Stall(available, deadline_exceeded)

    def unstall(self, namespace: str, deployment: str) -> None:
        self._stalls.pop((namespace, deployment), None)
        self._later(self._converge, namespace, deployment)

    def cancel(self) -> None:
        with self._lock:
            for t in self._timers:
                t.cancel()
            self._timers.clear()

    # -- hooks from FakeKubeAPI ---------------------------------------------------------
    def after_write(self, method: str, kind: str, namespace: str | None, name: str, before: dict | None) -> None:
        if kind == "Deployment" and method in ("PATCH", "PUT", "POST") and namespace:
            self._sync_deployment(namespace, name)
        elif kind == "Pod" and method == "DELETE" and namespace and before:
            self._replace_pod(namespace, before)

    # -- deployment controller ----------------------------------------------------------
    def _sync_deployment(self, ns: str, name: str) -> None:
        with self._lock:
            try:
                dep = self.store.get(_DEP, ns, name)
            except ApiError:
                return
            template = _bare(dep["spec"].get("template"))
            owned = [rs for rs in self.store.list(_RS, ns) if _owned_by(rs, dep)]
            top = max((_revision(rs) for rs in owned), default=0)
            current = next((rs for rs in owned if _bare(rs["spec"].get("template")) == template), None)
            if current is None:
                current = self._new_replicaset(dep, template, top + 1)
            elif _revision(current) != top:  # a rollback reuses the old ReplicaSet under the next revision
                self.store.patch(_RS, ns, current["metadata"]["name"], _MERGE,
                                 {"metadata": {"annotations": {REVISION: str(top + 1)}}}, False)
                current = self.store.get(_RS, ns, current["metadata"]["name"])
            if str(_revision(current)) != (dep["metadata"].get("annotations") or {}).get(REVISION):
                self.store.patch(_DEP, ns, name, _MERGE,
                                 {"metadata": {"annotations": {REVISION: str(_revision(current))}}}, False)
        self._later(self._converge, ns, name)

    def _new_replicaset(self, dep: dict[str, Any], template: dict[str, Any], revision: int) -> dict[str, Any]:
        h = _hash(template)
        t = copy.deepcopy(template)
        t.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        meta = dep["metadata"]
        selector = copy.deepcopy(dep["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        return self.store.add({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{h}", "namespace": meta["namespace"],
                         "labels": dict(t["metadata"]["labels"]), "annotations": {REVISION: str(revision)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True}]},
            "spec": {"replicas": 0, "selector": selector, "template": t}, "status": {"replicas": 0}})

    def _converge(self, ns: str, name: str) -> None:
        with self._lock:
            try:
                dep = self.store.get(_DEP, ns, name)
            except ApiError:
                return
            desired = dep["spec"].get("replicas", 1)
            stall = self._stalls.get((ns, name))
            available = desired if stall is None else min(stall.available, desired)
            progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            if stall and stall.deadline_exceeded:
                progressing = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                               "message": f'ReplicaSet "{name}" has timed out progressing.'}
            elif stall:
                progressing["reason"] = "ReplicaSetUpdated"
            status = {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": desired,
                      "updatedReplicas": desired, "readyReplicas": available, "availableReplicas": available,
                      "unavailableReplicas": desired - available or None,
                      "conditions": [{"type": "Available", "status": "True" if available >= desired else "False"},
                                     progressing]}
            self.store.patch(_DEP, ns, name, _MERGE, {"status": status}, False)
            template = _bare(dep["spec"].get("template"))
            for rs in self.store.list(_RS, ns):
                if _owned_by(rs, dep):
                    mine = _bare(rs["spec"].get("template")) == template
                    n = desired if mine else 0
                    self.store.patch(_RS, ns, rs["metadata"]["name"], _MERGE, {
                        "spec": {"replicas": n}, "status": {"replicas": n, "readyReplicas": available if mine else 0,
                                                            "availableReplicas": available if mine else 0}}, False)

    # -- replicaset controller ----------------------------------------------------------
    def _replace_pod(self, ns: str, pod: dict[str, Any]) -> None:
        ref = next((r for r in pod["metadata"].get("ownerReferences") or []
                    if r.get("controller") and r.get("kind") == "ReplicaSet"), None)
        if ref is None:
            return
        self._later(self._create_replacement, ns, ref)

    def _create_replacement(self, ns: str, ref: dict[str, Any]) -> None:
        try:
            rs = self.store.get(_RS, ns, ref["name"])
        except ApiError:
            return
        owner = next((r for r in rs["metadata"].get("ownerReferences") or [] if r.get("kind") == "Deployment"), None)
        stalled = owner is not None and (ns, owner.get("name")) in self._stalls
        template = rs["spec"].get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        if stalled:
            status = {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                      "containerStatuses": [{"name": c.get("name"), "ready": False, "restartCount": 0,
                                             "state": {"waiting": {"reason": "ContainerCreating"}}}
                                            for c in containers]}
        else:
            status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                      "containerStatuses": [{"name": c.get("name"), "ready": True, "restartCount": 0,
                                             "state": {"running": {"startedAt": _now()}}} for c in containers]}
        self.store.add({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{ref['name']}-{secrets.token_hex(3)[:5]}", "namespace": ns,
                         "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": ref["name"],
                                              "uid": rs["metadata"]["uid"], "controller": True}]},
            "spec": copy.deepcopy(template.get("spec") or {}), "status": status})

    def _later(self, fn: Any, *args: Any) -> None:
        if self.delay <= 0:
            fn(*args)
            return
        timer = threading.Timer(self.delay, self._fire, (fn, args))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, fn: Any, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        fn(*args)
