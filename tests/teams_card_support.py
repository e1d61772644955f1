"""A structural validator for the Adaptive Card 1.5 elements the bot sends to Teams.

Written from the 1.5 schema (adaptivecards.io/explorer): the element and action types the bot
uses, their documented properties and enum values (so a typo fails instead of being silently
ignored by a client), required properties, unique ids, and what Teams needs for a button to call
back: Action.Execute with a verb and object data, every action titled, fallbacks that are actions.
No PyPI package ships the official schema, hence this; extend it when a card uses a new element.
"""
from __future__ import annotations

import re
from typing import Any

SPACING = {"None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"}
ENUMS = {
    "spacing": SPACING,
    "color": {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"},
    "fontType": {"Default", "Monospace"},
    "weight": {"Default", "Lighter", "Bolder"},
    "horizontalAlignment": {"Left", "Center", "Right"},
}
ELEMENT_PROPS = {"type", "id", "spacing", "separator", "isVisible", "height", "fallback", "requires"}
ELEMENTS: dict[str, dict[str, Any]] = {
    "TextBlock": {"required": {"text"}, "props": {"text", "color", "fontType", "horizontalAlignment", "isSubtle",
                                                   "maxLines", "size", "weight", "wrap", "style"},
                  "enums": {"size": {"Default", "Small", "Medium", "Large", "ExtraLarge"},
                            "style": {"default", "heading"}}},
    "FactSet": {"required": {"facts"}, "props": {"facts"}},
    "Container": {"required": {"items"}, "props": {"items", "selectAction", "style", "verticalContentAlignment",
                                                   "bleed", "backgroundImage", "minHeight", "rtl"},
                  "enums": {"style": {"default", "emphasis", "good", "attention", "warning", "accent"}}},
    "Image": {"required": {"url"}, "props": {"url", "altText", "backgroundColor", "horizontalAlignment",
                                             "selectAction", "size", "style", "width", "msteams"},
              "enums": {"size": {"Auto", "Stretch", "Small", "Medium", "Large"}, "style": {"default", "person"}}},
    "ActionSet": {"required": {"actions"}, "props": {"actions"}},
    # Inputs (the feedback form): an id is what their value comes back under.
    "Input.ChoiceSet": {"required": {"id", "choices"}, "props": {"choices", "isMultiSelect", "style", "value",
                                                                 "placeholder", "wrap", "label", "isRequired",
                                                                 "errorMessage"},
                        "enums": {"style": {"compact", "expanded", "filtered"}}},
    "Input.Text": {"required": {"id"}, "props": {"isMultiline", "maxLength", "placeholder", "regex", "style", "value",
                                                 "inlineAction", "label", "isRequired", "errorMessage"},
                   "enums": {"style": {"text", "tel", "url", "email", "password"}}},
}
ACTION_PROPS = {"type", "id", "title", "iconUrl", "style", "fallback", "tooltip", "isEnabled", "requires"}
ACTIONS = {"Action.Execute": {"verb", "data", "associatedInputs"}, "Action.Submit": {"data", "associatedInputs"},
           "Action.OpenUrl": {"url"}}
CARD_PROPS = {"type", "$schema", "version", "body", "actions", "selectAction", "fallbackText", "backgroundImage",
              "minHeight", "rtl", "speak", "lang", "verticalContentAlignment", "refresh", "authentication",
              "metadata", "msteams"}
IMAGE_URL = re.compile(r"https?://\S+|data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/]+={0,2}")


class CardError(AssertionError):
    pass


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise CardError(f"{where}: {what}")


def _props(obj: dict, allowed: set[str], enums: dict[str, set[str]], where: str) -> None:
    unknown = set(obj) - allowed
    _check(not unknown, where, f"unknown properties {sorted(unknown)}")
    for key, values in enums.items():
        if key in obj:
            _check(obj[key] in values, where, f"{key}={obj[key]!r} not one of {sorted(values)}")


def _action(a: Any, where: str, ids: list[str]) -> None:
    _check(isinstance(a, dict), where, "an action must be an object")
    kind = a.get("type")
    _check(kind in ACTIONS, where, f"unknown action type {kind!r}")
    where = f"{where}/{kind}"
    _props(a, ACTION_PROPS | ACTIONS[kind], {"style": {"default", "positive", "destructive"}}, where)
    _check(isinstance(a.get("title"), str) and a["title"].strip() != "", where, "every button needs a title")
    if kind == "Action.Execute":
        _check(isinstance(a.get("verb"), str) and a["verb"] != "", where, "Action.Execute needs a verb")
    if kind in ("Action.Execute", "Action.Submit"):
        _check(isinstance(a.get("data"), dict), where, "data must be an object (it comes back as the value)")
        _check(a.get("associatedInputs", "auto") in ("auto", "none"), where, "associatedInputs is auto or none")
    if kind == "Action.OpenUrl":
        _check(isinstance(a.get("url"), str) and re.match(r"https?://", a["url"]) is not None, where, "url")
    if "id" in a:
        ids.append(a["id"])
    fb = a.get("fallback")
    if fb is not None:
        _check(fb == "drop" or isinstance(fb, dict), where, "fallback is an action or 'drop'")
        if isinstance(fb, dict):
            _action(fb, f"{where}/fallback", [])


def _element(el: Any, where: str, ids: list[str]) -> None:
    _check(isinstance(el, dict), where, "an element must be an object")
    kind = el.get("type")
    _check(kind in ELEMENTS, where, f"unknown element type {kind!r}")
    spec = ELEMENTS[kind]
    where = f"{where}/{kind}" + (f"#{el['id']}" if "id" in el else "")
    _props(el, ELEMENT_PROPS | spec["props"], {**ENUMS, **spec.get("enums", {})}, where)
    for req in spec["required"]:
        _check(req in el, where, f"missing required {req!r}")
    if "id" in el:
        _check(isinstance(el["id"], str) and el["id"] != "", where, "id must be a non-empty string")
        ids.append(el["id"])
    if kind == "TextBlock":
        _check(isinstance(el["text"], str) and el["text"] != "", where, "text must be a non-empty string")
    elif kind == "FactSet":
        _check(isinstance(el["facts"], list) and el["facts"], where, "facts must be a non-empty list")
        for f in el["facts"]:
            _check(isinstance(f, dict) and set(f) == {"title", "value"}, where, f"a fact is {{title, value}}: {f}")
            _check(all(isinstance(v, str) and v for v in f.values()), where, f"fact strings: {f}")
    elif kind == "Container":
        _check(isinstance(el["items"], list) and el["items"], where, "items must be a non-empty list")
        for i, item in enumerate(el["items"]):
            _element(item, f"{where}[{i}]", ids)
    elif kind == "Image":
        _check(isinstance(el["url"], str) and IMAGE_URL.fullmatch(el["url"]) is not None, where, "url")
    elif kind == "Input.ChoiceSet":
        _check(isinstance(el["choices"], list) and el["choices"], where, "choices must be a non-empty list")
        for c in el["choices"]:
            _check(isinstance(c, dict) and set(c) == {"title", "value"} and all(isinstance(v, str) and v
                                                                                for v in c.values()),
                   where, f"a choice is {{title, value}} of strings: {c}")
    elif kind == "ActionSet":
        _check(isinstance(el["actions"], list) and el["actions"], where, "actions must be a non-empty list")
        for i, a in enumerate(el["actions"]):
            _action(a, f"{where}[{i}]", ids)


def validate_card(card: Any) -> None:
    """Raise CardError naming the first problem of an Adaptive Card 1.5 the bot sends to Teams."""
    _check(isinstance(card, dict), "card", "must be an object")
    _check(card.get("type") == "AdaptiveCard", "card", "type must be AdaptiveCard (never a connector MessageCard)")
    _check(card.get("version") == "1.5", "card", "version must be 1.5 (Action.Execute needs 1.4+)")
    _props(card, CARD_PROPS, {}, "card")
    body = card.get("body")
    _check(isinstance(body, list) and body, "card", "body must be a non-empty list")
    ids: list[str] = []
    for i, el in enumerate(body):
        _element(el, f"body[{i}]", ids)
    for i, a in enumerate(card.get("actions") or []):
        _action(a, f"actions[{i}]", ids)
    _check(isinstance(card.get("msteams", {}), dict), "card", "msteams must be an object")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    _check(not dupes, "card", f"ids must be unique: {dupes}")


def elements(card: dict, kind: str | None = None) -> list[dict]:
    """Every element and action of a card, depth first (fallbacks included), optionally of one type."""
    out: list[dict] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node and node is not card:
                out.append(node)
            for key in ("body", "items", "actions", "fallback"):
                walk(node.get(key))
        elif isinstance(node, list):
            for n in node:
                walk(n)
    walk(card)
    return [e for e in out if kind is None or e.get("type") == kind]
