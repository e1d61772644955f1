"""The digest as plain text: `chatops digest --dry-run` and the console's /digest (which strips
terminal controls from it like any chat message)."""
from __future__ import annotations

import textwrap

from bot.digest.model import Digest
from bot.digest.view import view

WIDTH = 100


def render_text(d: Digest, width: int = WIDTH) -> str:
    v = view(d)
    out = [f"{v.header} · {v.period}", ""]
    out += textwrap.wrap(v.summary, width, break_on_hyphens=False) or [""]
    if v.summary_by != "deterministic":
        out.append(f"(summary written by {v.summary_by})")
    for section in v.sections:
        out += ["", section.title]
        for line in section.lines:
            out += textwrap.wrap(line, width, initial_indent="  • ", subsequent_indent="    ", break_on_hyphens=False)
    return "\n".join(out)
