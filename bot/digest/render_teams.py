"""The digest as Adaptive Cards 1.5 for Teams: the digest card, and a second card carrying the two
charts (as palette-PNG data URIs, as the diagnosis card carries its chart), posted in its reply chain.

Both stay within the card budget (bot.teams.cards.MAX_CARD_BYTES): the digest card shows fewer
lines per section, then shorter lines, until it fits (what is left out is counted); a chart that
would pass the budget is left out of its card with a note."""
from __future__ import annotations

from bot.digest.model import Digest
from bot.digest.view import view
from bot.teams.cards import MAX_CARD_BYTES, card_size
from bot.teams.cards import _card as card_of  # the shared card envelope (schema, version, full width)
from bot.teams.cards import _text as text_block
from bot.teams.markdown import esc, plain

# (lines per section, characters per line), tried in turn until the card fits.
LEVELS = ((20, 600), (10, 400), (6, 300), (3, 200), (1, 160))


def _section(sid: str, title: str, lines: list[str], most: int, chars: int) -> dict:
    items = [text_block(esc(title, 120), weight="Bolder")]
    items += [text_block(f"• {esc(line, chars)}", spacing="Small") for line in lines[:most]]
    if len(lines) > most:
        items.append(text_block(f"_…and {len(lines) - most} more_", isSubtle=True, spacing="Small"))
    return {"type": "Container", "id": f"digest_{sid}", "separator": True, "items": items}


def render_teams(d: Digest) -> dict:
    v = view(d)
    by = "" if v.summary_by == "deterministic" else f" · summary written by {esc(v.summary_by, 80)}"
    card: dict = {}
    for most, chars in LEVELS:
        body = [text_block(esc(v.header, 200), id="digest_header", size="Medium", weight="Bolder", style="heading"),
                text_block(esc(v.period, 200) + by, id="digest_period", isSubtle=True, size="Small", spacing="None"),
                text_block(esc(v.summary, 4 * chars, multiline=True), id="digest_summary")]
        body += [_section(s.id, s.title, s.lines, most, chars) for s in v.sections]
        body.append(text_block(f"chatops digest --dry-run --week {esc(d.week, 10)} prints this digest again",
                               id="digest_footer", isSubtle=True, size="Small"))
        card = card_of(body)
        if card_size(card) <= MAX_CARD_BYTES:
            break
    return card


def charts_card(week: str, charts: list[tuple[str, str]]) -> dict:
    """The charts (title, data URI) that fit within the budget, in order; the others are named as left out."""
    body = [text_block(esc(f"Charts · {week}", 100), id="digest_charts_title", weight="Bolder")]
    left_out = []
    for n, (title, uri) in enumerate(charts):
        image = {"type": "Container", "id": f"digest_chart_{n}", "separator": True, "items": [
            text_block(esc(title, 200), isSubtle=True, size="Small"),
            {"type": "Image", "url": uri, "altText": plain(title, 200), "size": "Stretch",
             "msteams": {"allowExpand": True}}]}
        if card_size(card_of(body + [image])) <= MAX_CARD_BYTES - 200:  # room for the left-out note
            body.append(image)
        else:
            left_out.append(title)
    if left_out:
        body.append(text_block(esc("Left out, too large for a Teams message: " + "; ".join(left_out), 600),
                               id="digest_charts_left_out", isSubtle=True, size="Small"))
    return card_of(body)
