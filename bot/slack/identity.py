"""Who clicked: a Slack user id becomes a bot.remediation Identity with its user groups.

Only the user groups that appear in the approver settings (`slack-group:S…`) matter, so only
those are listed (usergroups.users.list, one call per group), and each member list is cached
for a TTL: an approval click must not wait on Slack for every group every time, and a removed
approver loses the right within minutes. A group that cannot be read counts as empty, so an
API failure denies instead of granting; a stale list is still used while a refresh fails.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.remediation import Identity

log = logging.getLogger(__name__)


def approver_groups(*entry_lists: Iterable[str]) -> tuple[str, ...]:
    """Slack user-group ids named in approver lists (`slack-group:S123`)."""
    out: list[str] = []
    for entries in entry_lists:
        for e in entries:
            kind, _, ident = e.strip().partition(":")
            if kind == "slack-group" and ident.strip() and ident.strip() not in out:
                out.append(ident.strip())
    return tuple(out)


class SlackIdentities:
    def __init__(self, client: AsyncWebClient, groups: Iterable[str] = (), ttl: float = 300.0,
                 clock=time.monotonic):  # noqa: ANN001
        self.client = client
        self.groups = tuple(groups)
        self.ttl = ttl
        self.clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        async with self._lock:  # one refresh per group, not one per concurrent click
            cached = self._members.get(group)
            if cached is not None and self.clock() < cached[0]:
                return cached[1]
            try:
                resp = await self.client.usergroups_users_list(usergroup=group)
            except SlackApiError as exc:
                log.warning("cannot list members of user group %s: %s", group, exc.response.get("error"))
                return cached[1] if cached else frozenset()
            users = frozenset(str(u) for u in resp.get("users") or [])
            self._members[group] = (self.clock() + self.ttl, users)
            return users

    async def resolve(self, user_id: str, display: str = "") -> Identity:
        groups = [g for g in self.groups if user_id in await self.members(g)]
        return Identity("slack", user_id, frozenset(groups), display=display)
