"""The week's remediation proposals (created in the week): how far each got, who decided, and
whether the alert resolved after each executed action."""
from __future__ import annotations

from collections import defaultdict

from bot.digest.facts import Facts, aware
from bot.digest.model import Approver, ExecutedAction, Remediations

REACHED_APPROVAL = ("approved", "executing", "succeeded", "failed")


def remediations(f: Facts) -> Remediations:
    r = Remediations()
    votes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in f.week_proposals:
        if p.blocked_reason:
            r.not_offered += 1
            continue
        r.proposed += 1
        r.approved += p.state in REACHED_APPROVAL
        if p.state in ("rejected", "expired", "succeeded", "failed"):
            setattr(r, p.state, getattr(r, p.state) + 1)
        r.awaiting += p.state == "proposed"
        for a in f.approvals.get(p.id, ()):
            votes[f"{a.platform}:{a.approver}"][a.decision != "approve"] += 1
        if p.state in ("succeeded", "failed") and p.executed_at is not None:
            r.executed.append(ExecutedAction(
                proposal_id=p.id, incident_id=p.incident_id, action=p.action_text or f"{p.action_type} {p.target}",
                state=p.state, executed_at=aware(p.executed_at), alert_resolved=p.effective,
                approvers=sorted(f"{a.platform}:{a.approver}" for a in f.approvals.get(p.id, ())
                                 if a.decision == "approve")))
    r.approvers = sorted((Approver(who=k, approved=v[0], rejected=v[1]) for k, v in votes.items()),
                         key=lambda a: (-(a.approved + a.rejected), a.who))
    r.executed.sort(key=lambda e: (e.executed_at, e.proposal_id))
    return r
