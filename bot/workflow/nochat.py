"""The surface of investigations that have no chat thread.

An MCP client may start a diagnosis where no chat channel is configured (`chatops mcp` on a laptop,
no Slack or Teams): the incident, its session and its diagnosis are recorded as usual and read back
over MCP, and what would have been posted goes nowhere. Every process that runs diagnosis jobs has
this surface, since any of them may pick up such a job. Nothing posted here can be clicked, so an
action proposed for such an incident would have no one to approve it; bot.mcp.propose refuses it.
"""
from __future__ import annotations

import itertools
from typing import Any

from bot.workflow.surface import MessageRef

NO_CHAT = "nochat"
_ids = itertools.count(1)


class NoChatSurface:
    platform = NO_CHAT

    def _ref(self, channel: str, thread: str | None = None) -> MessageRef:
        return MessageRef(channel, f"{NO_CHAT}-{next(_ids)}", thread)

    async def post_text(self, channel: str, text: str, thread: str | None = None) -> MessageRef:
        return self._ref(channel, thread)

    async def post_progress(self, channel: str, thread: str | None, view: Any) -> MessageRef:
        return self._ref(channel, thread)

    async def update_progress(self, ref: MessageRef, view: Any) -> None:
        return None

    async def post_diagnosis(self, channel: str, thread: str | None, post: Any) -> MessageRef:
        return self._ref(channel, thread)

    async def upload_chart(self, channel: str, thread: str | None, png: bytes, title: str) -> None:
        return None

    async def update_proposal(self, ref: MessageRef, view: Any, note: str) -> None:
        return None

    async def update_feedback(self, ref: MessageRef, view: Any) -> None:
        return None

    async def post_proposal(self, channel: str, thread: str | None, view: Any, note: str) -> MessageRef:
        return self._ref(channel, thread)

    async def ephemeral(self, channel: str, user: str, text: str, thread: str | None = None) -> None:
        return None
