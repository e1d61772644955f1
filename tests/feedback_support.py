"""Shared by the feedback tests: diagnosed incidents as the workflow records them (an alert's, and a
/diagnose one opened through the real open_command_incident, whose audited opener is the requester)."""
from __future__ import annotations

from dataclasses import replace

from agents.diagnosis import Diagnosis, Evidence
from bot.db import transaction
from bot.feedback import FeedbackForm, FeedbackView, Verdict
from bot.models import AgentSession, Diagnosis as DiagnosisRow
from bot.workflow.incidents import open_command_incident
from tests.remediation_support import seed

DOCUMENT = Diagnosis(category="traffic_spike", component="cart", confidence=0.8,
                     summary="Load tripled; cart needs more replicas.",
                     evidence=[Evidence(tool="k8s_deployments", query="namespace=shop name=cart",
                                        finding="3/3 replicas busy, p99 latency tripled")])


def alert_diagnosis(factory, document: Diagnosis = DOCUMENT) -> tuple[str, str]:
    """(incident id, diagnosis id) of an alert incident (no requester) with a full typed diagnosis."""
    inc, diag = seed(factory)
    with transaction(factory) as s:
        row = s.get(DiagnosisRow, diag)
        row.document, row.category = document.model_dump(mode="json"), document.category
    return inc, diag


def command_diagnosis(factory, requester: str, platform: str = "slack") -> tuple[str, str]:
    """(incident id, diagnosis id) of a /diagnose asked by `requester` (platform:user)."""
    inc = open_command_incident(factory, "shop/cart", platform=platform, channel="C0OPS", user=requester,
                                namespace="shop", service="cart")
    with transaction(factory) as s:
        sess = AgentSession(incident_id=inc, trigger="command", engine="offline", status="succeeded")
        s.add(sess)
        s.flush()
        d = DiagnosisRow(session_id=sess.id, incident_id=inc, category=DOCUMENT.category, component="cart",
                         summary=DOCUMENT.summary, confidence=0.8, document=DOCUMENT.model_dump(mode="json"))
        s.add(d)
        s.flush()
        return inc, d.id


# Views for the rendering goldens: nobody answered yet, and three answers (one with hostile text).
FRESH = FeedbackView("D42", "feedback.tok-D42", "oom_killed")
ANSWERED = replace(FRESH, verdicts=(Verdict("slack:U0BOB", "right"), Verdict("console:alice", "right"),
                                    Verdict("teams:6b703ce3-6d14-4fe6-b90c-dc5f03657ae4", "wrong", "dns_failure",
                                            "coredns ConfigMap edited <!channel>")))
FORM = FeedbackForm("D42", "feedback.tok-D42", "oom_killed")
