"""The platform-neutral render model of a proposal: Slack, Teams and the console all draw this.

A view with `offerable=False` must not get approve/reject buttons; `reason` says why
(validation or dry run failed, expired, already decided, refused as out of scope). Refused
proposals were never stored: they have state "refused" and no id or token.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bot.remediation.policy import ApprovalPolicy

REFUSED = "refused"


def aware(ts: datetime | None) -> datetime | None:
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts


@dataclass(frozen=True)
class ProposalView:
    proposal_id: str
    token: str
    incident_id: str | None
    action_type: str
    target: str
    namespace: str | None
    parameters: dict[str, Any]
    action_text: str
    risk: str
    state: str
    approvals_required: int
    approvals_received: int
    approvers: tuple[str, ...]
    expires_at: datetime | None
    offerable: bool
    reason: str | None
    confirm_text: str
    requested_by: str | None = None
    rationale: str | None = None
    undo_of: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


def confirm_text(action_text: str, risk: str, required: int, received: int = 0) -> str:
    missing = max(required - received, 0)
    text = f"This will {action_text}. Risk {risk}."
    if missing == 0:
        return text
    if required > 1:
        need = (f"Needs {missing} more approval{'s' if missing > 1 else ''} from a different allowed approver"
                if received else f"Needs {required} approvals from {required} different allowed approvers")
    else:
        need = "Needs 1 approval from an allowed approver"
    own = "; you cannot approve your own request." if ApprovalPolicy.self_approval_forbidden(risk) else "."
    return f"{text} {need}{own}"


def render(row, signer, now: datetime | None = None) -> ProposalView:  # noqa: ANN001
    """View of a stored RemediationProposal (its approvals relationship is read)."""
    now = now or datetime.now(timezone.utc)
    expires = aware(row.expires_at)
    votes = [a for a in row.approvals if a.decision == "approve"]
    received = len({(a.platform, a.approver) for a in votes})
    reason = row.blocked_reason
    offerable = row.state == "proposed" and not reason
    if offerable and expires is not None and now >= expires:
        offerable, reason = False, "expired"
    if row.state != "proposed" and not reason:
        reason = f"already {row.state}"
    text = row.action_text or f"{row.action_type} {row.namespace + '/' if row.namespace else ''}{row.target}"
    return ProposalView(
        proposal_id=row.id, token=signer.sign(row) if offerable else "", incident_id=row.incident_id,
        action_type=row.action_type, target=row.target, namespace=row.namespace, parameters=dict(row.parameters or {}),
        action_text=text, risk=row.risk, state=row.state, approvals_required=row.approvals_required,
        approvals_received=received, approvers=tuple(f"{a.platform}:{a.approver}" for a in votes),
        expires_at=expires, offerable=offerable, reason=None if offerable else reason,
        confirm_text=confirm_text(text, row.risk, row.approvals_required, received),
        requested_by=row.requested_by, rationale=row.rationale, undo_of=row.undo_of, result=dict(row.result or {}))


def refused(action_type: str, target: str, namespace: str | None, parameters: dict[str, Any], risk: str,
            reason: str, incident_id: str | None, rationale: str | None = None) -> ProposalView:
    text = f"{action_type} {namespace + '/' if namespace else ''}{target}"
    return ProposalView(proposal_id="", token="", incident_id=incident_id, action_type=action_type, target=target,
                        namespace=namespace, parameters=dict(parameters or {}), action_text=text, risk=risk,
                        state=REFUSED, approvals_required=0, approvals_received=0, approvers=(), expires_at=None,
                        offerable=False, reason=reason, confirm_text="", rationale=rationale)


@dataclass
class ClickResult:
    """What a click did. status is one of: recorded (vote counted, more needed), executed, failed
    (approved, but the action failed or did not verify), rejected (proposal rejected), duplicate,
    denied (policy), invalid_token, already_decided (replay), expired, not_offerable, not_found."""

    ok: bool
    status: str
    message: str
    view: ProposalView | None = None
    undo: ProposalView | None = None
    executed: bool = False
