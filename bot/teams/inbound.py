"""What every request to POST /api/messages must be before a handler reads it (bot/slack/inbound.py's
counterpart): a JSON object (depth-bounded, bot/bounded_json.py) of an activity type the bot knows,
whose fields have the types the handlers assume. Anything else is Refused(400) with a reason,
answered in one log line.

Order (bot/teams/endpoint.py): `load` the JSON object, check the Bot Framework token (its
`serviceurl` claim must equal the body's serviceUrl, so the body is decoded first), then `check`
the shape. An unauthenticated request therefore costs a JSON decode and a signature check, and
never reaches a handler, the database or the Bot Connector.
"""
from __future__ import annotations

from typing import Any

from bot.bounded_json import BadJSON, loads
from bot.slack.inbound import Refused, check_field_types

HANDLED = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate", "messageUpdate"})
# Sent to every Teams bot now and then; acknowledged (200) and otherwise ignored.
IGNORED = frozenset({"typing", "messageReaction", "event", "endOfConversation", "messageDelete", "deleteUserData",
                     "contactRelationUpdate", "trace", "suggestion", "handoff", "command", "commandResult"})
INVOKES = frozenset({"adaptiveCard/action"})
MAX_ID = 300  # conversations.channel_id is String(300); Teams ids are ~100 characters
_STRING = ("id", "channelId", "serviceUrl", "text", "textFormat", "name", "replyToId", "action", "locale")
_ACCOUNT_STRING = ("id", "name", "aadObjectId", "role", "conversationType", "tenantId")
_OBJECT = ("channelData",)
_LIST_OF_OBJECTS = ("attachments", "entities", "membersAdded", "membersRemoved")


def load(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or Refused(400)."""
    try:
        activity = loads(body)
    except BadJSON as exc:
        raise Refused(400, f"activity: {exc}"[:200]) from None
    if not isinstance(activity, dict):
        raise Refused(400, "activity is JSON but not an object")
    return activity


def check(activity: dict[str, Any]) -> dict[str, Any]:
    """The activity if the handlers can read it, else Refused(400) naming what is wrong."""
    kind = activity.get("type")
    if not isinstance(kind, str):
        raise Refused(400, "activity has no type")
    if kind not in HANDLED | IGNORED:
        raise Refused(400, f"activity type {kind[:40]!r} is not one this bot handles")
    check_field_types(activity, _STRING, _OBJECT, _LIST_OF_OBJECTS)
    for key in ("from", "recipient", "conversation"):
        _account(activity.get(key), key)
    if len(activity["conversation"]["id"]) > MAX_ID:
        raise Refused(400, f"conversation id longer than {MAX_ID} characters")
    url = activity.get("serviceUrl") or ""
    if not url.startswith(("https://", "http://")) or len(url) > 500:
        raise Refused(400, "serviceUrl is not an http(s) URL of at most 500 characters")
    if kind == "invoke" and activity.get("name") not in INVOKES:
        raise Refused(400, f"invoke {str(activity.get('name'))[:60]!r} is not one this bot handles")
    return activity


def _account(value: Any, key: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise Refused(400, f"{key} is not an object with an id")
    for field in _ACCOUNT_STRING:
        if value.get(field) is not None and not isinstance(value[field], str):
            raise Refused(400, f"{key}.{field} is not a string")
