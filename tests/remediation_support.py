"""Shared pieces of the remediation tests: seeded incidents, a policy, and a tiny controller
that makes the fake API server converge the way a real cluster would after a write."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from bot.db import transaction
from bot.models import AgentSession, AuditEntry, Diagnosis, Incident
from bot.remediation import ApprovalPolicy, Identity, Signer
from tests.actions_support import NS, REVISION
from tools.k8s.fake_store import resource_for_kind

SIGNER = Signer(b"test-signing-key-0123456789abcdef")
OPS = Identity("slack", "UOPS1", frozenset({"SOPS"}), "ops one")
OPS2 = Identity("slack", "UOPS2", frozenset({"SOPS"}), "ops two")
LEAD = Identity("teams", "aad-lead-oid", frozenset(), "team lead")
ALICE = Identity("console", "alice")
STRANGER = Identity("slack", "UNOBODY", frozenset({"SOTHER"}), "someone")


def policy(**kw: Any) -> ApprovalPolicy:
    args = dict(medium=["slack-group:SOPS", "console:alice"], high=["teams:aad-lead-oid", "slack:UOPS1"],
                critical=["slack:UOPS1", "slack:UOPS2", "teams:aad-lead-oid"], scale_bounds=(1, 20))
    args.update(kw)
    return ApprovalPolicy.build(**args)


CART_PODS = ("cart-cart3hash-aaaaa", "cart-cart3hash-bbbbb")


def seed(factory, namespace: str = NS, component: str = "cart", findings: tuple[str, ...] = (),
         service: str | None = None, scope: dict | None = None) -> tuple[str, str]:
    """An incident in `namespace` and a recorded diagnosis about `component`, with the action scope
    a trigger naming that deployment gets (its pods, node-1 where they run, and node-2, as an alert
    naming that node would add). `scope` replaces it."""
    if scope is None:
        scope = {"namespace": namespace, "workloads": [["Deployment", component]], "pods": list(CART_PODS),
                 "nodes": ["node-1", "node-2"], "basis": "test seed"}
    evidence = [{"tool": "k8s_deployments", "query": f"namespace={namespace} name={component}",
                 "finding": f"deployment {namespace}/{component} has 3/3 replicas but p99 latency tripled"}]
    evidence += [{"tool": "k8s_pods", "query": f"namespace={namespace}", "finding": f} for f in findings]
    with transaction(factory) as s:
        inc = Incident(source="alertmanager", namespace=namespace, service=service or component,
                       title=f"{component} latency", labels={"namespace": namespace, "deployment": component})
        s.add(inc)
        s.flush()
        sess = AgentSession(incident_id=inc.id, trigger="alert", engine="offline", status="succeeded")
        s.add(sess)
        s.flush()
        d = Diagnosis(session_id=sess.id, incident_id=inc.id, category="traffic_spike", component=component,
                      summary="load", confidence=0.8, evidence=evidence, document={"component": component},
                      scope=scope)
        s.add(d)
        s.flush()
        return inc.id, d.id


def audit_events(factory, event: str | None = None) -> list[dict]:
    with factory() as s:
        q = select(AuditEntry).order_by(AuditEntry.seq)
        if event:
            q = q.where(AuditEntry.event == event)
        return [{"event": r.event, "actor": r.actor, "subject": r.subject, "payload": json.loads(r.payload)}
                for r in s.execute(q).scalars()]


def count_events(factory, event: str) -> int:
    with factory() as s:
        return s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.event == event)).scalar_one()


def real_writes(fake) -> list[dict]:
    """Writes the fake API server applied (dry runs excluded)."""
    return [r for r in fake.requests if r["method"] != "GET" and r["query"].get("dryRun") != "All"]


class Controller:
    """Plays the deployment and ReplicaSet controllers on a FakeKubeAPI store: rolls out a new
    generation (status converges, revision annotation bumps on template changes) and replaces
    deleted pods of a ReplicaSet, so the executor's verification can succeed."""

    def __init__(self, fake, interval: float = 0.02):
        self.store = fake.store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-controller", daemon=True)
        self._templates: dict[str, Any] = {}
        self._pods: dict[str, int] = {}  # ReplicaSet -> pods it keeps (as found at start)

    def __enter__(self) -> "Controller":
        for dep in self.store.list(resource_for_kind("Deployment"), None):
            self._templates[self._key(dep)] = dep["spec"].get("template")
        pods = self.store.list(resource_for_kind("Pod"), None)
        for rs in self.store.list(resource_for_kind("ReplicaSet"), None):
            self._pods[self._key(rs)] = len(self._owned(rs, pods))
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @staticmethod
    def _key(obj: dict) -> str:
        return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()

    def step(self) -> None:
        deployments = resource_for_kind("Deployment")
        for dep in self.store.list(deployments, None):
            meta, spec, status = dep["metadata"], dep.get("spec") or {}, dep.get("status") or {}
            gen = meta.get("generation") or 1
            if (status.get("observedGeneration") or 0) >= gen:
                continue
            n = spec.get("replicas", 1)
            if spec.get("template") != self._templates.get(self._key(dep)):
                ann = meta.setdefault("annotations", {})
                ann[REVISION] = str(int(ann.get(REVISION, "0")) + 1)
                self._templates[self._key(dep)] = spec.get("template")
            dep["status"] = {**status, "observedGeneration": gen, "replicas": n, "updatedReplicas": n,
                             "readyReplicas": n, "availableReplicas": n}
            self.store.add(dep)
        pods = self.store.list(resource_for_kind("Pod"), None)
        for rs in self.store.list(resource_for_kind("ReplicaSet"), None):
            for _ in range(max(0, self._pods.get(self._key(rs), 0) - len(self._owned(rs, pods)))):
                self.store.add(self._replacement(rs))

    @staticmethod
    def _owned(rs: dict, pods: list[dict]) -> list[dict]:
        return [p for p in pods if any(o.get("name") == rs["metadata"]["name"]
                                       for o in p["metadata"].get("ownerReferences") or [])]

    @staticmethod
    def _replacement(rs: dict) -> dict:
        meta = rs["metadata"]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{meta['name']}-{uuid.uuid4().hex[:5]}", "namespace": meta.get("namespace"),
                             "uid": str(uuid.uuid4()), "labels": dict(rs["spec"]["template"]["metadata"]["labels"]),
                             "creationTimestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                                  "name": meta["name"], "uid": meta.get("uid")}]},
                "spec": {"nodeName": "node-1", "containers": [{"name": "cart", "image": "cart:1.3"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
