"""Teams feedback clicks: reading them, and the "Wrong cause" form card.

The diagnosis card's feedback section (bot/teams/cards.py) has two Action.Execute buttons, verbs
`feedback_right` and `feedback_wrong`, data {diagnosis_id, token}. "Wrong cause" is answered with
form_card as the invoke response, which replaces the card for the clicker only: an Input.ChoiceSet
of the real category (the diagnosed one left out) and an Input.Text line; its Action.Execute
`feedback_submit` sends them merged into the data, with the diagnosis card's activity id (signed
with the diagnosis id, so a doctored form cannot point the update at another message), so the
verdict updates that card even when an older client (Action.Submit) had the form posted apart.
`feedback_cancel` gives the clicker their diagnosis card back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.feedback import FeedbackForm
from bot.feedback.record import MAX_NOTE
from bot.teams.cards import VERB_RIGHT, VERB_WRONG, _card, _text, button_data, execute
from bot.teams.markdown import esc, plain
from tools.taxonomy import category_label

VERB_SUBMIT, VERB_CANCEL = "feedback_submit", "feedback_cancel"
MESSAGE_PURPOSE = "feedback-message"  # Signer purpose of the form's "which card" field
VERBS = (VERB_RIGHT, VERB_WRONG, VERB_SUBMIT, VERB_CANCEL)
CATEGORY_INPUT, NOTE_INPUT = "category", "note"
MAX_CATEGORY = 50
_ACTIVITY_ID = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True)
class FeedbackClick:
    verb: str
    diagnosis_id: str
    token: str
    message: str | None = None  # the diagnosis card's activity id (the form's submit and cancel carry it)
    message_token: str | None = None
    category: str | None = None
    note: str | None = None


def feedback_data(activity_value: Any) -> FeedbackClick | None:
    """A click on a feedback button or the form, from an invoke or an Action.Submit message; None for
    anything else; never raises. The category is checked against the taxonomy when it is recorded."""
    found = button_data(activity_value, VERBS, "diagnosis_id")
    if found is None:
        return None
    verb, data, diagnosis_id, token = found
    message, category, note = data.get("message"), data.get(CATEGORY_INPUT), data.get(NOTE_INPUT)
    signed = data.get("message_token")
    return FeedbackClick(verb, diagnosis_id, token,
                         message if isinstance(message, str) and _ACTIVITY_ID.fullmatch(message) else None,
                         signed if isinstance(signed, str) else None,
                         category[:MAX_CATEGORY] if isinstance(category, str) and category else None,
                         note[:MAX_NOTE * 2] if isinstance(note, str) else None)


def card_of_click(click: FeedbackClick, signer: Any) -> str | None:
    """The diagnosis card's activity id the form names, if the bot signed it for this diagnosis."""
    ok = click.message and signer.verify_for(MESSAGE_PURPOSE, click.message_token, click.diagnosis_id, click.message)
    return click.message if ok else None


def form_card(form: FeedbackForm, message: str, signer: Any) -> dict:
    """What the clicker of "Wrong cause" fills in: the real cause and one line about it."""
    data = {"diagnosis_id": form.diagnosis_id, "token": form.token, "message": message,
            "message_token": signer.sign_for(MESSAGE_PURPOSE, form.diagnosis_id, message)}
    choices = [{"title": plain(label, 80), "value": category} for category, label in form.choices]
    return _card([
        _text(f"**Wrong cause** — the diagnosis said {esc(category_label(form.engine_category), 80)}. What was the "
              "real cause? Your answer is audited and becomes what the bot remembers about this incident.",
              id="feedback_form_intro"),
        {"type": "Input.ChoiceSet", "id": CATEGORY_INPUT, "label": "Real cause", "style": "compact",
         "isRequired": True, "errorMessage": "Pick the real cause", "placeholder": "Pick the real cause",
         "choices": choices},
        {"type": "Input.Text", "id": NOTE_INPUT, "label": "What happened, in one line", "maxLength": MAX_NOTE,
         "placeholder": "e.g. coredns ConfigMap edited by hand"},
        {"type": "ActionSet", "id": "feedback_form_actions", "actions": [
            execute(VERB_SUBMIT, "Record", data, "positive", associatedInputs="auto"),
            execute(VERB_CANCEL, "Cancel", data, associatedInputs="none")]}])
