"""Who clicked in Teams: the clicker's Entra object id becomes a bot.remediation Identity with
the approver groups (`teams-group:<group id>` in APPROVERS_*) they belong to.

Membership comes from Microsoft Graph, `POST /v1.0/users/{id}/checkMemberGroups` (transitive,
at most 20 group ids a call) with the bot's app token (application permission
GroupMember.Read.All), asking only about the groups the approver lists name. Answers are cached
per user for a TTL, as bot/slack/identity.py does: a click must not wait on Graph every time, and
a removed approver loses the right within minutes. A failed lookup counts as no groups (deny, not
grant); a stale answer is still used while a refresh fails.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Iterable
from urllib.parse import quote

import aiohttp

from bot.remediation import Identity

log = logging.getLogger(__name__)

PLATFORM = "teams"
GRAPH_SCOPE = "https://graph.microsoft.com"
BATCH = 20  # checkMemberGroups takes at most 20 group ids
TIMEOUT = aiohttp.ClientTimeout(total=10)


def approver_groups(policy: Any) -> tuple[str, ...]:
    """Teams group ids named in the policy's approver lists (`teams-group:<id>`)."""
    return tuple(sorted({gid for level in policy.approvers.values() for platform, gid in level.groups
                         if platform == PLATFORM}))


class TeamsIdentities:
    def __init__(self, adapter: Any, graph_url: str, groups: Iterable[str] = (), ttl: float = 300.0,
                 clock=time.monotonic):  # noqa: ANN001
        self.adapter = adapter  # bot.teams.adapter.TeamsAdapter: token(scope, tenant)
        self.graph_url = graph_url.rstrip("/")
        self.groups = tuple(groups)
        self.ttl = ttl
        self.clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def resolve(self, aad_object_id: str, display: str = "", tenant: str | None = None) -> Identity:
        return Identity(PLATFORM, aad_object_id, await self.groups_of(aad_object_id, tenant), display=display)

    async def groups_of(self, user: str, tenant: str | None) -> frozenset[str]:
        if not self.groups:
            return frozenset()
        cached = self._members.get(user)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        async with self._lock:  # one lookup per user, not one per concurrent click
            cached = self._members.get(user)
            if cached is not None and self.clock() < cached[0]:
                return cached[1]
            try:
                found = await self._check(user, tenant)
            except Exception as exc:
                log.warning("cannot read the approver groups of Teams user %s from Microsoft Graph: %s: %s",
                            user, type(exc).__name__, str(exc)[:200])
                return cached[1] if cached else frozenset()
            self._members[user] = (self.clock() + self.ttl, found)
            return found

    async def _check(self, user: str, tenant: str | None) -> frozenset[str]:
        token = await self.adapter.token(GRAPH_SCOPE, tenant)
        url = f"{self.graph_url}/v1.0/users/{quote(user, safe='')}/checkMemberGroups"
        found: set[str] = set()
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            for i in range(0, len(self.groups), BATCH):
                async with http.post(url, json={"groupIds": list(self.groups[i:i + BATCH])},
                                     headers={"Authorization": f"Bearer {token}"}) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"Graph answered {resp.status}: {(await resp.text())[:200]}")
                    value = (await resp.json()).get("value")
                if not isinstance(value, list):
                    raise RuntimeError("Graph's answer has no value list")
                found.update(str(g) for g in value if g in self.groups)
        return frozenset(found)
