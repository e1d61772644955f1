"""Adaptive Cards (schema 1.5) for Microsoft Teams: progress, diagnosis, proposals and their updates.

Pure functions of the workflow's views returning card dicts, posted as `attachment(card)`; no I/O
and no botbuilder (that SDK stays in bot/teams/adapter.py). They say what the Slack renderer
(bot/slack/blocks.py) says, and everything that came from outside goes through
bot.teams.markdown.esc. These are real Adaptive Cards sent by a bot, never connector MessageCards.

Buttons are Universal Actions: `Action.Execute` with a verb and data {proposal_id, token}, which
Teams sends to the bot as an `adaptiveCard/action` invoke (whose response may carry the refreshed
card). Hosts without Universal Actions use each button's `fallback`, an `Action.Submit` whose data
is the same plus the verb; it arrives as a message activity whose `value` is that data (no
`msteams` messageBack key, so no text is posted in the user's name). action_data() reads both.

Action.Execute has no confirm dialog, so what a click does (the action, its risk, the approvals
it needs) is a TextBlock right above the buttons: visible before anyone clicks. A ShowCard would
hide it behind a second click and carry every button's payload twice.

No `refresh` block: with `userIds` empty (the only safe value in a busy channel) Teams never
refreshes on its own, and a manual refresh would need a handler for one more verb; the bot
already replaces the card after every decision and every expiry (refresh_proposal).

Size: Teams refuses a message over about 28 KB. A card is built to at most MAX_CARD_BYTES (its
JSON as sent, ASCII-escaped), and so that it stays within it, the chart left out, with every
proposal that can still change counted at PROPOSAL_MAX, the most its section can ever take
(_proposal shortens a note or rationale to stay within it), and the feedback section (who said
the cause was right or wrong, and its two buttons) at FEEDBACK_MAX. A refresh that would pass the limit
leaves the chart out, so no refresh can. What does not fit is counted ("…and N more"); the chart
is the first thing left out.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, replace
from datetime import timezone
from typing import Any

from bot.evidence_links import safe_url
from bot.feedback import PROMPT, RIGHT, WRONG, feedback_lines
from bot.remediation.views import aware, confirm_text
from bot.render_text import ruled_out_line
from bot.slack.blocks import DANGER_RISKS, MAX_PROPOSALS, confidence_label, headline  # platform-neutral wording
from bot.teams.markdown import clip, esc, link, plain
from bot.workflow.progress import progress_text
from bot.workflow.surface import DiagnosisPost, ProgressView
from tools.taxonomy import CATEGORY_DESCRIPTIONS

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
VERB_APPROVE, VERB_REJECT = "proposal_approve", "proposal_reject"
_DECISIONS = {VERB_APPROVE: "approve", VERB_REJECT: "reject"}
VERB_RIGHT, VERB_WRONG = "feedback_right", "feedback_wrong"  # feedback; the form's are in feedback_cards.py

MAX_CARD_BYTES = 24_000   # the card; the activity around it (ids, serviceUrl, channelData) stays under 4 KB
PROPOSAL_MAX = 3_200      # the most one proposal's section takes, whatever its state, note and text
MAX_TEXT = 4_000          # a plain note (text_card)
MAX_BUTTON = 80           # Teams cuts longer button titles anyway
FEEDBACK_MAX = 3_200      # the most the feedback section takes, however many answered and whatever they wrote
PROPOSAL_ID, ACTIONS_ID = "proposal:", "proposal_actions:"
CHART_ID, FEEDBACK_ID = "diagnosis_chart", "diagnosis_feedback"

# Decided states (bot.models.PROPOSAL_STATES) as the Slack renderer words them; anything else is "Not offered".
_DECIDED = {"succeeded": ("✅ Executed and verified", "Good"), "failed": ("❌ Approved, but the action failed", "Attention"),
            "rejected": ("🚫 Rejected", None), "approved": ("⚙️ Approved, starting", None),
            "executing": ("⚙️ Approved, running", None), "expired": ("⌛ Expired without a decision", None)}
# Slack shortcodes the workflow writes in its notes (bot/workflow), as Teams shows them.
_SHORTCODES = {":rotating_light:": "🚨", ":white_check_mark:": "✅", ":warning:": "⚠️", ":x:": "❌",
               ":hourglass:": "⌛", ":hourglass_flowing_sand:": "⏳", ":mag:": "🔍"}
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|gif);base64,[A-Za-z0-9+/]+={0,2}")
_ID = re.compile(r"[\x21-\x7e]{1,64}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")


def card_size(card: dict) -> int:
    """Bytes of the card's JSON as a bot sends it (ASCII-escaped: never less than UTF-8)."""
    return len(json.dumps(card))


def attachment(card: dict) -> dict:
    return {"contentType": CONTENT_TYPE, "content": card}


def _card(body: list[dict]) -> dict:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body, "msteams": {"width": "Full"}}


def _text(text: str, **props: Any) -> dict:
    return {"type": "TextBlock", "text": text or " ", "wrap": True, **{k: v for k, v in props.items() if v is not None}}


def text_card(text: str) -> dict:
    """A note from the workflow (Slack shortcodes become emoji; the rest shows as written)."""
    shown = _SHORTCODE.sub(lambda m: _SHORTCODES.get(m.group(0), m.group(0)), str(text or ""))
    return _card([_text(esc(shown, MAX_TEXT, multiline=True), id="note")])


# ---- progress -------------------------------------------------------------------------------

def progress_card(view: ProgressView) -> dict:
    body = [_text(progress_text(view, esc(view.label, 300), "⏳", "✅"), id="progress")]
    if view.incident_id:
        body.append(_text(f"incident {esc(view.incident_id, 64)}", id="progress_context", isSubtle=True,
                          size="Small", spacing="None"))
    return _card(body)


# ---- proposals ------------------------------------------------------------------------------

def _expiry(view) -> str:  # noqa: ANN001 (ProposalView)
    if view.expires_at is None:
        return ""
    ts = aware(view.expires_at).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # shown in the reader's zone
    return f" · expires {{{{DATE({ts}, SHORT)}}}} {{{{TIME({ts})}}}}"


def _status(view) -> tuple[str, str | None]:  # noqa: ANN001
    if view.offerable:
        missing = max(view.approvals_required - view.approvals_received, 0)
        need = f"needs {missing} more approval{'s' if missing != 1 else ''}"
        if view.approvals_required > 1:
            need += f" ({view.approvals_received}/{view.approvals_required})"
        return f"🟠 Awaiting approval · {need}{_expiry(view)}", None
    if view.state in _DECIDED:
        return _DECIDED[view.state]
    return f"⛔ Not offered: {esc(view.reason or view.state, 400)}", "Warning"


def execute(verb: str, title: str, data: dict, style: str | None = None, **props: Any) -> dict:
    """An Action.Execute button with its Action.Submit fallback (same data, plus the verb)."""
    styled = {"style": style} if style else {}
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": data, **styled, **props,
            "fallback": {"type": "Action.Submit", "title": title, **styled, **props, "data": {"verb": verb, **data}}}


def _button(view, verb: str, title: str, style: str) -> dict:  # noqa: ANN001
    return execute(verb, title, {"proposal_id": view.proposal_id, "token": view.token}, style)


def _buttons(view, key: str, action_limit: int) -> list[dict]:  # noqa: ANN001
    danger = view.risk in DANGER_RISKS
    action = clip(view.action_text, action_limit)
    body = view.confirm_text if len(view.action_text) <= action_limit and view.confirm_text else \
        confirm_text(action, view.risk, view.approvals_required, view.approvals_received)
    approve = plain(f"⚠️ Approve {view.risk} risk: {action}" if danger else f"Approve: {action}", MAX_BUTTON)
    confirm = _text(("⚠️ " if danger else "") + esc(body, 2 * action_limit + 300),
                    color="Attention" if danger else None, weight="Bolder" if danger else None)
    actions = [_button(view, VERB_APPROVE, approve, "positive"), _button(view, VERB_REJECT, "Reject", "destructive")]
    return [confirm, {"type": "ActionSet", "id": ACTIONS_ID + key, "actions": actions}]


# (action text, rationale, note, approvers shown) limits, tried in turn until a section fits PROPOSAL_MAX;
# the last fits even when every character needs escaping (tested).
_PROPOSAL_LEVELS = ((300, 400, 400, 5), (120, 120, 160, 3), (40, 0, 40, 1))


def _proposal(view, note: str | None = None, key: str | None = None) -> dict:  # noqa: ANN001 (ProposalView)
    """A proposal's Container: what and how risky, its state, who approved, an optional note, and
    the confirm text and buttons only while it can still be approved."""
    key = key or view.proposal_id or "refused"
    for action_limit, rationale_limit, note_limit, approvers in _PROPOSAL_LEVELS:
        status, color = _status(view)
        items = [_text(f"**{esc(view.action_text, action_limit)}** · risk **{esc(view.risk, 20)}**"),
                 _text(status, color=color, spacing="Small")]
        if view.rationale and rationale_limit:
            items.append(_text(f"_{esc(view.rationale, rationale_limit)}_", isSubtle=True, spacing="Small"))
        if view.approvers:
            more = f" and {len(view.approvers) - approvers} more" if len(view.approvers) > approvers else ""
            items.append(_text("Approved by " + ", ".join(esc(a, 48) for a in view.approvers[:approvers]) + more,
                               spacing="Small"))
        if note:
            items.append(_text(esc(note, note_limit), isSubtle=True, spacing="Small"))
        if view.offerable and view.proposal_id and view.token:
            items.extend(_buttons(view, key, action_limit))
        section = {"type": "Container", "id": PROPOSAL_ID + key, "separator": True, "spacing": "Medium",
                   "items": items}
        if card_size(section) <= PROPOSAL_MAX:
            break
    return section


def proposal_card(view, note: str | None = None) -> dict:  # noqa: ANN001
    """A proposal posted on its own (an undo offered after an action ran), refreshed like any other."""
    body = [_text(f"↩️ {esc(note, 500)}", id="proposal_intro", weight="Bolder")] if note else []
    return _card([*body, _proposal(view)])


def refresh_proposal(card: dict, view, note: str | None = None) -> dict | None:  # noqa: ANN001
    """A copy of `card` with the section of `view.proposal_id` re-rendered in its new state (and the
    chart left out if the card would pass MAX_CARD_BYTES); None when the card holds no such section
    (then post proposal_card(view, note) instead)."""
    body = card.get("body") if isinstance(card, dict) else None
    if not view.proposal_id or not isinstance(body, list):
        return None
    wanted = PROPOSAL_ID + view.proposal_id
    at = next((i for i, el in enumerate(body) if isinstance(el, dict) and el.get("id") == wanted), None)
    if at is None:
        return None
    new = copy.deepcopy(card)
    new["body"][at] = _proposal(view, note, view.proposal_id)
    return _within_budget(new)


def _within_budget(card: dict) -> dict:
    """The card, with the chart left out if it would pass MAX_CARD_BYTES (diagnosis_card left room
    for every later refresh with the chart out)."""
    if card_size(card) > MAX_CARD_BYTES:
        card["body"] = [dict(CHART_LEFT_OUT) if isinstance(el, dict) and el.get("id") == CHART_ID else el
                        for el in card["body"]]
    return card


# ---- feedback -------------------------------------------------------------------------------

# (actor, note, confirmations shown, corrections shown) limits, tried in turn until the section fits
# FEEDBACK_MAX; the last fits even when every character needs escaping (tested).
_FEEDBACK_LEVELS = ((48, 300, 10, 5), (32, 100, 5, 3), (16, 0, 3, 2))


def feedback_section(view) -> dict:  # noqa: ANN001 (bot.feedback.FeedbackView)
    """Who said the cause was right or wrong (or the question, until someone answers), and the two
    buttons (data: the diagnosis id and its feedback token)."""
    data = {"diagnosis_id": view.diagnosis_id, "token": view.token}
    buttons = {"type": "ActionSet", "actions": [execute(VERB_RIGHT, RIGHT, data, "positive"),
                                                execute(VERB_WRONG, WRONG, data)]}
    for who, note, right, wrong in _FEEDBACK_LEVELS:
        shown = replace(view, verdicts=tuple(v if note else replace(v, note=None) for v in view.verdicts))
        lines = feedback_lines(shown, lambda key: esc(key, who), lambda text: esc(text, max(note, 40)), right, wrong)
        items = [_text(line, spacing="Small") for line in lines] or [_text(f"_{PROMPT}_", isSubtle=True)]
        section = {"type": "Container", "id": FEEDBACK_ID, "separator": True, "items": [*items, buttons]}
        if card_size(section) <= FEEDBACK_MAX:
            break
    return section


def refresh_feedback(card: dict, view) -> dict | None:  # noqa: ANN001
    """A copy of `card` with its feedback section re-rendered (the chart left out if the card would pass
    MAX_CARD_BYTES); None when the card has no feedback section."""
    body = card.get("body") if isinstance(card, dict) else None
    if not isinstance(body, list):
        return None
    at = next((i for i, el in enumerate(body) if isinstance(el, dict) and el.get("id") == FEEDBACK_ID), None)
    if at is None:
        return None
    new = copy.deepcopy(card)
    new["body"][at] = feedback_section(view)
    return _within_budget(new)


def feedback_card(view) -> dict:  # noqa: ANN001
    """The feedback section posted on its own, when the diagnosis card cannot be edited."""
    return _card([feedback_section(view)])


# ---- diagnosis ------------------------------------------------------------------------------

def _evidence(e, n: int) -> list[dict]:  # noqa: ANN001 (agents.diagnosis.Evidence)
    when = f" _{esc(e.time, 40)}_" if e.time else ""
    src = f" · {link(e.link, 'open')}" if e.link else ""
    items = [_text(f"• {esc(e.finding, n)}{when} — {esc(e.tool, 60)}{src}", spacing="Small")]
    if e.query:
        items.append(_text(esc(e.query, n * 3 // 5), fontType="Monospace", size="Small", isSubtle=True,
                           spacing="None"))
    return items


def _timeline(t, n: int) -> list[dict]:  # noqa: ANN001 (agents.diagnosis.TimelineEntry)
    return [_text(f"• {esc(t.time, 40)} · {esc(t.event, n * 3 // 5)}", spacing="Small")]


def _ruled_out(r, n: int) -> list[dict]:  # noqa: ANN001 (agents.diagnosis.RuledOut)
    return [_text(f"• {esc(ruled_out_line(r), n)}", spacing="Small")]


def _similar(s, n: int) -> list[dict]:  # noqa: ANN001 (agents.diagnosis.SimilarIncident)
    bits = [b for b in (esc(s.source, 40), f"score {s.score:.2f}" if s.score else "") if b]
    worked = f" — what worked: **{esc(s.action, 80)}**" if s.action else ""
    return [_text(f"• {esc(s.title or s.id, n * 2 // 5)}{' (' + ', '.join(bits) + ')' if bits else ''}{worked}",
                  spacing="Small")]


def _section(sid: str, title: str, entries: list, shown: int, render: Any, n: int, hint: str = "") -> list[dict]:
    """A titled Container of the first `shown` entries, each cut to about `n` characters; the rest
    is counted, not dropped silently."""
    if not entries:
        return []
    items = [_text(title, weight="Bolder")] + [el for entry in entries[:shown] for el in render(entry, n)]
    if len(entries) > shown:
        items.append(_text(f"_…and {len(entries) - shown} more{hint}_", isSubtle=True, spacing="Small"))
    return [{"type": "Container", "id": sid, "separator": True, "items": items}]


@dataclass(frozen=True)
class _Level:
    """How much context a diagnosis card shows: entries per section, the chart, characters per entry."""
    evidence: int
    timeline: int
    similar: int
    unavailable: int
    chart: bool
    text: int


_LEVELS = (_Level(12, 10, 5, 5, True, 500), _Level(6, 5, 3, 5, True, 300), _Level(3, 3, 2, 3, True, 300),
           _Level(3, 3, 2, 3, False, 200), _Level(2, 1, 1, 2, False, 150), _Level(1, 0, 0, 1, False, 100))


CHART_LEFT_OUT = _text("Chart left out: it would make this message too large for Teams.", isSubtle=True,
                       size="Small")


def _chart(url: str | None, title: str | None) -> list[dict]:
    if not url or not (safe_url(url) or _DATA_IMAGE.fullmatch(url)):
        return []
    alt = plain(title or "Key metric around the alert", 200)
    return [{"type": "Container", "id": CHART_ID, "separator": True, "items": [
        _text(esc(title or "Key metric around the alert", 200), isSubtle=True, size="Small"),
        {"type": "Image", "url": url, "altText": alt, "size": "Stretch", "msteams": {"allowExpand": True}}]}]


def _facts(post: DiagnosisPost) -> dict:
    d = post.diagnosis
    cause = CATEGORY_DESCRIPTIONS.get(d.category, "")
    engine = esc(post.engine, 40) + (f", fell back to offline: {esc(post.fallback_reason, 300)}"
                                     if post.fallback_reason else "")
    facts = [("Root cause", esc(f"{cause} ({d.category})" if cause else d.category, 300)),
             ("Component", esc(d.component, 200) if d.component else "—"),
             ("Confidence", confidence_label(d.confidence)), ("Engine", engine),
             ("Session", esc(post.session_id, 64))]
    if post.incident_id:
        facts.append(("Incident", esc(post.incident_id, 64)))
    if d.cost is not None:
        facts.append(("Model use", esc(d.cost.line(), 200)))
    return {"type": "FactSet", "id": "diagnosis_facts", "facts": [{"title": t, "value": v} for t, v in facts]}


def _unavailable(sources: list[str], shown: int, n: int) -> list[dict]:
    if not sources:
        return []
    more = f"; …and {len(sources) - shown} more" if len(sources) > shown else ""
    text = "; ".join(esc(u, n * 3 // 5) for u in sources[:shown])
    return [_text(f"⚠️ Could not use: {text}{more}", id="diagnosis_unavailable", color="Warning")]


def _fits(card: dict, chart: list[dict], views: list, sections: list[dict], feedback: list[dict]) -> bool:
    """Within MAX_CARD_BYTES now, and after any refresh: with the chart swapped for CHART_LEFT_OUT,
    the section of every stored (refreshable) proposal grown to PROPOSAL_MAX and the feedback
    section to FEEDBACK_MAX."""
    growth = sum(max(PROPOSAL_MAX - card_size(s), 0) for v, s in zip(views, sections) if v.proposal_id)
    growth += sum(max(FEEDBACK_MAX - card_size(s), 0) for s in feedback)
    droppable = card_size(chart[0]) - card_size(CHART_LEFT_OUT) - 2 if chart else 0
    return card_size(card) <= MAX_CARD_BYTES and card_size(card) - droppable + growth <= MAX_CARD_BYTES


def diagnosis_card(post: DiagnosisPost, chart_url: str | None = None) -> dict:
    """The diagnosis: headline, summary, facts, evidence, timeline, similar incidents, the chart
    (`chart_url`: an http(s) URL or a data:image URI), sources it could not use, one section per
    proposal with its buttons, and the feedback buttons."""
    d = post.diagnosis
    head = [_text(esc(f"Diagnosis: {headline(d)}", 300), id="diagnosis_header", size="Medium", weight="Bolder",
                  style="heading"),
            _text(esc(d.summary, 1200, multiline=True), id="diagnosis_summary"), _facts(post)]
    chart = _chart(chart_url, post.chart_title)
    proposals = list(post.proposals)
    sections = [_proposal(v, key=v.proposal_id or f"refused-{i}") for i, v in enumerate(proposals[:MAX_PROPOSALS])]
    feedback = [feedback_section(post.feedback)] if post.feedback is not None else []
    hint = f" (chatops session show {esc(post.session_id, 64)})"

    def assemble(lv: _Level, n: int) -> dict:
        body = head + _section("diagnosis_evidence", "Evidence", d.evidence, lv.evidence, _evidence, lv.text, hint)
        # Rejected hypotheses apart from the evidence, as many as similar incidents: both are short context.
        body += _section("diagnosis_ruled_out", "Considered and ruled out", d.ruled_out, lv.similar, _ruled_out,
                         lv.text)
        body += _section("diagnosis_timeline", "Timeline", d.timeline, lv.timeline, _timeline, lv.text)
        body += _section("diagnosis_similar", "Similar past incidents and runbooks", d.similar_incidents, lv.similar,
                         _similar, lv.text)
        if chart:
            body += chart if lv.chart else [dict(CHART_LEFT_OUT)]
        body += _unavailable(d.unavailable_sources, lv.unavailable, lv.text)
        if proposals:
            body.append(_text("**Proposed actions** — nothing changes until an allowed approver clicks.",
                              id="proposals_title", separator=True))
            body += sections[:n]
            if len(proposals) > n:
                body.append(_text(f"_…and {len(proposals) - n} more proposals: chatops proposals list_",
                                  id="proposals_more", isSubtle=True))
        return _card(body + feedback)

    # Preference order: everything; then less context; then fewer proposals with the least context.
    tries = [(lv, len(sections)) for lv in _LEVELS] + [(_LEVELS[-1], n) for n in range(len(sections) - 1, -1, -1)]
    for level, n in tries:
        card = assemble(level, n)
        if _fits(card, chart if level.chart else [], proposals, sections[:n], feedback):
            return card
    return card


# ---- clicks ---------------------------------------------------------------------------------

def _verb_data(activity_value: Any) -> tuple[str, dict] | None:
    """(verb, data) of what a button sent: the `adaptiveCard/action` invoke's value {"action":
    {"verb", "data"}} (inputs merged into data) or the Action.Submit fallback's message `value` (the
    data with the verb, plus whatever keys Teams adds); None for anything else."""
    if not isinstance(activity_value, dict):
        return None
    action = activity_value.get("action")
    if isinstance(action, dict):
        if action.get("type", "Action.Execute") != "Action.Execute":
            return None
        verb, data = action.get("verb"), action.get("data")
    else:
        verb, data = activity_value.get("verb"), activity_value
    if not isinstance(verb, str) or not isinstance(data, dict):
        return None
    return verb, data


def button_data(activity_value: Any, verbs: Any, subject: str) -> tuple[str, dict, str, str] | None:
    """(verb, data, subject id, token) of a click on one of our buttons with one of `verbs`, whose data
    names its subject under the key `subject` and carries its token; None for anything else (another
    card's button, a refresh, a malformed or oversized value); never raises."""
    found = _verb_data(activity_value)
    if found is None or found[0] not in verbs:
        return None
    verb, data = found
    subject_id, token = data.get(subject), data.get("token")
    if not (isinstance(subject_id, str) and _ID.fullmatch(subject_id) and isinstance(token, str)
            and _TOKEN.fullmatch(token)):
        return None
    return verb, data, subject_id, token


def action_data(activity_value: Any) -> tuple[str, str, str] | None:
    """(decision "approve"|"reject", proposal_id, token) from what one of our approval buttons sent."""
    found = button_data(activity_value, _DECISIONS, "proposal_id")
    return (_DECISIONS[found[0]], found[2], found[3]) if found is not None else None
