"""A seeded incident history for the weekly digest tests: two weeks (2026-W48 and 2026-W49, UTC)
plus one older incident, with diagnoses of several confidences (two `unknown`), feedback (right,
wrong with a corrected category, a tie), executed actions that did and did not resolve the alert,
an approval, a rejection, an expiry, a blocked proposal, resolves and one incident still open;
and a knowledge base of three runbooks, two of them changed during W49.

The figures each test expects are worked out by hand in tests/test_digest_compute.py."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.db import transaction
from bot.models import AgentSession, Approval, Diagnosis, Feedback, Incident, RemediationProposal

WEEK = "2026-W49"  # Monday 2026-11-30 .. Sunday 2026-12-06
AFTER_WEEK = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)  # the Monday 09:00 the digest is due


def t(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


# id: (alert, namespace, service, severity, opened, resolved)
INCIDENTS = {
    "inc-k": ("DiskFull", "infra", "logging", "warning", t(11, 18, 12), t(11, 18, 14)),
    "inc-l1": ("KubePodCrashLooping", "shop", "cart", "warning", t(11, 24, 10), t(11, 24, 10, 30)),
    "inc-l2": ("HighErrorRate", "shop", "checkout", "critical", t(11, 25, 14), t(11, 25, 15)),
    "inc-l3": ("DiskFull", "infra", "logging", "warning", t(11, 27, 8), t(11, 30, 7)),
    "inc-a": ("KubePodCrashLooping", "shop", "cart", "warning", t(11, 30, 9), t(11, 30, 9, 8)),
    "inc-b": ("KubePodCrashLooping", "shop", "cart", "warning", t(12, 1, 9), t(12, 1, 9, 5)),
    "inc-c": ("KubePodCrashLooping", "shop", "cart", "warning", t(12, 2, 9), t(12, 2, 9, 6)),
    "inc-d": ("HighErrorRate", "shop", "checkout", "critical", t(12, 2, 14), t(12, 2, 14, 40)),
    "inc-e": ("HighErrorRate", "shop", "checkout", "critical", t(12, 3, 10), t(12, 3, 11, 30)),
    "inc-f": ("NodeNotReady", "infra", None, "critical", t(12, 4, 2), t(12, 4, 3)),
    "inc-g": (None, "shop", "payments", None, t(12, 5, 16), None),  # a /diagnose, still open
    "inc-h": ("NodeNotReady", "infra", None, "critical", t(12, 6, 5), t(12, 6, 5, 50)),
}
# incident: (category, confidence, created, posted)
DIAGNOSES = {
    "inc-k": ("disk_full", 0.75, t(11, 18, 12, 3), t(11, 18, 12, 3)),
    "inc-l1": ("oom_killed", 0.9, t(11, 24, 10, 2), t(11, 24, 10, 3)),
    "inc-l2": ("bad_deploy", 0.8, t(11, 25, 14, 5), t(11, 25, 14, 5)),
    "inc-l3": ("disk_full", 0.7, t(11, 27, 8, 4), t(11, 27, 8, 4)),
    "inc-a": ("unknown", 0.2, t(11, 30, 9, 2), t(11, 30, 9, 3)),
    "inc-b": ("unknown", 0.3, t(12, 1, 9, 2), t(12, 1, 9, 2)),
    "inc-c": ("oom_killed", 0.45, t(12, 2, 9, 4), t(12, 2, 9, 4)),
    "inc-d": ("bad_deploy", 0.85, t(12, 2, 14, 3), t(12, 2, 14, 4)),
    "inc-e": ("bad_deploy", 0.8, t(12, 3, 10, 5), t(12, 3, 10, 6)),
    "inc-f": ("node_pressure", 0.6, t(12, 4, 2, 10), t(12, 4, 2, 11)),
    "inc-g": ("slow_query", 0.4, t(12, 5, 16, 5), t(12, 5, 16, 6)),
    "inc-h": ("node_pressure", 0.55, t(12, 6, 5, 4), None),  # recorded, never posted
}
# incident: [(actor, verdict, corrected category, note, at)]
FEEDBACK = {
    "inc-l2": [("slack:U0ALICE", "right", None, None, t(11, 25, 15, 10))],
    "inc-c": [("slack:U0ALICE", "right", None, None, t(12, 2, 9, 20))],
    "inc-d": [("slack:U0ALICE", "right", None, None, t(12, 2, 14, 30)),
              ("slack:U0BOB", "right", None, None, t(12, 2, 14, 35))],
    "inc-e": [("slack:U0BOB", "wrong", None, "not the image", t(12, 3, 10, 40)),
              ("slack:U0ALICE", "right", None, None, t(12, 3, 10, 45)),
              ("teams:carol-oid", "wrong", "config_error", "a bad ConfigMap", t(12, 3, 10, 50))],
    "inc-f": [("slack:U0ALICE", "right", None, None, t(12, 4, 2, 20)),
              ("slack:U0BOB", "wrong", None, None, t(12, 4, 2, 25))],  # a tie: the latest (wrong) wins
}
# id: (incident, action, target, risk, state, created, decided, executed, effective, blocked, votes)
PROPOSALS = {
    "prop-l2": ("inc-l2", "rollback_deployment", "checkout", "HIGH", "succeeded", t(11, 25, 14, 6),
                t(11, 25, 14, 20), t(11, 25, 14, 21), True, None, [("slack", "U0ALICE", "approve", t(11, 25, 14, 20))]),
    "prop-1": ("inc-d", "rollback_deployment", "checkout", "HIGH", "succeeded", t(12, 2, 14, 4), t(12, 2, 14, 10),
               t(12, 2, 14, 11), True, None, [("slack", "U0ALICE", "approve", t(12, 2, 14, 10))]),
    "prop-2": ("inc-e", "rollback_deployment", "checkout", "HIGH", "failed", t(12, 3, 10, 6), t(12, 3, 10, 20),
               t(12, 3, 10, 21), False, None, [("slack", "U0BOB", "approve", t(12, 3, 10, 20))]),
    "prop-3": ("inc-f", "cordon_node", "node-7", "HIGH", "rejected", t(12, 4, 2, 11), t(12, 4, 2, 15), None, None,
               None, [("slack", "U0BOB", "reject", t(12, 4, 2, 15))]),
    "prop-4": ("inc-g", "scale_deployment", "payments", "MEDIUM", "expired", t(12, 5, 16, 6), t(12, 5, 16, 36),
               None, None, None, []),
    "prop-5": ("inc-g", "restart_deployment", "payments", "MEDIUM", "proposed", t(12, 5, 16, 6), None, None, None,
               "server-side dry run failed: deployments.apps \"payments\" is forbidden", []),
}

RUNBOOKS = {  # file: (front matter, body, mtime)
    "crashloop.md": ("title: Crash loops\nservices: [any]\ncategories: [oom_killed]",
                     "# Crash loops\n\nWhen `KubePodCrashLooping` fires, read the last termination reason.\n",
                     t(12, 1, 12)),
    "bad-deploy.md": ("title: Bad deploy\nservices: [any]\ncategories: [bad_deploy]",
                      "# Bad deploy\n\nRoll back the Deployment to its previous revision.\n", t(11, 10, 12)),
    "disk.md": ("title: Disk full\nservices: [logging]\ncategories: [disk_full]",
                "# Disk full\n\nFree space on the volume, then grow the PVC.\n", t(12, 3, 8)),
}


def seed(factory) -> None:  # noqa: ANN001
    with transaction(factory) as s:
        for iid, (alert, ns, svc, sev, opened, resolved) in INCIDENTS.items():
            s.add(Incident(id=iid, source="command" if alert is None else "alertmanager", platform="slack",
                           channel="C0ALERTS", alert_name=alert, title=f"{alert or 'diagnose'} {ns}/{svc or 'node'}",
                           service=svc, namespace=ns, severity=sev, status="resolved" if resolved else "open",
                           labels={}, opened_at=opened, resolved_at=resolved, last_seen_at=opened))
        s.flush()
        for iid, (cat, conf, created, posted) in DIAGNOSES.items():
            sid = f"sess-{iid[4:]}"
            s.add(AgentSession(id=sid, incident_id=iid, trigger="alert", engine="offline", status="succeeded",
                               started_at=created, finished_at=created))
            s.flush()
            s.add(Diagnosis(id=f"diag-{iid[4:]}", session_id=sid, incident_id=iid, category=cat, component=None,
                            summary=f"{cat} on {iid}", confidence=conf, evidence=[], document={}, created_at=created,
                            posted_at=posted))
        s.flush()
        for iid, rows in FEEDBACK.items():
            for actor, verdict, cat, note, at in rows:
                s.add(Feedback(diagnosis_id=f"diag-{iid[4:]}", incident_id=iid, actor=actor,
                               platform=actor.split(":")[0], verdict=verdict, category=cat, note=note, created_at=at,
                               updated_at=at))
        for pid, (iid, action, target, risk, state, created, decided, executed, effective, blocked, votes) in \
                PROPOSALS.items():
            s.add(RemediationProposal(id=pid, diagnosis_id=f"diag-{iid[4:]}", incident_id=iid, action_type=action,
                                      target=target, namespace=INCIDENTS[iid][1], parameters={}, risk=risk,
                                      state=state, approvals_required=1, requested_by="bot", created_at=created,
                                      expires_at=created + timedelta(minutes=30), decided_at=decided, executed_at=executed, result={},
                                      action_text=f"{action.replace('_', ' ')} {target}", blocked_reason=blocked,
                                      effective=effective, effective_checked_at=executed))
            s.flush()
            for platform, who, decision, at in votes:
                s.add(Approval(proposal_id=pid, approver=who, platform=platform, decision=decision, created_at=at))


def runbook_dir(root: Path) -> Path:
    folder = root / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (front, body, mtime) in RUNBOOKS.items():
        path = folder / name
        path.write_text(f"---\n{front}\n---\n{body}")
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return folder


def knowledge_base(root: Path):  # noqa: ANN201
    """A real KnowledgeBase (embedded Chroma, BM25) holding the three runbooks."""
    from knowledge import KnowledgeBase

    kb = KnowledgeBase(root / "kb")
    kb.ingest(runbook_dir(root))
    return kb
