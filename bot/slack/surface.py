"""SlackSurface: the workflow's Surface over slack_sdk's AsyncWebClient.

Messages are plain chat.postMessage / chat.update calls; charts go through files_upload_v2
into the thread. To update one proposal inside a diagnosis message the surface needs that
message's current blocks: it keeps the ones it posted (and the ones a click payload carries) in
a small in-memory cache, and otherwise reads the message back from Slack, which stays the source
of truth, so a restart or a second process loses nothing.
"""
from __future__ import annotations

import logging
import re
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                         AsyncRateLimitErrorRetryHandler)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as bk
from bot.workflow.surface import DiagnosisPost, MessageRef, ProgressView

log = logging.getLogger(__name__)
MAX_PLAIN = 4000  # Slack recommends keeping message text under 4,000 characters


def make_client(token: str, base_url: str | None = None, timeout: int = 15) -> AsyncWebClient:
    """An AsyncWebClient that retries connection errors and 429s (honouring Retry-After)."""
    kw: dict[str, Any] = {"base_url": base_url} if base_url else {}
    return AsyncWebClient(token=token, timeout=timeout, retry_handlers=[
        AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncRateLimitErrorRetryHandler(max_retry_count=3)],
        **kw)


class SlackSurface:
    platform = "slack"

    def __init__(self, client: AsyncWebClient, *, cache_size: int = 500):
        self.client = client
        self.cache_size = cache_size
        self._messages: OrderedDict[tuple[str, str], tuple[str, list[dict]]] = OrderedDict()

    # ---- message cache --------------------------------------------------------------------
    def remember(self, channel: str, ts: str, text: str, blocks: list[dict]) -> None:
        self._messages[(channel, ts)] = (text, list(blocks))
        self._messages.move_to_end((channel, ts))
        while len(self._messages) > self.cache_size:
            self._messages.popitem(last=False)

    async def _current(self, ref: MessageRef) -> tuple[str, list[dict]] | None:
        cached = self._messages.get((ref.channel, ref.ts))
        if cached is not None:
            return cached
        root = ref.thread or ref.ts
        kw: dict[str, Any] = {"limit": 1} if root == ref.ts else {"oldest": ref.ts, "inclusive": True, "limit": 10}
        try:
            resp = await self.client.conversations_replies(channel=ref.channel, ts=root, **kw)
        except SlackApiError as exc:
            log.warning("cannot read message %s in %s: %s", ref.ts, ref.channel, exc.response.get("error"))
            return None
        for msg in resp.get("messages") or []:
            if msg.get("ts") == ref.ts and isinstance(msg.get("blocks"), list):
                return msg.get("text") or "", msg["blocks"]
        return None

    async def _post(self, channel: str, thread: str | None, text: str, blocks: list[dict] | None) -> MessageRef:
        kw: dict[str, Any] = {"thread_ts": thread} if thread else {}
        if blocks is not None:
            kw["blocks"] = blocks
        resp = await self.client.chat_postMessage(channel=channel, text=text, unfurl_links=False,
                                                  unfurl_media=False, **kw)
        ref = MessageRef(resp["channel"], resp["ts"], thread)
        if blocks is not None:
            self.remember(ref.channel, ref.ts, text, blocks)
        return ref

    async def _update(self, ref: MessageRef, text: str, blocks: list[dict]) -> None:
        await self.client.chat_update(channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)
        self.remember(ref.channel, ref.ts, text, blocks)

    # ---- Surface ----------------------------------------------------------------------------
    async def post_text(self, channel: str, text: str, thread: str | None = None) -> MessageRef:
        return await self._post(channel, thread, bk.clip(bk.esc(text), MAX_PLAIN), None)

    async def post_message(self, channel: str, text: str, blocks: list[dict], thread: str | None = None) -> MessageRef:
        """Already rendered Block Kit (the weekly digest, bot/digest/render_slack.py)."""
        return await self._post(channel, thread, text, blocks)

    async def post_progress(self, channel: str, thread: str | None, view: ProgressView) -> MessageRef:
        text, blocks = bk.progress(view)
        return await self._post(channel, thread, text, blocks)

    async def update_progress(self, ref: MessageRef, view: ProgressView) -> None:
        text, blocks = bk.progress(view)
        await self._update(ref, text, blocks)

    async def post_diagnosis(self, channel: str, thread: str | None, post: DiagnosisPost) -> MessageRef:
        text, blocks = bk.diagnosis(post)
        return await self._post(channel, thread, text, blocks)

    async def upload_chart(self, channel: str, thread: str | None, png: bytes, title: str) -> None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", title).strip("-")[:80] or "chart"
        kw: dict[str, Any] = {"thread_ts": thread} if thread else {}
        await self.client.files_upload_v2(channel=channel, file=png, filename=f"{name}.png", title=title[:250],
                                          alt_txt=title[:1000], **kw)

    async def post_proposal(self, channel: str, thread: str | None, view: Any, note: str) -> MessageRef:
        text, blocks = bk.proposal_message(view, note)
        return await self._post(channel, thread, text, blocks)

    async def update_proposal(self, ref: MessageRef, view: Any, note: str) -> None:
        current = await self._current(ref)
        new = bk.replace_proposal(current[1], view, note) if current else None
        if new is None:
            # The message is gone or unreadable: say it in the thread rather than lose the outcome.
            log.warning("proposal %s not found in message %s; posting the update instead", view.proposal_id, ref.ts)
            await self.post_proposal(ref.channel, ref.thread or ref.ts, view, note)
            return
        await self._update(ref, current[0], new)

    async def update_feedback(self, ref: MessageRef, view: Any) -> None:
        current = await self._current(ref)
        new = bk.replace_feedback(current[1], view) if current else None
        if new is None:  # the message is gone or unreadable: the verdict is recorded; say so in the thread
            log.warning("feedback of diagnosis %s not found in message %s; posting it instead", view.diagnosis_id,
                        ref.ts)
            await self._post(ref.channel, ref.thread or ref.ts, *bk.feedback_message(view))
            return
        await self._update(ref, current[0], new)

    async def ephemeral(self, channel: str, user: str, text: str, thread: str | None = None) -> None:
        body = bk.clip(bk.esc(text), MAX_PLAIN)
        kw: dict[str, Any] = {"thread_ts": thread} if thread else {}
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=body, **kw)
        except SlackApiError as exc:
            # e.g. the bot is not in that channel: a direct message still reaches the person.
            log.info("ephemeral to %s in %s failed (%s); sending a DM", user, channel, exc.response.get("error"))
            await self.client.chat_postMessage(channel=user, text=body)
