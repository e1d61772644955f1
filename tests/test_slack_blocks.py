"""Block Kit rendering: golden JSON for each view, Slack's limits under hostile sizes, escaping.

Goldens live in tests/golden/slack/; regenerate after an intended change with
UPDATE_GOLDENS=1 .venv/bin/pytest tests/test_slack_blocks.py
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from slack_sdk.models.blocks import Block

from agents.diagnosis import Diagnosis, Evidence, SimilarIncident, TimelineEntry
from bot.remediation import ProposalView, confirm_text
from bot.slack import blocks as bk
from bot.workflow.surface import DiagnosisPost, ProgressView
from tests.feedback_support import ANSWERED, FRESH
from tests.support import REPO, check_golden

GOLDEN = REPO / "tests" / "golden" / "slack"
EXPIRES = datetime(2025, 3, 4, 10, 30, tzinfo=timezone.utc)


def view(pid: str, action_type: str, target: str, risk: str, *, namespace: str | None = "shop",
         parameters: dict | None = None, required: int = 1, **kw) -> ProposalView:
    text = f"{action_type.replace('_', ' ')} {namespace + '/' if namespace else ''}{target}"
    if parameters:
        text += " (" + ", ".join(f"{k}={v}" for k, v in parameters.items()) + ")"
    base = dict(proposal_id=pid, token=f"v1.tok-{pid}", incident_id="INC42", action_type=action_type, target=target,
                namespace=namespace, parameters=parameters or {}, action_text=text, risk=risk, state="proposed",
                approvals_required=required, approvals_received=0, approvers=(), expires_at=EXPIRES, offerable=True,
                reason=None, confirm_text=confirm_text(text, risk, required), requested_by="slack:U0REQ",
                rationale="restarts clear the leaked connections")
    base.update(kw)
    return ProposalView(**base)


def diagnosis() -> Diagnosis:
    return Diagnosis(
        category="oom_killed", component="cart", confidence=0.86,
        summary="cart containers are OOMKilled: memory grows to the 256Mi limit within minutes of start. "
                "Raise the limit, then look for the leak.",
        evidence=[
            Evidence(tool="k8s_pods", query="namespace=shop label app=cart", finding="3 restarts, last reason "
                     "OOMKilled (exit 137)", time="2025-03-04T10:02:11Z"),
            Evidence(tool="prom_named", query="container_memory_working_set{pod=~\"cart-.*\"}",
                     finding="working set 255Mi of 256Mi limit before each restart",
                     link="http://prometheus:9090/graph?g0.expr=container_memory_working_set_bytes&g0.tab=0"),
            Evidence(tool="search_logs", query="service:cart level:error", finding="no application errors "
                     "before the kills <!channel>"),
        ],
        timeline=[TimelineEntry(time="2025-03-04T09:58:00Z", event="rollout of cart v2.3.1"),
                  TimelineEntry(time="2025-03-04T10:02:11Z", event="first OOMKilled")],
        similar_incidents=[SimilarIncident(id="INC-2024-117", title="cart OOM after cache change",
                                           source="incident", score=0.71, action="set_resources"),
                           SimilarIncident(id="runbook-oom", title="OOMKilled containers", source="runbook",
                                           score=0.55)],
        unavailable_sources=["opensearch: connection refused (http://opensearch:9200)"])


def post(*proposals: ProposalView) -> DiagnosisPost:
    return DiagnosisPost(incident_id="INC42", session_id="S7", diagnosis=diagnosis(), proposals=list(proposals),
                         engine="offline")


MEDIUM = view("P-med", "set_resources", "cart", "MEDIUM", parameters={"container": "cart", "memory_limit": "512Mi"})
HIGH = view("P-high", "rollback_deployment", "cart", "HIGH")
BLOCKED = view("P-blocked", "scale_deployment", "cart", "MEDIUM", parameters={"replicas": 80}, offerable=False,
               token="", reason="replicas 80 outside the allowed range 1..50")

CASES = {
    "diagnosis_medium_high": lambda: bk.diagnosis(post(MEDIUM, HIGH)),
    "diagnosis_blocked": lambda: bk.diagnosis(post(BLOCKED)),
    "progress_step": lambda: bk.progress(ProgressView("INC42", 3, 12, "prom_named: ok")),
    "progress_starting": lambda: bk.progress(ProgressView("INC42", 0, None, "starting")),
    "progress_done": lambda: bk.progress(ProgressView("INC42", 9, 12, "done: 9 tool calls in 2.1s", done=True)),
    "feedback_diagnosis": lambda: bk.diagnosis(replace(post(MEDIUM, HIGH), feedback=FRESH)),
    "feedback_answered": lambda: (None, bk.replace_feedback(
        bk.diagnosis(replace(post(MEDIUM, HIGH), feedback=FRESH))[1], ANSWERED)),
    "proposal_approved": lambda: (None, bk.replace_proposal(
        bk.diagnosis(post(MEDIUM, HIGH))[1],
        replace(MEDIUM, state="succeeded", offerable=False, token="", approvers=("slack:U0BOB",)),
        "bob approved; executed: deployment shop/cart memory limit set to 512Mi, rollout complete")),
}


def validate(blocks: list[dict]) -> None:
    """slack_sdk's own model validation: every documented length and count limit."""
    assert 0 < len(blocks) <= bk.MAX_BLOCKS
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)), "block ids must be unique within a message"
    for b in blocks:
        Block.parse(b).validate_json()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name):
    text, blocks = CASES[name]()
    validate(blocks)
    check_golden(GOLDEN / f"{name}.json", {"text": text, "blocks": blocks})


def _buttons(blocks: list[dict]) -> dict[str, list[dict]]:
    return {b["block_id"]: b["elements"] for b in blocks if b["type"] == "actions"}


def test_buttons_style_confirm_and_value_by_risk():
    _, blocks = bk.diagnosis(post(MEDIUM, HIGH, BLOCKED))
    acts = _buttons(blocks)
    assert set(acts) == {"proposal_actions:P-med", "proposal_actions:P-high"}  # the blocked one has none
    med_approve, med_reject = acts["proposal_actions:P-med"]
    high_approve, _ = acts["proposal_actions:P-high"]
    assert med_approve["style"] == "primary" and high_approve["style"] == "danger"
    assert high_approve["confirm"]["style"] == "danger"
    assert med_approve["value"] == "P-med|v1.tok-P-med" and med_reject["value"] == med_approve["value"]
    assert med_approve["action_id"] == bk.APPROVE and med_reject["action_id"] == bk.REJECT
    confirm = high_approve["confirm"]["text"]["text"]
    assert "rollback deployment shop/cart" in confirm and "Risk HIGH" in confirm
    assert "cannot approve your own request" in confirm  # HIGH: no self-approval, said before the click
    blocked = next(b for b in blocks if b.get("block_id") == "proposal:P-blocked")
    assert "Not offered" in blocked["text"]["text"] and "outside the allowed range" in blocked["text"]["text"]


def test_untrusted_text_is_escaped_and_links_are_sanitised():
    d = diagnosis()
    d.evidence.append(Evidence(tool="x", finding="evil <https://phish.example|click> & more",
                               link="javascript:alert(1)"))
    d.evidence.append(Evidence(tool="y", finding="graph", link="https://prom/graph?q=a|b>c"))
    text, blocks = bk.diagnosis(DiagnosisPost("INC1", "S1", d))
    dump = json.dumps(blocks)
    assert "<!channel>" not in dump and "&lt;!channel&gt;" in dump
    assert "<https://phish.example|click>" not in dump and "&lt;https://phish.example|click&gt; &amp; more" in dump
    assert "javascript:" not in dump
    assert "<https://prom/graph?q=a%7Cb%3Ec|open>" in dump


def test_limits_hold_for_huge_diagnoses():
    long = "x" * 5000
    d = Diagnosis(category="unknown", component="c" * 300, confidence=0.2, summary="s" * 1200,
                  evidence=[Evidence(tool="t", query=long, finding=f"{i} " + long, link="https://e/" + "p" * 2000)
                            for i in range(60)],
                  timeline=[TimelineEntry(time="t", event=long) for _ in range(40)],
                  similar_incidents=[SimilarIncident(id=str(i), title=long) for i in range(30)],
                  unavailable_sources=[long] * 5)
    props = [view(f"P{i}", "set_resources", "n" * 200, "CRITICAL", required=2,
                  parameters={"container": "c" * 300, "memory_limit": "1Gi"}) for i in range(30)]
    text, blocks = bk.diagnosis(DiagnosisPost("INC1", "S1", d, proposals=props))
    validate(blocks)
    assert len(text) <= bk.MAX_FALLBACK
    assert any("more proposals" in json.dumps(b) for b in blocks)  # the rest is counted, not dropped silently
    assert any("…and" in json.dumps(b, ensure_ascii=False) for b in blocks if b["type"] == "section")
    for elements in _buttons(blocks).values():
        approve = elements[0]
        body = approve["confirm"]["text"]["text"]
        assert len(body) <= bk.MAX_CONFIRM_TEXT and len(approve["text"]["text"]) <= bk.MAX_BUTTON
        # the action was shortened, never the risk or approval requirements
        assert "Risk CRITICAL" in body and "2 approvals from 2 different allowed approvers" in body


def test_replace_proposal_touches_only_that_proposal():
    _, blocks = bk.diagnosis(post(MEDIUM, HIGH))
    rejected = replace(HIGH, state="rejected", offerable=False, token="")
    new = bk.replace_proposal(blocks, rejected, "carol rejected")
    validate(new)
    assert "proposal_actions:P-high" not in _buttons(new) and "proposal_actions:P-med" in _buttons(new)
    assert next(b for b in new if b.get("block_id") == "proposal_note:P-high")["elements"][0]["text"] == \
        "carol rejected"
    untouched = [b for b in blocks if "P-high" not in b.get("block_id", "")]
    assert [b for b in new if "P-high" not in b.get("block_id", "")] == untouched
    assert bk.replace_proposal(blocks, replace(HIGH, proposal_id="P-other"), "x") is None

    # a CRITICAL proposal with one of two approvals keeps its buttons, with the count updated
    crit = view("P-crit", "cordon_node", "node-1", "CRITICAL", namespace=None, required=2)
    _, blocks = bk.diagnosis(post(crit))
    once = replace(crit, approvals_received=1, approvers=("slack:U0BOB",),
                   confirm_text=confirm_text(crit.action_text, "CRITICAL", 2, 1))
    new = bk.replace_proposal(blocks, once, "bob approved (more approvals needed)")
    section = next(b for b in new if b.get("block_id") == "proposal:P-crit")["text"]["text"]
    assert "needs 1 more approval (1/2)" in section and "<@U0BOB>" in section
    assert "Needs 1 more approval from a different allowed approver" in \
        _buttons(new)["proposal_actions:P-crit"][0]["confirm"]["text"]["text"]


def test_progress_text_and_clip_never_splits_an_entity():
    text, blocks = bk.progress(ProgressView(None, 2, None, "k8s_pods: <error>"))
    assert text == ":hourglass_flowing_sand: Investigating… step 2 · k8s_pods: &lt;error&gt;"
    assert len(blocks) == 1  # no incident, no context line
    assert bk.clip("a" * 8 + "&amp;", 10) == "a" * 8 + "…"
