"""Posting a digest once per ISO week and channel.

Each (week, platform, channel) has one `digests` row (unique), inserted by whichever process comes
first. A process posts only after *claiming* the row with a conditional update (pending or failed
→ posting, attempts + 1) that exactly one transaction can win, so two workers, a restart, or
`chatops digest --post` beside the clock never post one week twice to one channel. The row is
marked posted (with the message's reference) right after the chat API accepts the message, before
the charts follow. A failure marks it failed with the error; a later tick tries again (attempt k+1
waits 2^k − 1 minutes after the first, so the next tick first, then less often, up to
MAX_ATTEMPTS), and channels never wait on each other. A row left `posting` by a process that died
mid-post is tried again after STALE_POSTING: the one case that can post twice (the chat API
answered, the process died before writing that down). Posting and failing are audited.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import audit
from bot.db import transaction
from bot.digest.facts import aware
from bot.digest.model import Digest
from bot.digest.render_slack import render_slack
from bot.digest.render_teams import charts_card, render_teams
from bot.models import Digest as DigestRow
from bot.workflow.surface import MessageRef

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
STALE_POSTING = timedelta(minutes=10)
# Chart sizes (width, height in inches, dpi); Teams' are smaller: both must fit in one card (MAX_CARD_BYTES).
SLACK_CHART, TEAMS_CHART = (8.0, 3.2, 100), (6.0, 2.4, 80)


@dataclass(frozen=True)
class Target:
    platform: str
    channel: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.channel}"


def retry_due(row: DigestRow, now: datetime, force: bool = False) -> bool:
    """Whether `row` may be (re)tried at `now`; `force` (by hand) ignores the backoff and the cap."""
    if row.status == "pending":
        return True
    if row.status == "posting":
        since = (row.message_ref or {}).get("posting_since")
        return since is None or now - datetime.fromisoformat(since) >= STALE_POSTING
    if row.status != "failed":
        return False
    if force:
        return True
    wait = timedelta(minutes=2 ** row.attempts - 1)
    return row.attempts < MAX_ATTEMPTS and now >= aware(row.created_at) + wait


def _row(s: Session, week: str, t: Target) -> DigestRow | None:
    return s.execute(select(DigestRow).where(DigestRow.week == week, DigestRow.platform == t.platform,
                                             DigestRow.channel == t.channel)).scalars().first()


def ensure_rows(factory: sessionmaker[Session], week: str, targets: list[Target], now: datetime) -> None:
    for t in targets:
        try:
            with transaction(factory) as s:
                if _row(s, week, t) is None:
                    s.add(DigestRow(week=week, platform=t.platform, channel=t.channel, status="pending", attempts=0,
                                    created_at=now))
        except IntegrityError:  # another process inserted it first: theirs is the row
            continue


def rows(factory: sessionmaker[Session], week: str) -> list[DigestRow]:
    with factory() as s:
        return list(s.execute(select(DigestRow).where(DigestRow.week == week).order_by(DigestRow.id)).scalars())


def claim(factory: sessionmaker[Session], week: str, t: Target, now: datetime, force: bool = False) -> int | None:
    """The row's id if this process won the right to post it now, else None."""
    with transaction(factory) as s:
        row = _row(s, week, t)
        if row is None or not retry_due(row, now, force):
            return None
        won = s.execute(update(DigestRow).where(DigestRow.id == row.id, DigestRow.status == row.status,
                                                DigestRow.attempts == row.attempts)
                        .values(status="posting", attempts=row.attempts + 1, error=None,
                                message_ref={"posting_since": now.isoformat()})).rowcount
        return row.id if won == 1 else None


def stored_content(factory: sessionmaker[Session], week: str) -> Digest | None:
    """What an earlier attempt of this week computed, so retries and later channels post the same."""
    for row in reversed(rows(factory, week)):
        if row.content:
            return Digest.model_validate(row.content)
    return None


def _finish(factory: sessionmaker[Session], row_id: int, t: Target, week: str, content: dict, *,
            ref: MessageRef | None = None, error: str | None = None, now: datetime) -> None:
    with transaction(factory) as s:
        row = s.get(DigestRow, row_id)
        row.content = content
        if ref is not None:
            row.status, row.posted_at, row.error = "posted", now, None
            row.message_ref = {"platform": t.platform, "channel": ref.channel, "ts": ref.ts}
        else:
            row.status, row.error, row.message_ref = "failed", (error or "")[:4000], None
        audit.append(s, actor="system:digest", platform="system",
                     event="digest.posted" if ref is not None else "digest.failed",
                     subject=f"digest/{week}/{t.key}"[:300],
                     payload={"attempt": row.attempts, **({"ts": ref.ts} if ref else {"error": row.error[:500]})})


def _render(d: Digest, size: tuple[float, float, int]) -> list[tuple[str, bytes]]:
    from bot.digest.charts import render_charts  # matplotlib loads here, in the worker thread

    return render_charts(d, size)


class Charts:
    """Both PNGs at one size, rendered once per post run, in a worker thread."""

    def __init__(self, d: Digest):
        self.d = d
        self._made: dict[tuple, list[tuple[str, bytes]]] = {}

    async def at(self, size: tuple[float, float, int]) -> list[tuple[str, bytes]]:
        if size not in self._made:
            self._made[size] = await asyncio.to_thread(_render, self.d, size)
        return self._made[size]


async def send(surface: Any, t: Target, d: Digest) -> MessageRef:
    if t.platform == "slack":
        text, blocks = render_slack(d)
        return await surface.post_message(t.channel, text, blocks)
    return await surface.post_card(t.channel, None, await asyncio.to_thread(render_teams, d))


async def send_charts(surface: Any, t: Target, ref: MessageRef, d: Digest, charts: Charts) -> None:
    """Into the digest's thread: Slack uploads (files_upload_v2), Teams a card with the images."""
    if t.platform == "slack":
        for title, png in await charts.at(SLACK_CHART):
            await surface.upload_chart(ref.channel, ref.ts, png, title)
        return
    from bot.teams.surface import chart_data_uri

    made = await charts.at(TEAMS_CHART)
    uris = await asyncio.to_thread(lambda: [(title, chart_data_uri(png)) for title, png in made])
    await surface.post_card(ref.channel, ref.ts, charts_card(d.week, uris))


def _why(exc: Exception) -> str:
    """One line: the exception, and Slack's error code (`channel_not_found`, `not_in_channel`) when it has one."""
    code = None
    try:
        code = exc.response.get("error")  # type: ignore[attr-defined]  (slack_sdk's SlackApiError)
    except Exception:
        pass
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{' ' + str(code) if code else ''}: {first}"[:500]


async def post_one(factory: sessionmaker[Session], surface: Any, t: Target, d: Digest, charts: Charts,
                   now: datetime, force: bool = False) -> str:
    """The outcome for this channel: "posted", "failed", or "skipped" (not due, or another process has it)."""
    row_id = await asyncio.to_thread(claim, factory, d.week, t, now, force)
    if row_id is None:
        return "skipped"
    content = d.model_dump(mode="json")
    try:
        ref = await send(surface, t, d)
    except Exception as exc:
        why = _why(exc)
        log.warning("weekly digest %s to %s failed: %s", d.week, t.key, why)
        await asyncio.to_thread(_finish, factory, row_id, t, d.week, content, error=why, now=now)
        return "failed"
    await asyncio.to_thread(_finish, factory, row_id, t, d.week, content, ref=ref, now=now)
    try:
        await send_charts(surface, t, ref, d, charts)
    except Exception as exc:  # the digest is out; charts are a nicety, as with diagnoses
        log.warning("weekly digest %s charts to %s failed: %s: %s", d.week, t.key, type(exc).__name__,
                    str(exc)[:200])
    return "posted"
