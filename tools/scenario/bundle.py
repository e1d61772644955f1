"""Load incident scenario bundles (format v1).

A bundle is a directory with scenario.yaml and optional metrics.om, logs.jsonl and k8s/.
`scenario.yaml` also carries the ground truth (`expected`); it is read only by load_expected()
so that nothing handed to tools or engines can see the answer.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

SCENARIO_FILE = "scenario.yaml"
METRICS_FILE = "metrics.om"
LOGS_FILE = "logs.jsonl"
K8S_DIR = "k8s"
SET_FILE = "set.yaml"  # marks a folder of bundles as an evaluation set of its own (name, method, sources)

from tools.taxonomy import ACTIONS, CATEGORIES  # noqa: E402  (re-exported for bundle users)


class ScenarioError(Exception):
    """A bundle that cannot be loaded; the message names the file and the problem."""


class _StringLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as they arrive in a webhook's JSON."""


_StringLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_documents(path: Path) -> list[Any]:
    """Every document of a YAML file, timestamps left as strings. Raises ScenarioError."""
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.load_all(f, Loader=_StringLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: invalid YAML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None


def parse_time(value: Any, where: str) -> datetime:
    """RFC 3339 with an explicit offset (or Z); naive times are rejected as ambiguous."""
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.strip().replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(f"{where}: not an RFC 3339 time: {value!r}") from None
    else:
        raise ScenarioError(f"{where}: expected an RFC 3339 time string, got {type(value).__name__}")
    if t.tzinfo is None:
        raise ScenarioError(f"{where}: time {value!r} has no UTC offset")
    return t


@dataclass(frozen=True)
class Scenario:
    """What an engine may see about an incident: the alert (or message), the moment, the data sources."""

    id: str
    title: str
    now: datetime
    alert: dict | None
    message: str | None
    path: Path
    metrics_file: Path | None
    logs_file: Path | None
    k8s_dir: Path | None

    @property
    def alert_text(self) -> str:
        """The alert as one line of text, whichever form the bundle uses."""
        if self.message is not None:
            return self.message
        a = self.alert or {}
        ann = a.get("annotations", {})
        return f"{a.get('labels', {}).get('alertname', '?')}: {ann.get('summary', '')} {ann.get('description', '')}".strip()


def _scenario_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / SCENARIO_FILE
    if not p.is_file():
        raise ScenarioError(f"{p}: no such file (a bundle is a directory holding {SCENARIO_FILE})")
    return p


def _read_doc(path: str | Path) -> tuple[Path, dict]:
    f = _scenario_file(path)
    docs = load_yaml_documents(f)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ScenarioError(f"{f}: expected one YAML mapping, found {len(docs)} document(s)")
    return f, docs[0]


def load_scenario(path: str | Path) -> Scenario:
    """Load a bundle for tools and engines. The ground truth is never read into the result."""
    f, doc = _read_doc(path)
    for key in ("id", "title", "now"):
        if key not in doc:
            raise ScenarioError(f"{f}: missing required key {key!r}")
    alert, message = doc.get("alert"), doc.get("message")
    if (alert is None) == (message is None):
        raise ScenarioError(f"{f}: exactly one of 'alert' or 'message' is required")
    if alert is not None and not isinstance(alert, dict):
        raise ScenarioError(f"{f}: 'alert' must be a mapping (one Alertmanager webhook alert)")
    if message is not None and not isinstance(message, str):
        raise ScenarioError(f"{f}: 'message' must be a string")
    now = parse_time(doc["now"], f"{f}: now")
    root = f.parent
    metrics, logs, k8s = root / METRICS_FILE, root / LOGS_FILE, root / K8S_DIR
    return Scenario(
        id=str(doc["id"]), title=str(doc["title"]), now=now,
        alert=copy.deepcopy(alert), message=message, path=root,
        metrics_file=metrics if metrics.is_file() else None,
        logs_file=logs if logs.is_file() else None,
        k8s_dir=k8s if k8s.is_dir() else None,
    )


def load_expected(path: str | Path) -> dict:
    """Ground truth {category, component, action, ...}: for evaluation code only."""
    f, doc = _read_doc(path)
    exp = doc.get("expected")
    if not isinstance(exp, dict):
        raise ScenarioError(f"{f}: missing 'expected' mapping (category, component, action)")
    for key in ("category", "component", "action"):
        if not isinstance(exp.get(key), str) or not exp[key]:
            raise ScenarioError(f"{f}: expected.{key} must be a non-empty string")
    return dict(exp)


def iter_scenarios(root: str | Path) -> list[Path]:
    """Bundle directories under root (root itself if it is one), sorted by path.

    A subfolder holding SET_FILE is an evaluation set of its own (scenarios/handmade): its bundles
    are not listed with the parent's, so each set is validated, tested and scored apart. Pass the
    set's folder to list them; iter_sets() lists every set under a root."""
    r = Path(root)
    if (r / SCENARIO_FILE).is_file():
        return [r]
    if not r.is_dir():
        return []
    out = []
    for p in r.rglob(SCENARIO_FILE):
        folders = p.relative_to(r).parts[:-1]
        if any(part.startswith((".", "_")) for part in folders):
            continue
        if any((r.joinpath(*folders[:i]) / SET_FILE).is_file() for i in range(1, len(folders))):
            continue  # inside a nested set
        out.append(p.parent)
    return sorted(out)


def iter_sets(root: str | Path) -> dict[Path, list[Path]]:
    """Every evaluation set under root, root's own first: {set folder: its bundles}, empty sets left out."""
    r = Path(root)
    nested = [] if (r / SCENARIO_FILE).is_file() else sorted(
        f.parent for f in r.rglob(SET_FILE)
        if f.parent != r and not any(part.startswith((".", "_")) for part in f.parent.relative_to(r).parts))
    sets = {r: iter_scenarios(r), **{s: iter_scenarios(s) for s in nested}}
    return {k: v for k, v in sets.items() if v}
