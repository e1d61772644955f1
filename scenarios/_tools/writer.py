"""Write a bundle directory in format v1: scenario.yaml, metrics.om, logs.jsonl, k8s/ (+ k8s/logs/)."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import yaml

from om import OM
from render import all_objects, fluent_docs, pod_log_files
from world import World, rfc3339

PROMETHEUS = "http://prometheus-k8s.monitoring.svc:9090"


def alert(labels: dict, summary: str, description: str, starts: datetime, expr: str,
          runbook: str | None = None) -> dict:
    ann = {"description": description, "summary": summary}
    if runbook:
        ann["runbook_url"] = runbook
    fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    return {"status": "firing", "labels": labels, "annotations": ann, "startsAt": rfc3339(starts, ms=True),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": f"{PROMETHEUS}/graph?g0.expr={quote(expr)}&g0.tab=1",
            "fingerprint": fp}


def kp_runbook(name: str) -> str:
    return f"https://runbooks.prometheus-operator.dev/runbooks/kubernetes/{name.lower()}"


@dataclass
class Bundle:
    id: str
    title: str
    world: World
    expected: dict
    alert: dict | None = None
    message: str | None = None
    om: OM | None = None
    logs: bool = True
    k8s: bool = True
    k8s_format: str = "yaml"       # yaml | json
    k8s_layout: str = "by-kind"    # by-kind (one List per kind) | single (one List file)
    message_key: str = "log"
    pod_logs: bool = True
    extra_objects: list = field(default_factory=list)

    def write(self, root: Path) -> Path:
        d = root / self.id
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        doc = {"id": self.id, "title": self.title, "now": rfc3339(self.world.now)}
        if self.alert is not None:
            doc["alert"] = self.alert
        if self.message is not None:
            doc["message"] = self.message
        doc["expected"] = self.expected
        (d / "scenario.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110))
        if self.om is not None:
            self.om.write(d / "metrics.om")
        if self.logs:
            docs = fluent_docs(self.world, self.message_key)
            with open(d / "logs.jsonl", "w") as f:
                for doc_ in docs:
                    f.write(json.dumps(doc_, separators=(",", ":"), ensure_ascii=False) + "\n")
        if self.k8s:
            self._write_k8s(d / "k8s")
        return d

    def _write_k8s(self, k: Path) -> None:
        k.mkdir()
        groups = all_objects(self.world)
        for o in self.extra_objects:
            groups.setdefault(o["kind"].lower() + "s", []).append(o)
        dump = (lambda o: json.dumps(o, indent=1) + "\n") if self.k8s_format == "json" else \
            (lambda o: yaml.safe_dump(o, sort_keys=False, width=140))
        ext = "json" if self.k8s_format == "json" else "yaml"
        if self.k8s_layout == "single":
            items = [o for objs in groups.values() for o in objs]
            (k / f"cluster.{ext}").write_text(dump({"apiVersion": "v1", "kind": "List", "items": items}))
        else:
            for name, objs in groups.items():
                doc = objs[0] if len(objs) == 1 and name == "nodes" else {"apiVersion": "v1", "kind": "List", "items": objs}
                (k / f"{name}.{ext}").write_text(dump(doc))
        if self.pod_logs:
            files = pod_log_files(self.world)
            if files:
                (k / "logs").mkdir()
                for name, text in sorted(files.items()):
                    (k / "logs" / name).write_text(text)
