"""Microsoft Teams message activities carrying alerts.

Alerts reach Teams as text/HTML, as MessageCard / O365 connector cards (prometheus-msteams:
title "Prometheus Alert (firing)", one section per alert with facts = annotations + labels,
themeColor) or as Adaptive Cards (TextBlocks and FactSets, e.g. posted through Workflows).
Invokes, conversation updates and ordinary chat yield NotAnAlert.
"""
from __future__ import annotations

import re
from typing import Any

from .chat import Message, Part, interpret
from .markup import html_to_text, looks_like_html
from .model import AlertGroup, NotAnAlert, never_raises
from .normalise import MAX_TEXT, to_str

_ADAPTIVE = "application/vnd.microsoft.card.adaptive"
_CONNECTOR = "application/vnd.microsoft.teams.card.o365connector"
_MENTION = re.compile(r"<at>[^<]{0,200}</at>", re.I)
_MAX_NODES = 5_000


@never_raises
def parse_teams_activity(activity: dict) -> AlertGroup | NotAnAlert:
    if not isinstance(activity, dict):
        return NotAnAlert(reason="teams activity is not a JSON object")
    if _is_message_card(activity) or activity.get("type") == "AdaptiveCard":
        parts = card_parts(activity)
        sender = ""
    else:
        kind = activity.get("type")
        if kind != "message":
            return NotAnAlert(reason=f"teams activity type {to_str(kind, 40)!r} is not a message")
        parts = _activity_parts(activity)
        sender = to_str((activity.get("from") or {}).get("name") if isinstance(activity.get("from"), dict) else "", 100)
    if not parts:
        return NotAnAlert(reason="teams message has no text or cards")
    return interpret(Message(parts=parts, source="teams", raw=activity, sender=sender))


def _is_message_card(d: dict) -> bool:
    return d.get("@type") == "MessageCard" or (isinstance(d.get("sections"), list) and "themeColor" in d)


def _activity_parts(activity: dict) -> list[Part]:
    parts: list[Part] = []
    text = _plain(to_str(activity.get("text"), MAX_TEXT))
    attachments = activity.get("attachments") if isinstance(activity.get("attachments"), list) else []
    for att in attachments[:20]:
        if not isinstance(att, dict):
            continue
        ctype = to_str(att.get("contentType"), 200).lower()
        content = att.get("content")
        if ctype == "text/html" and isinstance(content, str):
            html_text = _plain(content)
            if "".join(html_text.split()) not in "".join(text.split()):
                parts.append(Part(text=html_text))
        elif isinstance(content, dict) and (ctype in (_ADAPTIVE, _CONNECTOR) or _is_message_card(content)
                                            or content.get("type") == "AdaptiveCard"):
            parts.extend(card_parts(content))
        elif isinstance(content, dict):  # hero / thumbnail / other simple cards
            body = "\n".join(to_str(content.get(k), MAX_TEXT) for k in ("subtitle", "text") if content.get(k))
            parts.append(Part(title=to_str(content.get("title")), text=_plain(body)))
    if text.strip():
        parts.insert(0, Part(text=text))
    return [p for p in parts if p.title or p.text or p.fields]


def _plain(value: str) -> str:
    value = _MENTION.sub("", value)
    return html_to_text(value) if looks_like_html(value) else value


def card_parts(card: dict) -> list[Part]:
    if _is_message_card(card):
        return _message_card(card)
    if card.get("type") == "AdaptiveCard":
        parts: list[Part] = []
        _adaptive(card.get("body"), parts, [Part()], [_MAX_NODES], 0, "")
        return [p for p in parts if p.title or p.text or p.fields]
    return []


def _message_card(card: dict) -> list[Part]:
    head = "\n".join(to_str(card.get(k), MAX_TEXT) for k in ("summary", "text") if card.get(k))
    parts = [Part(title=to_str(card.get("title")), text=_plain(head), color=to_str(card.get("themeColor"), 20))]
    sections = card.get("sections") if isinstance(card.get("sections"), list) else []
    for sec in sections[:200]:
        if not isinstance(sec, dict):
            continue
        facts = sec.get("facts") if isinstance(sec.get("facts"), list) else []
        fields = [(to_str(f.get("name"), 200), to_str(f.get("value"), 2000)) for f in facts[:100] if isinstance(f, dict)]
        body = "\n".join(to_str(sec.get(k), MAX_TEXT) for k in ("activitySubtitle", "activityText", "text") if sec.get(k))
        parts.append(Part(title=to_str(sec.get("activityTitle"), 2000), text=_plain(body), fields=fields,
                          color=parts[0].color))
    return [p for p in parts if p.title or p.text or p.fields]


_STYLE_COLOR = {"attention": "danger", "warning": "warning", "good": "good"}


def _adaptive(items: Any, parts: list[Part], cur: list[Part], budget: list[int], depth: int, color: str) -> None:
    """Walk Adaptive Card elements; each FactSet closes a Part with the text that preceded it."""
    if not isinstance(items, list) or depth > 12:
        return
    for el in items[:200]:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        if not isinstance(el, dict):
            continue
        kind = el.get("type")
        style = _STYLE_COLOR.get(to_str(el.get("style"), 20).lower(), color)
        if kind == "TextBlock":
            _append(cur, _plain(to_str(el.get("text"), MAX_TEXT)), style)
        elif kind == "RichTextBlock":
            inlines = el.get("inlines") if isinstance(el.get("inlines"), list) else []
            _append(cur, "".join(to_str(i.get("text") if isinstance(i, dict) else i, MAX_TEXT) for i in inlines[:200]), style)
        elif kind == "FactSet":
            facts = el.get("facts") if isinstance(el.get("facts"), list) else []
            cur[0].fields.extend((to_str(f.get("title"), 200), to_str(f.get("value"), 2000))
                                 for f in facts[:100] if isinstance(f, dict))
            cur[0].color = cur[0].color or style
            parts.append(cur[0])
            cur[0] = Part()
        elif kind in ("Container", "Column"):
            _adaptive(el.get("items"), parts, cur, budget, depth + 1, style)
        elif kind == "ColumnSet":
            _adaptive(el.get("columns"), parts, cur, budget, depth + 1, style)
        elif kind == "Table":
            for row in (el.get("rows") if isinstance(el.get("rows"), list) else [])[:100]:
                cells = row.get("cells") if isinstance(row, dict) and isinstance(row.get("cells"), list) else []
                for cell in cells[:20]:
                    if isinstance(cell, dict):
                        _adaptive(cell.get("items"), parts, cur, budget, depth + 1, style)
    if depth == 0 and (cur[0].text or cur[0].fields):
        parts.append(cur[0])
        cur[0] = Part()


def _append(cur: list[Part], text: str, color: str) -> None:
    if text.strip():
        cur[0].text = f"{cur[0].text}\n{text}" if cur[0].text else text
        cur[0].color = cur[0].color or color
