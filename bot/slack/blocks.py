"""Block Kit rendering of workflow views: progress, diagnosis, proposals and their updates.

Pure functions returning `(fallback_text, blocks)`; no I/O. Everything that came from outside
(alert text, model output, log lines) is escaped, so it cannot ping `<!channel>` or forge links,
and every text is clipped to Slack's limits, so a long diagnosis degrades instead of being refused
by the API (`invalid_blocks`). Block ids carry the proposal id, which is how an approval click
finds and replaces exactly its own proposal in a message that may hold several; the feedback area's
carry the diagnosis id.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Iterable

from agents.diagnosis import Diagnosis
from bot.evidence_links import safe_url
from bot.feedback import PROMPT, RIGHT, WRONG, feedback_lines
from bot.remediation.views import confirm_text
from bot.render_text import ruled_out_line
from bot.workflow.progress import progress_text
from bot.workflow.surface import DiagnosisPost, ProgressView
from tools.taxonomy import CATEGORY_DESCRIPTIONS, category_label

# Slack's documented limits (https://api.slack.com/reference/block-kit).
MAX_BLOCKS = 50
MAX_TEXT = 3000          # section / context mrkdwn text
MAX_FIELD = 2000         # section field
MAX_HEADER = 150         # header plain_text
MAX_BUTTON = 75          # button text
MAX_VALUE = 2000         # button value
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300   # confirmation dialog body (slack_sdk validates 300)
MAX_FALLBACK = 3000      # top-level `text` kept short: it is what notifications show

APPROVE, REJECT = "proposal_approve", "proposal_reject"
FEEDBACK_RIGHT, FEEDBACK_WRONG = "feedback_right", "feedback_wrong"
FEEDBACK_BLOCK, FEEDBACK_ACTIONS = "feedback:", "feedback_actions:"
PROPOSAL_BLOCK, NOTE_BLOCK, ACTIONS_BLOCK = "proposal:", "proposal_note:", "proposal_actions:"
MAX_PROPOSALS = 10
DANGER_RISKS = ("HIGH", "CRITICAL")

# Decided states (bot.models.PROPOSAL_STATES) and how they read; anything else is "not offered: reason".
_DECIDED = {"succeeded": ":white_check_mark: Executed and verified", "failed": ":x: Approved, but the action failed",
            "rejected": ":no_entry_sign: Rejected", "approved": ":gear: Approved, starting",
            "executing": ":gear: Approved, running", "expired": ":hourglass: Expired without a decision"}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def esc(text: Any) -> str:
    """Escape Slack's control characters; mrkdwn emphasis (* _ ` ~) is left alone."""
    return str(text if text is not None else "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: limit - 1])  # never leave half an &amp; behind
    return cut + "…"


def link(url: str | None, label: str) -> str:
    """`<url|label>` for http(s) URLs of sane length without credentials, else just the (escaped)
    label. Which hosts are allowed is decided before rendering (bot.evidence_links)."""
    if not safe_url(url):
        return esc(label)
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{esc(label).replace('|', '¦')}>"


def plain(text: str, limit: int) -> dict:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = MAX_TEXT) -> dict:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def section(text: str, block_id: str | None = None, fields: list[str] | None = None) -> dict:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f, MAX_FIELD) for f in fields[:10]]
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def context(text: str, block_id: str | None = None) -> dict:
    block: dict[str, Any] = {"type": "context", "elements": [mrkdwn(text)]}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def bullet_sections(title: str, bullets: list[str], max_blocks: int, more_hint: str = "") -> list[dict]:
    """Whole bullets packed into sections of at most MAX_TEXT; a bullet is never cut mid-link
    (an over-long single bullet is clipped as text). Bullets that do not fit are counted."""
    blocks: list[dict] = []
    current = f"*{title}*"
    shown = 0
    for b in bullets:
        line = "\n• " + (b if len(b) <= MAX_TEXT - 100 else clip(b, MAX_TEXT - 100))
        if len(current) + len(line) > MAX_TEXT - 60:
            if len(blocks) + 1 >= max_blocks:
                break
            blocks.append(section(current))
            current = ""
        current += line
        shown += 1
    rest = len(bullets) - shown
    if rest:
        current += f"\n_…and {rest} more{more_hint}_"
    blocks.append(section(current.lstrip("\n")))
    return blocks


# ---- progress -------------------------------------------------------------------------------

def progress(view: ProgressView) -> tuple[str, list[dict]]:
    text = progress_text(view, esc(view.label), ":hourglass_flowing_sand:", ":white_check_mark:")
    blocks = [section(text, "progress")]
    if view.incident_id:
        blocks.append(context(f"incident `{esc(view.incident_id)}`", "progress_context"))
    return clip(text, MAX_FALLBACK), blocks


# ---- diagnosis ------------------------------------------------------------------------------

def confidence_label(c: float) -> str:
    return f"{c:.0%} ({'high' if c >= 0.75 else 'medium' if c >= 0.5 else 'low'})"


def _evidence_line(e) -> str:  # noqa: ANN001 (agents.diagnosis.Evidence)
    when = f" _{esc(e.time)}_" if e.time else ""
    query = f" `{clip(esc(e.query), 300)}`" if e.query else ""
    src = link(e.link, "open") if e.link else ""
    return f"{clip(esc(e.finding), 1200)}{when} — {esc(e.tool)}{query}{' · ' + src if src else ''}"


def _similar_line(s) -> str:  # noqa: ANN001 (agents.diagnosis.SimilarIncident)
    name = esc(s.title or s.id)
    bits = [b for b in (esc(s.source), f"score {s.score:.2f}" if s.score else "") if b]
    worked = f" — what worked: *{esc(s.action)}*" if s.action else ""
    return f"{name}{' (' + ', '.join(bits) + ')' if bits else ''}{worked}"


def headline(d: Diagnosis) -> str:
    comp = f" · {d.component}" if d.component else ""
    return f"{category_label(d.category)}{comp} — confidence {d.confidence:.0%}"


def diagnosis(post: DiagnosisPost) -> tuple[str, list[dict]]:
    d = post.diagnosis
    blocks: list[dict] = [{"type": "header", "block_id": "diagnosis_header",
                           "text": plain(f"Diagnosis: {headline(d)}", MAX_HEADER)}]
    fields = [f"*Root cause*\n{esc(category_label(d.category))}: {esc(CATEGORY_DESCRIPTIONS.get(d.category, ''))}",
              f"*Component*\n{('`' + esc(d.component) + '`') if d.component else '—'}",
              f"*Confidence*\n{confidence_label(d.confidence)}"]
    blocks.append(section(esc(d.summary), "diagnosis_summary", fields))
    meta = [f"engine {esc(post.engine)}"]
    if post.fallback_reason:
        meta.append(f"fell back to offline: {esc(post.fallback_reason)}")
    meta.append(f"session `{esc(post.session_id)}`")
    if d.cost is not None:
        meta.append(esc(d.cost.line()))
    if post.incident_id:
        meta.append(f"incident `{esc(post.incident_id)}`")
    blocks.append(context(" · ".join(meta), "diagnosis_meta"))

    if d.evidence:
        blocks.extend(bullet_sections("Evidence", [_evidence_line(e) for e in d.evidence], 3,
                                      f" (chatops session show {post.session_id})"))
    if d.ruled_out:
        blocks.extend(bullet_sections("Considered and ruled out", [esc(ruled_out_line(r)) for r in d.ruled_out], 1))
    if d.timeline:
        lines = [f"`{esc(t.time)}` {esc(t.event)}" for t in d.timeline]
        blocks.extend(bullet_sections("Timeline", lines, 1))
    if d.similar_incidents:
        blocks.extend(bullet_sections("Similar past incidents and runbooks",
                                      [_similar_line(s) for s in d.similar_incidents], 1))
    if d.unavailable_sources:
        blocks.append(context(":warning: Could not use: " + "; ".join(esc(u) for u in d.unavailable_sources),
                              "diagnosis_unavailable"))
    after = feedback(post.feedback) if post.feedback is not None else []  # below the proposals, room kept

    proposals = list(post.proposals)
    if proposals:
        blocks.append({"type": "divider"})
        blocks.append(section("*Proposed actions* — nothing changes until an allowed approver clicks.",
                              "proposals_title"))
        room = MAX_BLOCKS - len(blocks) - 1 - len(after)
        shown = 0
        for i, view in enumerate(proposals[:MAX_PROPOSALS]):
            pb = proposal(view, key=view.proposal_id or f"refused-{i}")
            if len(pb) > room:
                break
            blocks.extend(pb)
            room -= len(pb)
            shown = i + 1
        if len(proposals) > shown:
            blocks.append(context(f"…and {len(proposals) - shown} more proposals: `chatops proposals list`",
                                  "proposals_more"))
    blocks.extend(after)
    fallback = esc(f"Diagnosis: {headline(d)}. {d.summary}")  # notifications render `text` as mrkdwn too
    return clip(fallback, MAX_FALLBACK), blocks[:MAX_BLOCKS]


# ---- feedback -------------------------------------------------------------------------------

def feedback(view) -> list[dict]:  # noqa: ANN001 (bot.feedback.FeedbackView)
    """Who said the cause was right or wrong (or the question, until someone answers), and the two
    buttons; block ids carry the diagnosis id, so an update replaces exactly these blocks."""
    key = view.diagnosis_id
    # Bounded so that the worst case (every character escaped) stays within one context block's text.
    lines = feedback_lines(view, lambda k: clip(_who(k), 80), lambda t: clip(esc(t), 300), most_wrong=3) \
        or [f"_{PROMPT}_"]
    value = f"{view.diagnosis_id}|{view.token}"[:MAX_VALUE]
    buttons_ = [{"type": "button", "action_id": action, "text": plain(label, MAX_BUTTON), "value": value}
                for action, label in ((FEEDBACK_RIGHT, RIGHT), (FEEDBACK_WRONG, WRONG))]
    return [context("\n".join(lines), FEEDBACK_BLOCK + key),
            {"type": "actions", "block_id": (FEEDBACK_ACTIONS + key)[:255], "elements": buttons_}]


def replace_feedback(blocks: Iterable[dict], view) -> list[dict] | None:  # noqa: ANN001
    """The message's blocks with this diagnosis's feedback blocks re-rendered; None if it has none."""
    blocks = list(blocks)
    ids = {FEEDBACK_BLOCK + view.diagnosis_id, (FEEDBACK_ACTIONS + view.diagnosis_id)[:255]}
    at = [i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("block_id") in ids]
    if not at:
        return None
    kept = [b for i, b in enumerate(blocks) if i not in at]
    return (kept[:at[0]] + feedback(view) + kept[at[0]:])[:MAX_BLOCKS]


def feedback_message(view) -> tuple[str, list[dict]]:  # noqa: ANN001
    """The feedback area posted on its own, when the diagnosis message cannot be edited."""
    return clip(esc(f"Feedback on this diagnosis ({view.diagnosis_id})"), MAX_FALLBACK), feedback(view)


# ---- proposals ------------------------------------------------------------------------------

def _who(key: str) -> str:
    platform, _, user = key.partition(":")
    return f"<@{esc(user)}>" if platform == "slack" and re.fullmatch(r"[UW][A-Z0-9]+", user) else esc(key)


def _expiry(ts: datetime | None) -> str:
    if ts is None:
        return ""
    epoch = int(ts.timestamp())
    return f" · expires <!date^{epoch}^{{date_short_pretty}} {{time}}|{ts.strftime('%Y-%m-%d %H:%M UTC')}>"


def _status(view) -> str:  # noqa: ANN001 (ProposalView)
    if view.offerable:
        missing = max(view.approvals_required - view.approvals_received, 0)
        need = f"needs {missing} more approval{'s' if missing != 1 else ''}"
        if view.approvals_required > 1:
            need += f" ({view.approvals_received}/{view.approvals_required})"
        return f":large_orange_circle: Awaiting approval · {need}{_expiry(view.expires_at)}"
    if view.state in _DECIDED:
        return _DECIDED[view.state]
    return f":no_entry: Not offered: {esc(view.reason or view.state)}"


def _confirm_body(view) -> str:  # noqa: ANN001
    body = view.confirm_text or confirm_text(view.action_text, view.risk, view.approvals_required,
                                              view.approvals_received)
    if len(body) <= MAX_CONFIRM_TEXT:
        return body
    # Shorten the action text, never the risk and approval requirements after it.
    over = len(body) - MAX_CONFIRM_TEXT
    short = clip(view.action_text, max(len(view.action_text) - over, 20))
    return clip(confirm_text(short, view.risk, view.approvals_required, view.approvals_received), MAX_CONFIRM_TEXT)


def buttons(view, key: str) -> dict:  # noqa: ANN001
    danger = view.risk in DANGER_RISKS
    value = f"{view.proposal_id}|{view.token}"[:MAX_VALUE]
    approve = {"type": "button", "action_id": APPROVE, "text": plain(f"Approve: {view.action_text}", MAX_BUTTON),
               "style": "danger" if danger else "primary", "value": value,
               "confirm": {"title": plain(f"Approve this {view.risk} action?", MAX_CONFIRM_TITLE),
                           "text": {"type": "plain_text", "text": _confirm_body(view), "emoji": True},
                           "confirm": plain("Approve", 30), "deny": plain("Cancel", 30),
                           "style": "danger" if danger else "primary"}}
    reject = {"type": "button", "action_id": REJECT, "text": plain("Reject", MAX_BUTTON), "value": value}
    return {"type": "actions", "block_id": (ACTIONS_BLOCK + key)[:255], "elements": [approve, reject]}


def proposal(view, note: str | None = None, key: str | None = None) -> list[dict]:  # noqa: ANN001 (ProposalView)
    """A proposal's blocks: what and how risky, its state, an optional note, and buttons only
    while it can still be approved."""
    key = key or view.proposal_id or "refused"
    lines = [f"*{esc(view.action_text)}* · risk *{esc(view.risk)}*", _status(view)]
    if view.rationale:
        lines.append(f"_{clip(esc(view.rationale), 800)}_")
    if view.approvers:
        lines.append("Approved by " + ", ".join(_who(a) for a in view.approvers))
    blocks = [section("\n".join(lines), PROPOSAL_BLOCK + key)]
    if note:
        blocks.append(context(esc(note), NOTE_BLOCK + key))
    if view.offerable and view.proposal_id and view.token:
        blocks.append(buttons(view, key))
    return blocks


def proposal_message(view, note: str) -> tuple[str, list[dict]]:  # noqa: ANN001
    """A proposal posted on its own (an undo offered after an action ran)."""
    head = section(f":leftwards_arrow_with_hook: {esc(note)}", "proposal_intro")
    return clip(esc(f"{note}: {view.action_text} (risk {view.risk})"), MAX_FALLBACK), [head, *proposal(view)]


def replace_proposal(blocks: Iterable[dict], view, note: str) -> list[dict] | None:  # noqa: ANN001
    """The message's blocks with this proposal's blocks re-rendered; None if it is not in them."""
    blocks = list(blocks)
    key = view.proposal_id
    ids = {PROPOSAL_BLOCK + key, NOTE_BLOCK + key, ACTIONS_BLOCK + key}
    at = [i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("block_id") in ids]
    if not key or not at:
        return None
    kept = [b for i, b in enumerate(blocks) if i not in at]
    first = at[0]
    return (kept[:first] + proposal(view, note, key) + kept[first:])[:MAX_BLOCKS]
