"""Expiry the chat sees: remember which message shows a proposal's buttons, and edit it on expiry.

`remember_messages` stores, right after a diagnosis (or undo) message is posted, where each of its
proposals' buttons are (`remediation_proposals.message_ref`). `expire_and_update` is the periodic
sweep: `expire_due` moves overdue proposals to `expired` and, in the same transaction, marks their
message as owed an edit; the sweep then re-renders each owed proposal into its message (no
buttons, "expired") and clears the mark. Everything it needs is in the database and in the chat
message itself (the Slack surface reads the message back when it has no copy), so it works in any
process and after a restart; a message whose edit failed is retried by the next sweeps, up to
MAX_TRIES. A proposal expired by a click is not marked: the click already edited its message.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from bot.db import transaction
from bot.models import RemediationProposal
from bot.remediation.service import PENDING, expire_due
from bot.remediation.state import utcnow
from bot.remediation.tokens import Signer
from bot.remediation.views import ProposalView, aware, render
from bot.workflow.surface import MessageRef, Surface

log = logging.getLogger(__name__)
MAX_TRIES = 5  # failed edits of one message before the sweep stops trying (a deleted or archived channel)
BATCH = 200  # owed edits per sweep; the rest wait for the next one


@dataclass(frozen=True)
class OwedEdit:
    proposal_id: str
    platform: str
    ref: MessageRef
    view: ProposalView
    note: str


def remember_messages(factory: sessionmaker[Session], proposal_ids: Iterable[str], platform: str,
                      ref: MessageRef) -> int:
    """Record that `ref` on `platform` shows these proposals' buttons (empty ids, i.e. refused
    proposals, are skipped). Returns how many proposals were found. A proposal that expired before
    this ran is marked as owed an edit at once: its message was rendered while it was open."""
    ids = sorted({p for p in proposal_ids if p})
    if not ids:
        return 0
    where = {"platform": platform, "channel": ref.channel, "ts": ref.ts, "thread": ref.thread}
    with transaction(factory) as s:
        rows = s.execute(select(RemediationProposal).where(RemediationProposal.id.in_(ids))
                         .order_by(RemediationProposal.id).with_for_update()).scalars().all()
        for row in rows:
            row.message_ref = {**where, PENDING: "expired"} if row.state == "expired" else dict(where)
    return len(rows)


def _note(row: RemediationProposal) -> str:
    created, expires = aware(row.created_at), aware(row.expires_at)
    if created is None or expires is None:
        return "expired without approval"
    return f"expired after {round((expires - created).total_seconds() / 60)} min without approval"


def owed_edits(factory: sessionmaker[Session], signer: Signer, now: datetime | None = None,
               limit: int = BATCH) -> list[OwedEdit]:
    """Expired proposals whose message still shows their buttons, grouped by message."""
    with factory() as s:
        rows = s.execute(select(RemediationProposal)
                         .where(RemediationProposal.state == "expired",
                                RemediationProposal.message_ref[PENDING].as_string() == "expired")
                         .options(selectinload(RemediationProposal.approvals))
                         .order_by(RemediationProposal.decided_at, RemediationProposal.id).limit(limit)).scalars().all()
        edits = [OwedEdit(r.id, r.message_ref["platform"],
                          MessageRef(r.message_ref["channel"], r.message_ref["ts"], r.message_ref.get("thread")),
                          render(r, signer, now), _note(r)) for r in rows]
    # One message's proposals in a row: the Slack surface then reads that message back once.
    return sorted(edits, key=lambda e: (e.platform, e.ref.channel, e.ref.ts, e.proposal_id))


def settle(factory: sessionmaker[Session], proposal_id: str, error: str | None = None) -> bool:
    """Clear the owed mark after a successful edit (error None), or count a failed one; after
    MAX_TRIES failures the mark is replaced by the last error. Returns True when nothing is owed now."""
    with transaction(factory) as s:
        row = s.execute(select(RemediationProposal).where(RemediationProposal.id == proposal_id)
                        .with_for_update()).scalars().first()
        if row is None or not row.message_ref or PENDING not in row.message_ref:
            return True
        ref = dict(row.message_ref)
        if error is None:
            del ref[PENDING]
            ref.pop("tries", None)
        else:
            ref["tries"] = int(ref.get("tries", 0)) + 1
            if ref["tries"] >= MAX_TRIES:
                del ref[PENDING]
                ref["edit_failed"] = error[:300]
        row.message_ref = ref  # a new dict: the ORM sees the change
        return PENDING not in ref


async def expire_and_update(factory: sessionmaker[Session], surfaces: dict[str, Surface], signer: Signer,
                            now: datetime | None = None) -> list[str]:
    """One expiry sweep: expire overdue proposals, then edit every message owed an edit (this
    sweep's and earlier sweeps' failures). A failing chat call is logged and counted and the others
    go on. Returns the ids of the proposals this sweep expired."""
    now = now or utcnow()
    expired = await asyncio.to_thread(expire_due, factory, now)
    for edit in await asyncio.to_thread(owed_edits, factory, signer, now):
        surface = surfaces.get(edit.platform)
        if surface is None:  # another process serves that platform; the mark stays for it
            log.info("no %s surface here for the expiry of proposal %s", edit.platform, edit.proposal_id)
            continue
        try:
            await surface.update_proposal(edit.ref, edit.view, edit.note)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("could not show the expiry of proposal %s in %s message %s: %s", edit.proposal_id,
                        edit.platform, edit.ref.ts, error)
            if await asyncio.to_thread(settle, factory, edit.proposal_id, error):
                log.error("gave up showing the expiry of proposal %s after %d tries", edit.proposal_id, MAX_TRIES)
            continue
        await asyncio.to_thread(settle, factory, edit.proposal_id)
    return expired
