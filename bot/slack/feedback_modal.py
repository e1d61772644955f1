"""The Slack modal a "Wrong cause" click opens, and reading its submission.

The modal (views.open with the click's trigger_id) asks for the real category (a static_select of
the taxonomy's categories with their human labels, the diagnosed one left out) and one line of
text. Its private_metadata carries the diagnosis id, the feedback token and where the diagnosis
message is, so the view_submission (callback_id CALLBACK) records the verdict and updates that
message; the token is checked again then, so an altered form records nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.feedback import FeedbackForm
from bot.feedback.record import MAX_NOTE
from bot.slack.blocks import esc, plain, section
from bot.workflow.surface import MessageRef
from tools.taxonomy import CATEGORIES, CATEGORY_DESCRIPTIONS, category_label

CALLBACK = "feedback_wrong_cause"
CATEGORY_BLOCK, NOTE_BLOCK = "feedback_category", "feedback_note"
CATEGORY_ACTION, NOTE_ACTION = "category", "note"
MAX_TITLE = 24        # modal title, submit and close texts
MAX_OPTION = 75       # option text and description
MAX_METADATA = 3000
STALE = "This form is out of date: press Wrong cause on the diagnosis again."


def modal(form: FeedbackForm, ref: MessageRef) -> dict:
    meta = json.dumps({"d": form.diagnosis_id, "t": form.token, "c": ref.channel, "m": ref.ts, "th": ref.thread},
                      separators=(",", ":"))
    options = [{"text": plain(label, MAX_OPTION), "value": category,
                "description": plain(CATEGORY_DESCRIPTIONS.get(category, ""), MAX_OPTION)}
               for category, label in form.choices]
    return {"type": "modal", "callback_id": CALLBACK, "private_metadata": meta[:MAX_METADATA],
            "title": plain("Wrong cause", MAX_TITLE), "submit": plain("Record", MAX_TITLE),
            "close": plain("Cancel", MAX_TITLE),
            "blocks": [section(f"The diagnosis said *{esc(category_label(form.engine_category))}*. What was the real "
                               "cause? Your answer is audited and becomes what the bot remembers about this incident.",
                               "feedback_intro"),
                       {"type": "input", "block_id": CATEGORY_BLOCK, "label": plain("Real cause", 2000),
                        "element": {"type": "static_select", "action_id": CATEGORY_ACTION, "options": options,
                                    "placeholder": plain("Pick the real cause", 150)}},
                       {"type": "input", "block_id": NOTE_BLOCK, "optional": True,
                        "label": plain("What happened, in one line", 2000),
                        "element": {"type": "plain_text_input", "action_id": NOTE_ACTION, "max_length": MAX_NOTE,
                                    "placeholder": plain("e.g. coredns ConfigMap edited by hand", 150)}}]}


@dataclass(frozen=True)
class Submission:
    diagnosis_id: str
    token: str
    message: MessageRef
    category: str
    note: str | None


def read_submission(view: Any) -> Submission | dict[str, str]:
    """The submitted verdict, or Slack's `errors` (block id -> message) to show in the open modal, so
    nothing typed is lost."""
    view = view if isinstance(view, dict) else {}
    try:
        meta = json.loads(view.get("private_metadata") or "")
        diagnosis_id, token, channel, ts = (str(meta[k]) for k in ("d", "t", "c", "m"))
        thread = str(meta["th"]) if meta.get("th") else None
    except (ValueError, TypeError, KeyError):
        return {CATEGORY_BLOCK: STALE}
    values = (view.get("state") or {}).get("values") or {}
    picked = ((values.get(CATEGORY_BLOCK) or {}).get(CATEGORY_ACTION) or {}).get("selected_option") or {}
    category = picked.get("value") if isinstance(picked, dict) else None
    if category not in CATEGORIES:
        return {CATEGORY_BLOCK: "Pick the real cause."}
    note = (values.get(NOTE_BLOCK) or {}).get(NOTE_ACTION) or {}
    text = note.get("value") if isinstance(note, dict) else None
    return Submission(diagnosis_id, token, MessageRef(channel, ts, thread), category,
                      text if isinstance(text, str) else None)
