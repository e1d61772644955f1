"""What changed between two pod templates (two ReplicaSet revisions, a failed Job and the last one
that succeeded): images, commands, arguments, environment, mounted objects, resources.

A rollout whose only change is the restartedAt annotation (`kubectl rollout restart`) changed nothing
a rollback could undo; a CronJob whose command lost a letter since its last success says so here.
"""
from __future__ import annotations

import difflib
import shlex
from typing import Any

from tools.k8s.views import pod_uses
from tools.textclip import clip_middle

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
_IGNORED_LABELS = ("pod-template-hash", "controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
                   "batch.kubernetes.io/job-name", "controller-revision-hash", "pod-template-generation")
MAX_CHANGES = 8


def _words(value: Any) -> list[str]:
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            try:
                out += shlex.split(str(v))
            except ValueError:
                out += str(v).split()
        return out
    return []


def _word_diff(old: list[str], new: list[str]) -> str:
    """`pg_dump -> pg_dumpp; + --no-owner`: the changed words only, not the whole command."""
    parts = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "replace":
            parts.append(f"{' '.join(old[a1:a2])} -> {' '.join(new[b1:b2])}")
        elif op == "delete":
            parts.append(f"- {' '.join(old[a1:a2])}")
        elif op == "insert":
            parts.append(f"+ {' '.join(new[b1:b2])}")
    return clip_middle("; ".join(parts), 300)


def _env(c: dict[str, Any]) -> dict[str, str]:
    out = {}
    for e in c.get("env") or []:
        if "value" in e:
            out[e.get("name", "?")] = str(e.get("value"))
        elif e.get("valueFrom"):
            src = e["valueFrom"]
            ref = next((f"{k}:{(v or {}).get('name')}/{(v or {}).get('key')}" for k, v in src.items()), "valueFrom")
            out[e.get("name", "?")] = f"<{ref}>"
    return out


def template_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    old, new = old or {}, new or {}
    o_spec, n_spec = old.get("spec") or {}, new.get("spec") or {}
    changes: list[str] = []
    o_ctrs = {c.get("name"): c for c in (o_spec.get("initContainers") or []) + (o_spec.get("containers") or [])}
    for c in (n_spec.get("initContainers") or []) + (n_spec.get("containers") or []):
        name, prev = c.get("name"), o_ctrs.pop(c.get("name"), None)
        if prev is None:
            changes.append(f"container {name} added")
            continue
        if prev.get("image") != c.get("image"):
            changes.append(f"{name} image: {prev.get('image')} -> {c.get('image')}")
        for field in ("command", "args"):
            if prev.get(field) != c.get(field):
                diff = _word_diff(_words(prev.get(field)), _words(c.get(field)))
                changes.append(f"{name} {field}: {diff or 'changed'}")
        o_env, n_env = _env(prev), _env(c)
        for k in sorted(set(o_env) | set(n_env)):
            if o_env.get(k) != n_env.get(k):
                changes.append(f"{name} env {k}: {o_env.get(k, '(unset)')} -> {n_env.get(k, '(unset)')}")
        if prev.get("envFrom") != c.get("envFrom"):
            changes.append(f"{name} envFrom changed")
        if prev.get("resources") != c.get("resources"):
            changes.append(f"{name} resources: {prev.get('resources') or {}} -> {c.get('resources') or {}}")
    changes += [f"container {name} removed" for name in o_ctrs]
    if pod_uses(o_spec) != pod_uses(n_spec):
        changes.append(f"mounted objects: {pod_uses(o_spec)} -> {pod_uses(n_spec)}")
    o_ann = {k: v for k, v in ((old.get("metadata") or {}).get("annotations") or {}).items() if k != RESTARTED_AT}
    n_ann = {k: v for k, v in ((new.get("metadata") or {}).get("annotations") or {}).items() if k != RESTARTED_AT}
    if o_ann != n_ann:
        changes.append("pod annotations changed")
    o_lab = {k: v for k, v in ((old.get("metadata") or {}).get("labels") or {}).items() if k not in _IGNORED_LABELS}
    n_lab = {k: v for k, v in ((new.get("metadata") or {}).get("labels") or {}).items() if k not in _IGNORED_LABELS}
    if o_lab != n_lab:
        changes.append("pod labels changed")
    rest = [k for k in set(o_spec) | set(n_spec) if k not in ("containers", "initContainers", "volumes")
            and o_spec.get(k) != n_spec.get(k)]
    changes += [f"pod spec {k} changed" for k in sorted(rest)]
    return changes[:MAX_CHANGES]


def restart_only(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """The new template differs from the old only by `kubectl rollout restart`'s annotation."""
    old_at = ((old or {}).get("metadata") or {}).get("annotations", {}).get(RESTARTED_AT)
    new_at = ((new or {}).get("metadata") or {}).get("annotations", {}).get(RESTARTED_AT)
    return bool(new_at) and new_at != old_at and not template_changes(old, new)
