"""Conversation references in the database (`conversations`, platform "teams"), so any process can
post proactively, also after a restart, without anyone typing a command first.

A reference is stored per conversation (a channel, group chat or personal chat) under its id
without the `;messageid=` thread suffix: on install (conversationUpdate with the bot among the
members added, installationUpdate), on every conversationUpdate and on every message. It holds
the ConversationReference as the Bot Framework writes it (serviceUrl, bot, conversation with its
type), plus the tenant, which the SDK's own (de)serialisation drops and channel threads need.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.models import Conversation
from tools.storable import storable, storable_json

PLATFORM = "teams"
THREAD = ";messageid="


def bare_id(conversation_id: str) -> str:
    """A channel thread's conversation id (`19:…@thread.tacv2;messageid=123`) without the thread."""
    return conversation_id.split(THREAD, 1)[0]


def thread_of(conversation_id: str) -> str | None:
    """The root activity id of a channel thread's conversation id, or None."""
    _, sep, root = conversation_id.partition(THREAD)
    return (root or None) if sep else None


@dataclass(frozen=True)
class StoredReference:
    channel_id: str  # the bare conversation id
    kind: str  # channel | groupChat | personal
    service_url: str
    tenant_id: str | None
    name: str | None
    reference: dict[str, Any]

    @property
    def threaded(self) -> bool:
        """Only channels have reply chains; chats are one stream."""
        return self.kind == "channel"

    def conversation_id(self, thread: str | None) -> str:
        return f"{self.channel_id}{THREAD}{thread}" if thread and self.threaded else self.channel_id


def describe(reference: dict[str, Any], conversation_id: str, tenant_id: str | None,
             name: str | None = None) -> StoredReference:
    """The reference for the conversation `conversation_id` (a thread's id is reduced to its channel)."""
    channel = bare_id(conversation_id)
    conv = dict(reference.get("conversation") or {})
    conv.update(id=channel, **({"tenantId": tenant_id} if tenant_id else {}))
    ref = {**reference, "conversation": conv}
    ref.pop("activityId", None)
    kind = conv.get("conversationType") or ("groupChat" if conv.get("isGroup") else "personal")
    return StoredReference(channel, str(kind), str(ref.get("serviceUrl") or ""), tenant_id, name, ref)


def save(factory: sessionmaker[Session], ref: StoredReference) -> None:
    """Insert or update the row of `ref.channel_id` (a concurrent insert by another process wins the
    race and is then updated)."""
    for attempt in (1, 2):
        try:
            with transaction(factory) as s:
                row = s.execute(select(Conversation).where(Conversation.platform == PLATFORM,
                                                           Conversation.channel_id == ref.channel_id)
                                .with_for_update()).scalars().first()
                if row is None:
                    row = Conversation(platform=PLATFORM, channel_id=ref.channel_id)
                    s.add(row)
                row.service_url = storable(ref.service_url, 500)
                row.tenant_id = storable(ref.tenant_id, 100) if ref.tenant_id else row.tenant_id
                row.name = storable(ref.name, 300) if ref.name else row.name
                row.reference = storable_json({**ref.reference, "conversation": {
                    **ref.reference["conversation"], **({"tenantId": row.tenant_id} if row.tenant_id else {})}})
            return
        except IntegrityError:  # (platform, channel_id) is unique: another process inserted it first
            if attempt == 2:
                raise


def load(factory: sessionmaker[Session], channel_id: str) -> StoredReference | None:
    with factory() as s:
        row = s.execute(select(Conversation).where(Conversation.platform == PLATFORM,
                                                   Conversation.channel_id == bare_id(channel_id))).scalars().first()
        if row is None:
            return None
        conv = (row.reference or {}).get("conversation") or {}
        return StoredReference(row.channel_id, str(conv.get("conversationType") or "personal"), row.service_url or "",
                               row.tenant_id, row.name, dict(row.reference or {}))


def forget(factory: sessionmaker[Session], channel_id: str) -> None:
    """The bot was removed from the conversation: a post there would fail, so say so early instead."""
    with transaction(factory) as s:
        s.execute(delete(Conversation).where(Conversation.platform == PLATFORM,
                                             Conversation.channel_id == bare_id(channel_id)))
