"""ISO weeks in the digest's timezone, and when the schedule (a 5-field cron line) is due.

A digest covers the previous *full* ISO week (Monday 00:00 to Monday 00:00, local time). The cron
line and timezone say when it is posted; the periodic tick evaluates them itself (croniter, which
Procrastinate already depends on) because Procrastinate's cron has no timezone, and because a tick
must also retry a failed channel long before the next weekly fire.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
# A tick more than this after the cron fire posts nothing new (a process that was down at 09:00 on
# Monday still posts when it is back that day; a week-old digest would only be noise).
CATCH_UP = timedelta(hours=24)


class WeekError(ValueError):
    """A week, cron line or timezone that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class Week:
    """One ISO week in a timezone; start and end are aware local datetimes (end exclusive)."""
    name: str
    tz: ZoneInfo
    start: datetime
    end: datetime

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(timezone.utc)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(timezone.utc)

    def shifted(self, weeks: int) -> "Week":
        """The week `weeks` later (negative: earlier)."""
        return week_of(self.start.date() + timedelta(weeks=weeks), self.tz)

    def days(self) -> list[date]:
        return [self.start.date() + timedelta(days=i) for i in range(7)]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WeekError(f"{name!r} is not an IANA timezone name (e.g. UTC, Europe/Paris)") from None


def check_cron(line: str) -> str:
    """A 5-field cron line (minute hour day-of-month month day-of-week), else WeekError."""
    if len(line.split()) != 5 or not croniter.is_valid(line):
        raise WeekError(f"{line!r} is not a 5-field cron line (minute hour day month weekday), e.g. '0 9 * * 1'")
    return line


def week_of(day: date, tz: ZoneInfo) -> Week:
    y, w, _ = day.isocalendar()
    monday = date.fromisocalendar(y, w, 1)
    start = datetime.combine(monday, time(0), tzinfo=tz)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=tz)
    return Week(f"{y}-W{w:02d}", tz, start, end)


def parse_week(name: str, tz: ZoneInfo) -> Week:
    m = WEEK.match(name.strip())
    if not m:
        raise WeekError(f"{name!r} is not an ISO week; write it as YYYY-Www, e.g. 2026-W49")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise WeekError(f"{name!r} does not exist: ISO years have 52 or 53 weeks") from None
    return week_of(monday, tz)


def previous_week(now: datetime, tz: ZoneInfo) -> Week:
    """The last full ISO week before `now` (local time)."""
    return week_of(now.astimezone(tz).date(), tz).shifted(-1)


def due_week(now: datetime, cron: str, tz: ZoneInfo, catch_up: timedelta = CATCH_UP) -> Week | None:
    """The week whose digest is due at `now`: the full week before the latest cron fire at or before
    `now` (local time), if that fire is at most `catch_up` ago; else None."""
    local = now.astimezone(tz)
    fire = croniter(cron, local + timedelta(seconds=1)).get_prev(datetime)  # a fire exactly at `now` counts
    if local - fire > catch_up:
        return None
    return previous_week(fire, tz)
