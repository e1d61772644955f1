"""What every HTTP request to POST /slack/events must pass before slack-bolt parses it.

Order matters: the signature is checked on the raw bytes first, so an unsigned or forged request
costs one HMAC and one log line, never a parse (bolt parses before it verifies, and junk used
to end in a 500 with a traceback). Only a request Slack signed is then checked for the shape
bolt and our listeners rely on: UTF-8, a known content type, JSON objects where objects are
expected (depth-bounded), a known request type, the fields they read having the types they
assume, and a command, event type, button or modal the app handles. Anything else is refused with 400
and a reason. Signing follows Slack's "Verifying requests from Slack"
(https://api.slack.com/authentication/verifying-requests-from-slack): `v0=` HMAC-SHA256 of
`v0:{X-Slack-Request-Timestamp}:{body}` with the signing secret, the timestamp within five minutes.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl

from bot.bounded_json import BadJSON, loads

MAX_SKEW = 300  # seconds; older (or future) timestamps are replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

EVENT_TYPES = frozenset({"url_verification", "event_callback", "app_rate_limited"})
PAYLOAD_TYPES = frozenset({"block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut",
                           "message_action", "interactive_message", "dialog_submission", "dialog_cancellation",
                           "dialog_suggestion", "workflow_step_edit"})
# Fields bolt's context extraction and matchers read as objects (or ids) and lists of objects.
_ID_OR_OBJECT = ("enterprise", "team", "user", "channel")
_OBJECT = ("event", "view", "message", "previous_message", "item", "container", "assistant_thread", "function_data",
           "state")
_LIST_OF_OBJECTS = ("authorizations", "actions", "response_urls")
_STRING = ("type", "subtype", "id", "ts", "thread_ts", "message_ts", "event_id", "user_id", "channel_id", "team_id",
           "action_id", "block_id", "value", "bot_id", "username", "name", "trigger_id", "response_url")


@dataclass(frozen=True)
class Handled:
    """What the app has listeners for; anything else is refused here, in one log line (bolt would
    answer 404 and log a multi-line suggestion)."""
    commands: frozenset[str]
    events: frozenset[str]
    actions: frozenset[str]
    views: frozenset[str] = frozenset()  # callback ids of the modals whose view_submission it handles


class Refused(Exception):
    """The request is answered with `status` and `reason`; nothing else happens."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def verify(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float) -> None:
    """Raises Refused(401) unless Slack signed exactly this body within the last five minutes."""
    if not timestamp or not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "missing or malformed X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > MAX_SKEW:
        raise Refused(401, "X-Slack-Request-Timestamp is more than five minutes away (replayed or clock skew)")
    if not signature or not _SIGNATURE.fullmatch(signature):
        raise Refused(401, "missing or malformed X-Slack-Signature")
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Refused(401, "X-Slack-Signature does not match the body")


def parse(content_type: str, body: bytes, handled: Handled) -> dict[str, Any]:
    """The request as bolt will see it (events: the JSON object; slash commands: the form fields;
    interactivity: the `payload` object), or Refused(400) saying what is wrong with it, including
    a command, event type or button the app does not handle."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None
    if not text:
        raise Refused(400, "empty body")
    if content_type == "application/json":
        data = _object(text, "body")
        _check_type(data, EVENT_TYPES, "body")
        if data["type"] == "url_verification" and not isinstance(data.get("challenge"), str):
            raise Refused(400, "url_verification without a challenge string")
        if data["type"] == "event_callback":
            event = data.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("text", ""), str):
                raise Refused(400, "event_callback without an event object, or with text that is not text")
            if event.get("type") not in handled.events:
                raise Refused(400, f"event type {str(event.get('type'))[:40]!r} is not one this app handles")
    elif content_type == "application/x-www-form-urlencoded":
        if text.startswith("{"):  # bolt would parse this as JSON whatever the content type says
            raise Refused(400, "form body that is JSON")
        fields = parse_qsl(text, keep_blank_values=True)
        payloads = [v for k, v in fields if k == "payload"]
        if len(payloads) > 1:
            raise Refused(400, "more than one payload field")
        if payloads:
            data = _object(payloads[0], "payload")
            _check_type(data, PAYLOAD_TYPES, "payload")
            if data["type"] == "block_actions":
                _check_block_actions(data, handled.actions)
            elif data["type"] == "view_submission":
                _check_view_submission(data, handled.views)
            else:  # a shortcut, a closed modal, a legacy dialog...: nothing here listens for it
                raise Refused(400, f"payload type {data['type']!r} is not one this app handles")
        else:
            data = dict(fields)
            if "ssl_check" in data:
                return data
            if "command" not in data:
                raise Refused(400, "form without payload, command or ssl_check")
            if data["command"] not in handled.commands:
                raise Refused(400, f"slash command {data['command'][:40]!r} is not one this app handles")
    else:
        raise Refused(400, f"unsupported content type {content_type[:60]!r}")
    return data


def content_type(headers: Mapping[str, str]) -> str:
    return headers.get("Content-Type", "").split(";")[0].strip().lower()


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        data = loads(text)
    except BadJSON as exc:
        raise Refused(400, f"{what}: {exc}"[:200]) from None
    if not isinstance(data, dict):
        raise Refused(400, f"{what} is JSON but not an object")
    _check_shape(data)
    return data


def _check_block_actions(data: dict, actions: frozenset[str]) -> None:
    """A button click as bolt's matchers and our click handler read it."""
    if not data.get("actions") or not all(a.get("action_id") in actions for a in data["actions"]):
        raise Refused(400, "block_actions without an action this app handles")
    if not isinstance(data.get("user"), dict) or any(isinstance(data.get(k), str) for k in _ID_OR_OBJECT):
        raise Refused(400, "block_actions whose user, team or channel is not an object")


def _check_view_submission(data: dict, views: frozenset[str]) -> None:
    """A modal submitted, as bolt's view matcher and our submission handler read it."""
    view = data.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str) or view["callback_id"] not in views:
        raise Refused(400, "view_submission of a view this app does not handle")
    if not isinstance(data.get("user"), dict) or not isinstance(view.get("private_metadata", ""), str):
        raise Refused(400, "view_submission whose user is not an object or whose private_metadata is not text")


def _check_type(data: dict, known: frozenset[str], what: str) -> None:
    kind = data.get("type")
    if not isinstance(kind, str):
        raise Refused(400, f"{what} has no type")
    if kind not in known:
        raise Refused(400, f"{what} type {kind[:60]!r} is not one this app handles")


def check_field_types(data: dict[str, Any], strings: tuple[str, ...], objects: tuple[str, ...],
                      lists_of_objects: tuple[str, ...], ids_or_objects: tuple[str, ...] = ()) -> None:
    """Refused(400) naming the first present field whose JSON type is not what the handlers read
    (Slack payloads and Teams activities alike)."""
    for key in strings:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise Refused(400, f"{key} is not a string")
    for key in ids_or_objects:
        if data.get(key) is not None and not isinstance(data[key], (str, dict)):
            raise Refused(400, f"{key} is neither an id nor an object")
    for key in objects:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise Refused(400, f"{key} is not an object")
    for key in lists_of_objects:
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise Refused(400, f"{key} is not a list of objects")


def _check_shape(data: dict[str, Any], depth: int = 0) -> None:
    """The fields bolt and our listeners dereference have the types they assume, at any level
    they reach (a wrong type used to raise inside bolt: a 500 and a traceback)."""
    check_field_types(data, _STRING, _OBJECT, _LIST_OF_OBJECTS, ids_or_objects=_ID_OR_OBJECT)
    if depth < 3:
        children = [data[k] for k in _OBJECT + _ID_OR_OBJECT if isinstance(data.get(k), dict)]
        for child in children + [v for k in _LIST_OF_OBJECTS for v in data.get(k) or ()]:
            _check_shape(child, depth + 1)
