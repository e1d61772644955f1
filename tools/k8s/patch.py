"""The three patch formats the apiserver accepts: JSON merge (RFC 7386), JSON patch (RFC 6902)
and strategic merge (lists of named items merge by key instead of being replaced).

The strategic-merge keys come from the Kubernetes API's patchMergeKey tags for the fields a
remediation touches (containers by name, env by name, volumes by name, ...). Lists without a
merge key are replaced, as the apiserver does.
"""
from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    pass


# Field name -> merge key (patchMergeKey in the Kubernetes API types).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")
# Primitive lists the apiserver merges as sets.
MERGE_SETS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or [] if x not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    return result


def _merge_key_for(field: str, items: list[Any]) -> str | None:
    if field == "ports":  # containerPort for containers, port for Services
        dicts = [i for i in items if isinstance(i, dict)]
        return "containerPort" if any("containerPort" in i for i in dicts) else "port"
    return MERGE_KEYS.get(field)


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current = list(current) if isinstance(current, list) else []
    if field in MERGE_SETS:
        return current + [x for x in patch if x not in current]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    key = _merge_key_for(field, current + patch)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy(patch)
    result = copy.deepcopy(current)
    for item in patch:
        if key not in item:
            raise PatchError(f"map in list {field} is missing the merge key {key!r}")
        idx = next((n for n, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
        elif idx is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            result[idx] = strategic_merge_patch(result[idx], item)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _walk(doc: Any, pointer: str) -> tuple[Any, str]:
    """Return (parent container, last token) for a JSON pointer."""
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    tokens = [_unescape(t) for t in pointer[1:].split("/")]
    parent = doc
    for tok in tokens[:-1]:
        parent = _child(parent, tok, pointer)
    return parent, tokens[-1]


def _child(node: Any, tok: str, pointer: str) -> Any:
    if isinstance(node, dict):
        if tok not in node:
            raise PatchError(f"path {pointer!r} does not exist")
        return node[tok]
    if isinstance(node, list):
        try:
            return node[int(tok)]
        except (ValueError, IndexError):
            raise PatchError(f"path {pointer!r} does not exist") from None
    raise PatchError(f"path {pointer!r} does not exist")


def _get(doc: Any, pointer: str) -> Any:
    if pointer == "":
        return doc
    parent, tok = _walk(doc, pointer)
    return _child(parent, tok, pointer)


def _remove(doc: Any, pointer: str) -> Any:
    parent, tok = _walk(doc, pointer)
    if isinstance(parent, dict):
        if tok not in parent:
            raise PatchError(f"unable to remove nonexistent key {tok!r}: path {pointer!r}")
        return parent.pop(tok)
    try:
        return parent.pop(int(tok))
    except (ValueError, IndexError, AttributeError):
        raise PatchError(f"unable to remove {pointer!r}") from None


def _add(doc: Any, pointer: str, value: Any, replace: bool = False) -> Any:
    if pointer == "":
        return value
    parent, tok = _walk(doc, pointer)
    if isinstance(parent, dict):
        if replace and tok not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: {pointer}")
        parent[tok] = value
    elif isinstance(parent, list):
        if tok == "-" and not replace:
            parent.append(value)
            return doc
        try:
            idx = int(tok)
        except ValueError:
            raise PatchError(f"invalid array index in {pointer!r}") from None
        if replace:
            if not 0 <= idx < len(parent):
                raise PatchError(f"replace operation does not apply: index out of range: {pointer}")
            parent[idx] = value
        else:
            if not 0 <= idx <= len(parent):
                raise PatchError(f"add operation does not apply: index out of range: {pointer}")
            parent.insert(idx, value)
    else:
        raise PatchError(f"path {pointer!r} does not exist")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind} at {path} is missing 'value'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True) if path else copy.deepcopy(op["value"])
        elif kind == "remove":
            _remove(doc, path)
        elif kind in ("move", "copy"):
            value = _get(doc, op.get("from", ""))
            if kind == "move":
                _remove(doc, op["from"])
            doc = _add(doc, path, copy.deepcopy(value))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"unexpected JSON patch operation {kind!r}")
    return doc


def apply_patch(content_type: str, target: dict[str, Any], patch: Any) -> dict[str, Any]:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json-patch+json":
        result = json_patch(target, patch)
    elif ctype == "application/merge-patch+json":
        result = merge_patch(target, patch)
    elif ctype in ("application/strategic-merge-patch+json", "application/apply-patch+yaml"):
        result = strategic_merge_patch(target, patch)
    else:
        raise PatchError(f"unsupported patch content type {content_type!r}")
    if not isinstance(result, dict):
        raise PatchError("patch did not produce an object")
    return result
