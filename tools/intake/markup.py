"""Turn Slack mrkdwn, Teams markdown and HTML into plain text the scanners can read."""
from __future__ import annotations

import html
import re

from .normalise import MAX_TEXT, safe_text

_SLACK_LINK = re.compile(r"<((?:https?|mailto|tel)[^<>|\s]{0,2000})(?:\|([^<>]{0,500}))?>")
_SLACK_REF = re.compile(r"<[@#!][^<>\s]{0,200}?(?:\|([^<>]{0,200}))?>")
_MD_LINK = re.compile(r"\[([^\[\]\n]{1,500})\]\((https?://[^()\s]{1,2000})\)")
_URL = re.compile(r"https?://[^\s<>|)\]\"']{1,2000}")
_EMOJI = re.compile(r"(?<!\S):[a-z0-9_+\-]{2,40}:(?!\S)")
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h\d|hr)\b[^>]{0,200}>|<\s*li\b[^>]{0,200}>", re.I)
_HTML_TAG = re.compile(r"<[^<>]{0,1000}>")


def html_to_text(value: str) -> str:
    text = _HTML_BREAK.sub("\n", value[:MAX_TEXT * 2])
    text = _HTML_TAG.sub("", text)
    return html.unescape(text).replace("\xa0", " ")


def looks_like_html(value: str) -> bool:
    return bool(re.search(r"<\s*(?:p|br|div|span|b|strong|ul|li|table|h\d|a)\b", value[:2000], re.I))


def urls_in(value: str) -> list[str]:
    return _URL.findall(value[:MAX_TEXT])[:50]


def clean(value: object, markup: bool = True) -> str:
    """Plain text: links to their labels, markup characters dropped, entities decoded, bounded.

    markup=False keeps * and ` inside the text (label values in card facts are data, not
    formatting; only wrapping emphasis is removed) so a copied label set stays byte-identical.
    """
    if not isinstance(value, str) or not value:
        return ""
    text = safe_text(value[:MAX_TEXT])
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _SLACK_REF.sub(lambda m: m.group(1) or "", text)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = html.unescape(text).replace("\xa0", " ")
    text = text.replace("\\_", "_")  # Teams markdown escapes underscores in facts
    if not markup:
        text = text.strip()
        while len(text) >= 2 and text[0] == text[-1] and text[0] in "*`":
            text = text[1:-1].strip()
        return text.replace("\r\n", "\n")
    text = text.replace("**", "").replace("*", "").replace("`", "")
    text = _EMOJI.sub("", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")
