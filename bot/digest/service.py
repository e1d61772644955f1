"""The weekly digest end to end: build one (compute, runbooks, summary), the periodic tick, and
posting a week by hand. Used by the `digest` periodic task, `chatops digest` and the console."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.digest import post as posting
from bot.digest.compute import compute
from bot.digest.model import Digest
from bot.digest.post import Charts, Target
from bot.digest.runbooks import RunbookDoc, snapshot
from bot.digest.summary import summarize
from bot.digest.week import Week, check_cron, due_week, zone

log = logging.getLogger(__name__)


@dataclass
class DigestConfig:
    slack_channels: tuple[str, ...] = ()
    teams_channels: tuple[str, ...] = ()
    cron: str = "0 9 * * 1"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    engine: Any = None  # agents.session.EngineSettings: the summary's model, when it chooses Anthropic

    @classmethod
    def from_settings(cls, s: Any) -> "DigestConfig":
        from bot.wiring import engine_settings

        return cls(tuple(s.digest_slack_channels), tuple(s.digest_teams_channels), check_cron(s.digest_cron),
                   zone(s.digest_timezone), engine_settings(s))

    def targets(self) -> list[Target]:
        return [Target("slack", c) for c in self.slack_channels] + [Target("teams", c) for c in self.teams_channels]


class DigestService:
    def __init__(self, factory: sessionmaker[Session], surfaces: dict[str, Any], config: DigestConfig,
                 knowledge: Any = None, *, model_client: Any = None):
        self.factory = factory
        self.surfaces = surfaces
        self.config = config
        self.knowledge = knowledge
        self.model_client = model_client  # tests: an AsyncAnthropic on the loopback Messages API

    def runbooks(self) -> tuple[list[RunbookDoc] | None, str | None]:
        if self.knowledge is None:
            return None, "knowledge base not configured"
        try:
            return snapshot(self.knowledge), None
        except Exception as exc:  # KnowledgeBaseError included: the digest goes out without runbook rules
            log.warning("weekly digest: runbooks unreadable: %s", exc)
            return None, f"knowledge base unavailable: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"

    async def build(self, week: Week) -> Digest:
        runbooks, note = await asyncio.to_thread(self.runbooks)
        d = await asyncio.to_thread(compute, self.factory, week, runbooks, note)
        d.summary, d.summary_by = await summarize(d, self.config.engine, self.model_client)
        return d

    async def tick(self, now: datetime | None = None) -> dict[str, Any]:
        """The periodic task: post the week the schedule says is due (and retry its failed channels)."""
        now = now or datetime.now(timezone.utc)
        week = due_week(now, self.config.cron, self.config.tz)
        if week is None:
            return {"week": None}
        return await self.post(week, now)

    async def post(self, week: Week, now: datetime | None = None, *, force: bool = False) -> dict[str, Any]:
        """Post `week` to every configured channel this process has a surface for, each at most once;
        `force` (by hand) retries failed channels without waiting for their backoff."""
        now = now or datetime.now(timezone.utc)
        targets = [t for t in self.config.targets() if t.platform in self.surfaces]
        out: dict[str, Any] = {"week": week.name, "posted": [], "failed": [], "skipped": [],
                               "no_surface": [t.key for t in self.config.targets() if t.platform not in self.surfaces]}
        if not targets:
            return out
        await asyncio.to_thread(posting.ensure_rows, self.factory, week.name, targets, now)
        due = {(r.platform, r.channel) for r in await asyncio.to_thread(posting.rows, self.factory, week.name)
               if posting.retry_due(r, now, force)}
        if not any((t.platform, t.channel) in due for t in targets):
            out["skipped"] = [t.key for t in targets]
            return out
        d = await asyncio.to_thread(posting.stored_content, self.factory, week.name) or await self.build(week)
        charts = Charts(d)
        for t in targets:  # one after another, each on its own: a failing channel only fails itself
            outcome = await posting.post_one(self.factory, self.surfaces[t.platform], t, d, charts, now, force)
            out[outcome].append(t.key)
        return out


def for_workflow(wf: Any, settings: Any) -> DigestService:
    """The service a periodic tick uses: the workflow's database, surfaces and knowledge base."""
    return DigestService(wf.factory, wf.surfaces, DigestConfig.from_settings(settings), wf.knowledge)
