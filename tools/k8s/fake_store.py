"""In-memory object store behind FakeKubeAPI: resource table, apiserver-style errors, writes.

Writes behave like the apiserver where a remediation can observe it: resourceVersion bumps on
every write, metadata.generation bumps when spec changes, dryRun=All validates and returns the
would-be object without persisting, a stale resourceVersion on PUT is a 409 Conflict.
Controllers live in fake_controller.py and are opt-in: without them status stays exactly as loaded.
"""
from __future__ import annotations

import copy
import itertools
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tools.k8s.patch import PATCH_TYPES, PatchError, apply_patch
from tools.k8s.selectors import SelectorError, fields_match, labels_match


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core API
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How the apiserver names the resource in messages: deployments.apps, pods."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "pods", "Pod"),
    Resource("", "v1", "events", "Event"),
    Resource("", "v1", "services", "Service"),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "endpoints", "Endpoints"),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Resource("", "v1", "nodes", "Node", namespaced=False),
    Resource("", "v1", "namespaces", "Namespace", namespaced=False),
    Resource("apps", "v1", "deployments", "Deployment"),
    Resource("apps", "v1", "replicasets", "ReplicaSet"),
    Resource("apps", "v1", "statefulsets", "StatefulSet"),
    Resource("apps", "v1", "daemonsets", "DaemonSet"),
    Resource("batch", "v1", "jobs", "Job"),
    Resource("batch", "v1", "cronjobs", "CronJob"),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    Resource("events.k8s.io", "v1", "events", "Event"),
)
_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
# Loading a manifest picks the resource by kind; core Events are the canonical storage.
_BY_KIND = {r.kind: r for r in reversed(RESOURCES)}
# Kinds whose spec changes bump metadata.generation.
_GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def resource_for_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def resource_for_kind(kind: str) -> Resource | None:
    return _BY_KIND.get(kind)


class ApiError(Exception):
    """Becomes a metav1.Status body with the same code, reason and message."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _storage(res: Resource) -> Resource:
    """events.k8s.io Events share storage with core Events, as in a real cluster."""
    return _BY_KIND[res.kind] if res.kind == "Event" else res


def _core_event_to_events_v1(e: dict[str, Any]) -> dict[str, Any]:
    """The apiserver's conversion of a core/v1 Event to events.k8s.io/v1."""
    source = e.get("source") or {}
    first = e.get("firstTimestamp") or e["metadata"].get("creationTimestamp")
    out: dict[str, Any] = {
        "kind": "Event", "metadata": e["metadata"], "regarding": e.get("involvedObject"), "note": e.get("message"),
        "reason": e.get("reason"), "type": e.get("type"), "action": e.get("action"),
        "eventTime": e.get("eventTime") or (first.replace("Z", ".000000Z") if first else None),
        "reportingController": e.get("reportingComponent") or source.get("component"),
        "reportingInstance": e.get("reportingInstance") or source.get("host"),
        "deprecatedCount": e.get("count"), "deprecatedFirstTimestamp": e.get("firstTimestamp"),
        "deprecatedLastTimestamp": e.get("lastTimestamp"), "deprecatedSource": e.get("source"),
        "series": e.get("series"), "related": e.get("related"),
    }
    return {k: v for k, v in out.items() if v is not None}


class ObjectStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._rv = itertools.count(1000)

    def _key(self, res: Resource, namespace: str | None, name: str) -> tuple[str, str, str, str]:
        res = _storage(res)
        return (res.group, res.plural, namespace or "" if res.namespaced else "", name)

    def _next_rv(self) -> str:
        return str(next(self._rv))

    # -- loading -------------------------------------------------------------------------
    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj.get("kind")
        if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in obj):
            for item in obj.get("items") or []:
                self.add(item)
            return obj
        res = resource_for_kind(kind or "")
        if res is None:
            raise ValueError(f"unsupported kind {kind!r}")
        o = copy.deepcopy(obj)
        o["apiVersion"], o["kind"] = res.api_version, res.kind
        meta = o.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError(f"{kind} without metadata.name")
        if res.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{res.kind}/{meta.get('namespace', '')}/{meta['name']}")))
        meta.setdefault("creationTimestamp", _now_iso())
        if res.kind in _GENERATION_KINDS:
            meta.setdefault("generation", 1)
        with self._lock:
            meta["resourceVersion"] = self._next_rv()
            self._objects[self._key(res, meta.get("namespace"), meta["name"])] = o
        return o

    # -- reads ---------------------------------------------------------------------------
    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._objects.get(self._key(res, namespace, name))
            if obj is None and res.kind == "Namespace" and name in self.namespaces():
                return self._implicit_namespace(name)
            if obj is None:
                raise not_found(res, name)
            return self._as(res, obj)

    def list(self, res: Resource, namespace: str | None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict[str, Any]]:
        store = _storage(res)
        with self._lock:
            items = [o for (g, p, ns, _), o in sorted(self._objects.items())
                     if (g, p) == (store.group, store.plural) and (namespace is None or ns == namespace)]
            if res.kind == "Namespace":
                explicit = {o["metadata"]["name"] for o in items}
                items += [self._implicit_namespace(n) for n in sorted(self.namespaces() - explicit)]
            try:
                return [self._as(res, o) for o in items
                        if labels_match(label_selector, o["metadata"].get("labels"))
                        and fields_match(field_selector, o)]
            except SelectorError as exc:
                raise ApiError(400, "BadRequest", str(exc)) from None

    def namespaces(self) -> set[str]:
        with self._lock:
            found = {ns for (_, _, ns, _) in self._objects if ns}
            found |= {name for (g, p, _, name) in self._objects if (g, p) == ("", "namespaces")}
            return found

    def _implicit_namespace(self, name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"Namespace//{name}")),
                             "resourceVersion": "1", "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def _as(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        if res.group == "events.k8s.io" and "involvedObject" in out:
            out = _core_event_to_events_v1(out)
        out["apiVersion"] = res.api_version
        return out

    def count(self) -> int:
        with self._lock:
            return len(self._objects)

    # -- writes --------------------------------------------------------------------------
    def create(self, res: Resource, namespace: str | None, body: Any, dry_run: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value: name is required")
        with self._lock:
            if self._key(res, namespace, name) in self._objects:
                raise ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists')
            obj = copy.deepcopy(body)
            obj["kind"] = res.kind
            if res.namespaced:
                obj["metadata"]["namespace"] = namespace or obj["metadata"].get("namespace") or "default"
            self._validate(res, obj, name)
            if dry_run:
                return obj
            return self._as(res, self.add(obj))

    def replace(self, res: Resource, namespace: str | None, name: str, body: Any, dry_run: bool) -> dict[str, Any]:
        with self._lock:
            current = self._objects.get(self._key(res, namespace, name))
            if current is None:
                raise not_found(res, name)
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": '
                               "the object has been modified; please apply your changes to the latest version and try again")
            new = copy.deepcopy(body)
            new["apiVersion"], new["kind"] = res.api_version, res.kind
            meta = new.setdefault("metadata", {})
            for k in ("uid", "creationTimestamp", "namespace", "resourceVersion", "generation"):
                if k in current["metadata"]:
                    meta[k] = current["metadata"][k]
            if "status" not in body and "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            return self._commit(res, name, current, new, dry_run)

    def patch(self, res: Resource, namespace: str | None, name: str, content_type: str, patch: Any,
              dry_run: bool) -> dict[str, Any]:
        with self._lock:
            current = self._objects.get(self._key(res, namespace, name))
            if current is None:
                raise not_found(res, name)
            if content_type.split(";")[0].strip() not in PATCH_TYPES:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(PATCH_TYPES)}")
            try:
                new = apply_patch(content_type, current, patch)
            except PatchError as exc:
                raise ApiError(422, "Invalid", f'{res.kind}.{res.group or "core"} "{name}" is invalid: {exc}') from None
            return self._commit(res, name, current, new, dry_run)

    def delete(self, res: Resource, namespace: str | None, name: str, dry_run: bool) -> dict[str, Any]:
        with self._lock:
            key = self._key(res, namespace, name)
            current = self._objects.get(key)
            if current is None:
                raise not_found(res, name)
            out = self._as(res, current)
            out["metadata"]["deletionTimestamp"] = _now_iso()
            if not dry_run:
                del self._objects[key]
            return out

    def _commit(self, res: Resource, name: str, current: dict[str, Any], new: dict[str, Any],
                dry_run: bool) -> dict[str, Any]:
        self._validate(res, new, name)
        meta = new["metadata"]
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        if dry_run:
            return self._as(res, new)
        meta["resourceVersion"] = self._next_rv()
        if res.kind in _GENERATION_KINDS and new.get("spec") != current.get("spec"):
            meta["generation"] = int(current["metadata"].get("generation") or 1) + 1
        self._objects[self._key(res, meta.get("namespace"), name)] = new
        return self._as(res, new)

    def _validate(self, res: Resource, obj: dict[str, Any], name: str) -> None:
        meta = obj.get("metadata")
        where = f'{res.kind}{"." + res.group if res.group else ""} "{name}" is invalid'
        if not isinstance(meta, dict) or meta.get("name") != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({(meta or {}).get('name')}) does not match "
                           f"the name on the URL ({name})")
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0):
            raise ApiError(422, "Invalid", f"{where}: spec.replicas: Invalid value: {replicas!r}: "
                           "must be greater than or equal to 0")
        pod_spec = spec.get("template", {}).get("spec") if isinstance(spec.get("template"), dict) else None
        if res.kind == "Pod":
            pod_spec = spec
        for field in ("containers", "initContainers"):
            for i, c in enumerate((pod_spec or {}).get(field) or []):
                for required in ("name", "image"):
                    if not isinstance(c, dict) or not c.get(required):
                        prefix = "spec.template.spec" if res.kind != "Pod" else "spec"
                        raise ApiError(422, "Invalid", f"{where}: {prefix}.{field}[{i}].{required}: Required value")
