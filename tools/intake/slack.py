"""Slack message events posted by monitoring bots (Alertmanager, Grafana, PagerDuty, Datadog...).

Reads text, legacy attachments (title/pretext/text/fields/footer/fallback/colour) and Block Kit
(header, section text+fields, context, rich_text), tolerating every optional field being absent,
null or of the wrong type, as in Slack's own schema samples.
"""
from __future__ import annotations

from typing import Any

from .chat import Message, Part, interpret
from .model import AlertGroup, NotAnAlert, never_raises
from .normalise import MAX_TEXT, to_str

_NOT_MESSAGES = {"message_deleted", "channel_join", "channel_leave", "channel_topic", "channel_purpose",
                 "channel_name", "pinned_item", "unpinned_item", "ekm_access_denied", "group_join",
                 "group_leave", "message_replied"}  # message_replied re-sends a thread parent already seen
_MAX_NODES = 5_000


@never_raises
def parse_slack_message(event: dict) -> AlertGroup | NotAnAlert:
    if not isinstance(event, dict):
        return NotAnAlert(reason="slack event is not a JSON object")
    if isinstance(event.get("event"), dict) and (event.get("type") == "event_callback" or "event_id" in event):
        event = event["event"]
    etype = event.get("type")
    if etype not in ("message", "app_mention", None):
        return NotAnAlert(reason=f"slack event type {to_str(etype, 40)!r} is not a message")
    subtype = to_str(event.get("subtype"), 60)
    if subtype in _NOT_MESSAGES:
        return NotAnAlert(reason=f"slack message subtype {subtype!r} carries no alert")
    message = event
    if subtype == "message_changed" and isinstance(event.get("message"), dict):
        message = event["message"]  # an edited alert (PagerDuty updates its message on resolve)
    parts = message_parts(message)
    if not parts:
        return NotAnAlert(reason="slack message has no text, attachments or blocks")
    return interpret(Message(parts=parts, source="slack", raw=event, sender=_sender(message)))


def _sender(message: dict) -> str:
    profile = message.get("bot_profile") if isinstance(message.get("bot_profile"), dict) else {}
    return " ".join(x for x in (to_str(profile.get("name"), 100), to_str(message.get("username"), 100)) if x)


def message_parts(message: dict) -> list[Part]:
    budget = [_MAX_NODES]
    parts: list[Part] = []
    blocks = message.get("blocks")
    if isinstance(blocks, list):
        parts.extend(_blocks(blocks, budget))
    attachments = message.get("attachments")
    if isinstance(attachments, list):
        for att in attachments[:50]:
            if isinstance(att, dict):
                parts.extend(_attachment(att, budget))
    text = to_str(message.get("text"), MAX_TEXT)
    if text.strip():
        seen = "\n".join(p.title + "\n" + p.text for p in parts)
        if _squash(text) not in _squash(seen):
            parts.insert(0, Part(text=text))  # the message text is the headline when it adds anything
    return [p for p in parts if p.title or p.text or p.fields]


def _squash(s: str) -> str:
    return "".join(s.split())[:MAX_TEXT]


def _attachment(att: dict, budget: list[int]) -> list[Part]:
    title = to_str(att.get("title"))
    body = "\n".join(x for x in (to_str(att.get("pretext")), to_str(att.get("text"), MAX_TEXT)) if x)
    fields = []
    if isinstance(att.get("fields"), list):
        for f in att["fields"][:50]:
            if isinstance(f, dict) and (f.get("title") or f.get("value")):
                fields.append((to_str(f.get("title"), 200), to_str(f.get("value"), 2000)))
    if not title and not body and not fields:
        body = to_str(att.get("fallback"), MAX_TEXT)  # fallback repeats title+text; only use it alone
    footer = to_str(att.get("footer"), 2000)
    if footer:
        body = f"{body}\n{footer}" if body else footer
    parts = [Part(title=title, text=body, fields=fields, color=to_str(att.get("color"), 40))]
    if isinstance(att.get("blocks"), list):
        parts.extend(_blocks(att["blocks"], budget))
    return parts


def _text_obj(obj: Any) -> str:
    if isinstance(obj, dict):
        return to_str(obj.get("text"), MAX_TEXT)
    return to_str(obj, MAX_TEXT) if isinstance(obj, str) else ""


def _blocks(blocks: list, budget: list[int]) -> list[Part]:
    parts: list[Part] = []
    for block in blocks[:100]:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            parts.append(Part(title=_text_obj(block.get("text"))))
        elif kind == "section":
            raw_fields = block.get("fields") if isinstance(block.get("fields"), list) else []
            fields = [_split_field(_text_obj(f)) for f in raw_fields[:50]]
            parts.append(Part(text=_text_obj(block.get("text")), fields=[f for f in fields if f[0]]))
            loose = "\n".join(v for k, v in fields if not k and v)
            if loose:
                parts.append(Part(text=loose))
        elif kind == "context":
            elements = block.get("elements") if isinstance(block.get("elements"), list) else []
            parts.append(Part(text=" ".join(_text_obj(e) for e in elements[:50] if isinstance(e, dict)
                                            and e.get("type") in ("mrkdwn", "plain_text"))))
        elif kind == "rich_text":
            parts.append(Part(text=_rich_text(block, budget)))
    return parts


def _split_field(text: str) -> tuple[str, str]:
    """A section field "*Status:*\nTriggered" → ("Status", "Triggered"); no label → ("", text)."""
    key, sep, value = text.partition(":")
    key = key.strip(" *_\n")
    if not sep or not key or len(key) > 40 or "<" in key or "/" in key:
        return "", text.strip()
    return key, value.strip(" *_\n")


def _rich_text(node: Any, budget: list[int], depth: int = 0) -> str:
    """Flatten rich_text element trees; bounded in depth and node count against hostile nesting."""
    if budget[0] <= 0 or depth > 12:
        return ""
    budget[0] -= 1
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "text":
            return to_str(node.get("text"), MAX_TEXT)
        if kind == "link":
            return to_str(node.get("text") or node.get("url"), 2000)
        if kind in ("user", "channel", "usergroup", "broadcast", "emoji"):
            return ""
        children = node.get("elements")
        if isinstance(children, list):
            sep = "\n" if kind in ("rich_text", "rich_text_list", "rich_text_preformatted", "rich_text_quote") else ""
            return sep.join(_rich_text(c, budget, depth + 1) for c in children[:500])
    return ""
