"""The digest as Block Kit: a header, the summary, one titled section per part of the digest.

Everything is escaped (alert names, titles, notes and the model's paragraph come from outside),
nothing @-mentions anyone (approvers are shown as their ids), and the message stays within
Slack's 50 blocks and per-block text limits: a section's lines that do not fit are counted."""
from __future__ import annotations

from bot.digest.model import Digest
from bot.digest.view import view
from bot.slack.blocks import MAX_BLOCKS, MAX_FALLBACK, MAX_HEADER, bullet_sections, clip, context, esc, plain, section

MAX_SECTION_BLOCKS = 3


def render_slack(d: Digest) -> tuple[str, list[dict]]:
    """(fallback text, blocks)."""
    v = view(d)
    by = "" if v.summary_by == "deterministic" else f" · summary written by {esc(v.summary_by)}"
    blocks: list[dict] = [{"type": "header", "block_id": "digest_header", "text": plain(v.header, MAX_HEADER)},
                          context(f"{esc(v.period)}{by}", "digest_period"),
                          section(esc(v.summary), "digest_summary")]
    for s in v.sections:  # 8 sections of at most 1 + MAX_SECTION_BLOCKS blocks: well under MAX_BLOCKS
        blocks.append({"type": "divider"})
        part = bullet_sections(esc(s.title), [esc(line) for line in s.lines], MAX_SECTION_BLOCKS)
        for n, block in enumerate(part):
            block["block_id"] = f"digest_{s.id}" + (f"_{n}" if n else "")
        blocks.extend(part)
    blocks.append(context(f"`chatops digest --dry-run --week {esc(d.week)}` prints this digest again",
                          "digest_footer"))
    return clip(esc(f"{v.header}: {v.summary}"), MAX_FALLBACK), blocks[:MAX_BLOCKS]
