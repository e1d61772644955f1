"""Text for Teams' Adaptive Card TextBlocks and FactSets: what came from outside shows literally.

TextBlock text is a Markdown subset, and Teams clients read it with two parsers: a CommonMark one
(desktop, web) and the Adaptive Cards shared-model parser (mobile), which does not honour `\\]`
(so `\\[x\\](https://evil)` is still a link there) and prints most backslashes it does not use.
esc() therefore leans on what holds in both: a WORD JOINER (U+2060: zero width, never drawn)
after `]`, `<` and `&`, between the braces of `{{` and the tildes of `~~`, and before a line that
would start a list, heading or quote. That kills every link form (`[t](u)`, `[t][r]`, `[r]: u`),
HTML-ish tags, `<at>` mentions, `<https://…>` autolinks, entities and `{{DATE()}}` functions
without changing what a reader sees. Emphasis cannot be broken that way, so `*`, backtick and a
`_` that is not inside a word get a backslash, as does a backslash that could escape what
follows; both parsers honour those (older mobile clients may show the backslash).
"""
from __future__ import annotations

import re
from typing import Any

from bot.evidence_links import safe_url
from bot.render_text import terminal_safe

WJ = "\u2060"
_SPECIAL = re.compile(r"[\\*`_\]<&]|\{(?=\{)|~(?=~)")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_BLOCK_START = re.compile(r"(?:[#>+=|-]|\d+[.)])")
# What would end a link destination early or be read as markup inside it, percent-encoded.
_URL_UNSAFE = re.compile(r"[()\[\]<>`{}\"\\* ]")


def _word(ch: str) -> bool:
    return ch.isalnum()


def _escape_line(line: str) -> str:
    def sub(m: re.Match[str]) -> str:
        ch, at = m.group(0), m.start()
        after = line[at + 1: at + 2]
        if ch == "\\":
            return "\\\\" if after == "" or after in _ASCII_PUNCT else ch
        if ch == "_":
            return ch if at and _word(line[at - 1]) and after and _word(after) else "\\_"
        if ch in "*`":
            return "\\" + ch
        return ch + WJ  # ] < & { ~
    out = _SPECIAL.sub(sub, line)
    return WJ + out if _BLOCK_START.match(out) else out


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def plain(text: Any, limit: int = 200) -> str:
    """One line of raw text (no Markdown is parsed where it goes: button titles, alt text)."""
    return clip(" ".join(terminal_safe(str(text if text is not None else "")).split()), limit)


def esc(text: Any, limit: int = 2000, multiline: bool = False) -> str:
    """Untrusted text for a TextBlock or fact value, shown as written, cut to `limit` characters
    before escaping (so an escape is never cut in half). One line, whitespace folded, unless
    `multiline`: then each non-empty line becomes a paragraph (Teams folds a single newline)."""
    raw = clip(terminal_safe(str(text if text is not None else "")).replace("\r\n", "\n").replace("\r", "\n"), limit)
    lines = raw.split("\n") if multiline else [raw]
    return "\n\n".join(_escape_line(" ".join(ln.split())) for ln in lines if ln.strip())


def link(url: str | None, label: str) -> str:
    """`[label](url)` for a plain http(s) URL without credentials (bot.evidence_links decided the
    allowed hosts before rendering), else just the escaped label."""
    if not safe_url(url):
        return esc(label)
    target = _URL_UNSAFE.sub(lambda m: f"%{ord(m.group(0)):02X}", url)  # type: ignore[arg-type]
    return f"[{esc(label, 80)}]({target})"
