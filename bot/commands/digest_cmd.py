"""`chatops digest --dry-run | --post [--week YYYY-Www]`: the weekly knowledge digest by hand.

--dry-run prints the digest and where it would go (and what is already posted there); --post posts
it now through the same once-per-week-and-channel path as the periodic task, retrying channels that
failed. The week defaults to the previous full ISO week in DIGEST_TIMEZONE. Exit codes: 0 done,
1 a channel could not be posted to, 2 bad usage or configuration.
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timezone

from bot.cli_util import UserError, ensure_schema


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("digest", help="the weekly knowledge digest: print it, or post it now")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="print the digest and where it would be posted")
    mode.add_argument("--post", action="store_true",
                      help="post it now to DIGEST_SLACK_CHANNELS and DIGEST_TEAMS_CHANNELS (once per week and "
                           "channel; channels that failed are tried again)")
    p.add_argument("--week", help="ISO week YYYY-Www (default: the previous full week in DIGEST_TIMEZONE)")
    p.set_defaults(func=cmd_digest)


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.context import get_engine
    from bot.digest.service import DigestConfig
    from bot.digest.week import WeekError, parse_week, previous_week
    from bot.settings import get_settings

    settings = get_settings()
    config = DigestConfig.from_settings(settings)
    try:
        week = parse_week(args.week, config.tz) if args.week else previous_week(datetime.now(timezone.utc), config.tz)
    except WeekError as exc:
        raise UserError(f"--week: {exc}") from None
    if args.post and not config.targets():
        raise UserError("nowhere to post: set DIGEST_SLACK_CHANNELS and/or DIGEST_TEAMS_CHANNELS")
    surfaces = _surfaces(settings) if args.post else {}
    ensure_schema(get_engine())
    return asyncio.run(_run(args, settings, config, week, surfaces))


def _surfaces(settings) -> dict:  # noqa: ANN001
    from bot.commands.worker_cmd import surfaces_from_settings
    from bot.teams.config import TeamsConfigError

    try:
        return surfaces_from_settings(settings)
    except TeamsConfigError as exc:
        raise UserError(str(exc)) from None


async def _run(args, settings, config, week, surfaces) -> int:  # noqa: ANN001
    from bot.context import get_sessionmaker
    from bot.digest.render_text import render_text
    from bot.digest.service import DigestService
    from bot.wiring import open_knowledge, tool_context

    _, _, kb = await asyncio.to_thread(open_knowledge, settings, tool_context(settings))
    service = DigestService(get_sessionmaker(), surfaces, config, kb)
    try:
        if args.dry_run:
            print(render_text(await service.build(week)))
            print()
            print(await asyncio.to_thread(_where, service, week.name, False))
            return 0
        result = await service.post(week, force=True)
    finally:
        if kb is not None:
            await asyncio.to_thread(kb.close)
    print(await asyncio.to_thread(_where, service, week.name, True))
    return 1 if result["failed"] or result["no_surface"] else 0


def _where(service, week: str, posting: bool) -> str:  # noqa: ANN001
    """One line per configured channel: posted, failed (why), or what posting it would need."""
    from bot.digest.post import rows
    from bot.teams import references

    done = {(r.platform, r.channel): r for r in rows(service.factory, week)}
    lines = [f"Weekly digest {week} channels:"]
    for t in service.config.targets():
        row = done.get((t.platform, t.channel))
        if row is not None and row.status == "posted":
            state = f"posted {row.posted_at:%Y-%m-%d %H:%M} UTC (attempt {row.attempts})"
        elif row is not None and row.status == "failed":
            state = f"failed after {row.attempts} attempt(s): {row.error}"
        elif t.platform == "teams" and references.load(service.factory, t.channel) is None:
            state = "cannot be posted: no stored conversation reference (install the app there first)"
        else:
            state = "not posted yet"
        need = ""
        if posting and t.platform not in service.surfaces and (row is None or row.status != "posted"):
            need = f" ({'SLACK_BOT_TOKEN' if t.platform == 'slack' else 'TEAMS_APP_ID'} is not set)"
        lines.append(f"  {t.platform} {t.channel}: {state}{need}")
    if len(lines) == 1:
        lines.append("  none configured (DIGEST_SLACK_CHANNELS, DIGEST_TEAMS_CHANNELS)")
    return "\n".join(lines)
