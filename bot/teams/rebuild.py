"""A Teams card rebuilt from the database, for a process that did not post it (a restart, a worker,
another web replica). Teams cannot read a bot's message back, unlike Slack; but everything on the
card is in the database: `remediation_proposals.message_ref` (bot/workflow/expiry.py) says which
proposals a message shows, and their diagnosis row holds the whole typed Diagnosis.

The rebuilt card shows every proposal in its current state and the feedback given so far (a
feedback click names its diagnosis, so a card without proposals is rebuilt from that). It lacks
what was never stored:
proposals refused before storage, the chart, an undo message's intro line; and its evidence
links are dropped, since the hosts allowed when it was posted are not known here.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from agents.diagnosis import Diagnosis
from bot.evidence_links import with_safe_links
from bot.feedback import view_of
from bot.models import Diagnosis as DiagnosisRow, RemediationProposal
from bot.remediation.tokens import Signer
from bot.remediation.views import render
from bot.teams import cards
from bot.workflow.surface import DiagnosisPost, MessageRef

PLATFORM = "teams"


def rebuild_card(factory: sessionmaker[Session], signer: Signer, ref: MessageRef) -> dict | None:
    """The card of the Teams message `ref`, or None when no proposal is recorded on it."""
    now = datetime.now(timezone.utc)
    where = RemediationProposal.message_ref
    with factory() as s:
        rows = s.execute(select(RemediationProposal)
                         .where(where["platform"].as_string() == PLATFORM, where["ts"].as_string() == ref.ts,
                                where["channel"].as_string() == ref.channel)
                         .options(selectinload(RemediationProposal.approvals))
                         .order_by(RemediationProposal.created_at, RemediationProposal.id)).scalars().all()
        if not rows:
            return None
        if all(r.undo_of for r in rows):  # an undo posted on its own (proposal_card)
            return cards.proposal_card(render(rows[0], signer, now))
        diagnosis = s.get(DiagnosisRow, rows[0].diagnosis_id) if rows[0].diagnosis_id else None
        return _diagnosis_card(s, diagnosis, signer, now) if diagnosis is not None else None


def rebuild_diagnosis_card(factory: sessionmaker[Session], signer: Signer, diagnosis_id: str) -> dict | None:
    """The card of a diagnosis, whatever message it is on (a feedback click names its diagnosis)."""
    with factory() as s:
        diagnosis = s.get(DiagnosisRow, diagnosis_id)
        return _diagnosis_card(s, diagnosis, signer, datetime.now(timezone.utc)) if diagnosis is not None else None


def _diagnosis_card(s: Session, diagnosis: DiagnosisRow, signer: Signer, now: datetime) -> dict:
    shown = s.execute(select(RemediationProposal)
                      .where(RemediationProposal.diagnosis_id == diagnosis.id, RemediationProposal.undo_of.is_(None))
                      .options(selectinload(RemediationProposal.approvals))
                      .order_by(RemediationProposal.created_at, RemediationProposal.id)).scalars().all()
    post = DiagnosisPost(incident_id=diagnosis.incident_id, session_id=diagnosis.session_id,
                         diagnosis=with_safe_links(Diagnosis.model_validate(diagnosis.document), ()),
                         proposals=[render(r, signer, now) for r in shown], engine="recorded",
                         feedback=view_of(s, diagnosis, signer))
    return cards.diagnosis_card(post)
