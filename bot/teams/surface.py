"""TeamsSurface: the workflow's Surface over the Bot Connector, posting proactively from stored
conversation references (bot/teams/references.py), so it works in any process and after a restart.

Where things go:
- A channel has reply chains. `thread=None` starts a new thread (the Bot Connector's
  create-conversation in the channel: the root activity's id is the thread id); a reply goes to
  the conversation `<channel id>;messageid=<root id>`. Group and personal chats have no chains:
  everything is a message in the chat, and `thread` only keeps the workflow's bookkeeping.
- Progress, diagnoses and proposals are Adaptive Cards (bot/teams/cards.py); progress and
  proposals are edited in place with the Bot Connector's update (PUT).
- The chart rides inside the diagnosis card as a data URI (a palette PNG, about a quarter of
  matplotlib's size) when the card stays under Teams' ~28 KB message limit; otherwise the card says
  it was left out. So `upload_chart` does nothing: bots cannot upload files to Teams channels.
- To refresh one proposal, the surface needs the card it sits on: the last card sent per activity is
  kept in memory, and a process that did not send it rebuilds it from the database
  (bot/teams/rebuild.py), since Teams cannot read a bot's message back.
- Teams has no ephemeral messages. During a click on an Action.Execute button, what the workflow
  says to the clicker goes into the invoke response, which only the clicker sees (`ClickReply`).
  Otherwise (an Action.Submit click from an older client, or after the invoke was answered) it is
  a reply in the thread @mentioning the person: visible to the channel, but it notifies them.
"""
from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bot.teams import cards, references
from bot.teams.adapter import ConnectorError
from bot.teams.markdown import esc, plain
from bot.teams.rebuild import rebuild_card, rebuild_diagnosis_card
from bot.teams.references import StoredReference
from bot.workflow.surface import DiagnosisPost, MessageRef, ProgressView

log = logging.getLogger(__name__)
CHART_COLORS = 64  # a palette PNG of a matplotlib chart: about a quarter of its RGBA size, same look


class NoConversation(LookupError):
    """No stored reference for a conversation: the bot was never installed there (or was removed)."""


@dataclass
class ClickReply:
    """What the invoke response of one click carries (Teams shows it to the clicker only)."""
    user: str  # the clicker's Entra object id
    teams_id: str  # their Teams id (29:…), for an @mention
    name: str
    activity_id: str  # the clicked card's activity
    invoke: bool  # adaptiveCard/action (answered privately) or Action.Submit (no private answer)
    card: dict | None = None
    message: str | None = None
    answered: bool = False  # the invoke response is out: later notes go to the thread


CLICK: ContextVar[ClickReply | None] = ContextVar("teams_click", default=None)


def chart_data_uri(png: bytes) -> str:
    """The chart as a data URI, re-encoded as a palette PNG when that is smaller."""
    data = png
    try:
        from PIL import Image

        out = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=CHART_COLORS).save(out, "PNG", optimize=True)
        data = min(png, out.getvalue(), key=len)
    except Exception:  # an unreadable PNG is sent as it is
        log.debug("chart re-encoding failed", exc_info=True)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def message(card: dict) -> dict:
    return {"type": "message", "attachments": [cards.attachment(card)]}


class TeamsSurface:
    platform = "teams"

    def __init__(self, adapter: Any, factory: Any, signer: Any, *, cache_size: int = 500):
        self.adapter = adapter  # bot.teams.adapter.TeamsAdapter
        self.factory = factory
        self.signer = signer
        self.cache_size = cache_size
        self._cards: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._refs: dict[str, StoredReference] = {}

    # ---- references and cards ------------------------------------------------------------------
    def remember_reference(self, ref: StoredReference) -> None:
        self._refs[ref.channel_id] = ref

    def forget_reference(self, channel: str) -> None:
        self._refs.pop(references.bare_id(channel), None)

    async def reference(self, channel: str) -> StoredReference:
        ref = self._refs.get(references.bare_id(channel))
        if ref is None:
            ref = await asyncio.to_thread(references.load, self.factory, channel)
            if ref is None:
                raise NoConversation(f"no stored Teams conversation {channel[:120]!r}: install the app there "
                                     "(or message the bot there) first")
            self._refs[ref.channel_id] = ref
        return ref

    def _remember(self, ref: MessageRef, card: dict) -> None:
        self._cards[(ref.channel, ref.ts)] = card
        self._cards.move_to_end((ref.channel, ref.ts))
        while len(self._cards) > self.cache_size:
            self._cards.popitem(last=False)

    async def _post(self, channel: str, thread: str | None, activity: dict) -> MessageRef:
        ref = await self.reference(channel)
        if thread is None and ref.threaded:
            _, root = await self.adapter.create_thread(ref.reference, ref.channel_id, ref.tenant_id, activity)
            return MessageRef(ref.channel_id, root, None)
        sent = await self.adapter.send(ref.reference, ref.conversation_id(thread), activity)
        return MessageRef(ref.channel_id, sent, thread)

    async def _post_card(self, channel: str, thread: str | None, card: dict) -> MessageRef:
        mref = await self._post(channel, thread, message(card))
        self._remember(mref, card)
        return mref

    async def _update_card(self, mref: MessageRef, card: dict) -> None:
        ref = await self.reference(mref.channel)
        await self.adapter.update(ref.reference, ref.conversation_id(mref.thread or mref.ts), mref.ts, message(card))
        self._remember(mref, card)

    async def _current(self, mref: MessageRef) -> dict | None:
        card = self._cards.get((mref.channel, mref.ts))
        if card is None:
            card = await asyncio.to_thread(rebuild_card, self.factory, self.signer, mref)
        return card

    # ---- Surface ---------------------------------------------------------------------------------
    async def post_text(self, channel: str, text: str, thread: str | None = None) -> MessageRef:
        return await self._post_card(channel, thread, cards.text_card(text))

    async def post_progress(self, channel: str, thread: str | None, view: ProgressView) -> MessageRef:
        return await self._post_card(channel, thread, cards.progress_card(view))

    async def update_progress(self, ref: MessageRef, view: ProgressView) -> None:
        await self._update_card(ref, cards.progress_card(view))

    async def post_diagnosis(self, channel: str, thread: str | None, post: DiagnosisPost) -> MessageRef:
        chart = await asyncio.to_thread(chart_data_uri, post.chart_png) if post.chart_png else None
        card = await asyncio.to_thread(cards.diagnosis_card, post, chart)
        return await self._post_card(channel, thread, card)

    async def upload_chart(self, channel: str, thread: str | None, png: bytes, title: str) -> None:
        """Nothing to do: the chart is in the diagnosis card (or the card says why not)."""

    async def post_proposal(self, channel: str, thread: str | None, view: Any, note: str) -> MessageRef:
        return await self._post_card(channel, thread, cards.proposal_card(view, note))

    async def update_proposal(self, ref: MessageRef, view: Any, note: str) -> None:
        current = await self._current(ref)
        new = cards.refresh_proposal(current, view, note) if current is not None else None
        if new is None:  # the card is unknown here: say it in the thread rather than lose the outcome
            log.warning("proposal %s not found on Teams message %s; posting the update instead", view.proposal_id,
                        ref.ts)
            await self.post_proposal(ref.channel, ref.thread or ref.ts, view, note)
            return
        click = CLICK.get()
        if click is not None and click.activity_id == ref.ts and not click.answered:
            click.card = new  # the clicker sees it at once, from the invoke response
        await self._update_card(ref, new)

    async def diagnosis_card(self, ref: MessageRef, diagnosis_id: str) -> dict | None:
        """The card on `ref` as this process sent it, else rebuilt from the diagnosis."""
        card = self._cards.get((ref.channel, ref.ts))
        if card is None:
            card = await asyncio.to_thread(rebuild_diagnosis_card, self.factory, self.signer, diagnosis_id)
        return card

    async def update_feedback(self, ref: MessageRef, view: Any) -> None:
        current = await self.diagnosis_card(ref, view.diagnosis_id)
        new = cards.refresh_feedback(current, view) if current is not None else None
        if new is None:  # the verdict is recorded; say it in the thread rather than lose it
            log.warning("feedback of diagnosis %s not found on Teams message %s; posting it instead",
                        view.diagnosis_id, ref.ts)
            await self._post_card(ref.channel, ref.thread or ref.ts, cards.feedback_card(view))
            return
        click = CLICK.get()
        if click is not None and click.activity_id == ref.ts and not click.answered:
            click.card = new  # the clicker sees it at once, from the invoke response
        await self._update_card(ref, new)

    async def post_card(self, channel: str, thread: str | None, card: dict) -> MessageRef:
        return await self._post_card(channel, thread, card)

    async def ephemeral(self, channel: str, user: str, text: str, thread: str | None = None) -> None:
        click = CLICK.get()
        if click is not None and click.user == user and click.invoke and not click.answered:
            click.message = text
            return
        name = plain(click.name, 100).replace("<", "").replace(">", "") if click and click.user == user else ""
        activity: dict[str, Any] = {"type": "message", "text": esc(text, 2000)}
        if name:
            activity = {"type": "message", "text": f"<at>{name}</at> {activity['text']}", "entities": [
                {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": click.teams_id or user,
                                                                              "name": name}}]}
        try:
            await self._post(channel, thread, activity)
        except (ConnectorError, NoConversation) as exc:
            log.warning("could not tell Teams user %s in %s: %s", user, channel[:120], exc)
