"""Plain-text views for the console: progress lines, diagnosis posts, proposals as numbered choices.

Pure functions of the workflow's views, so the output is deterministic (tests read it) and the
same text serves a terminal and a piped transcript; colour is added by the surface, not here.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from bot.feedback import PROMPT, RIGHT, WRONG, feedback_lines
from bot.render_text import render_diagnosis, terminal_safe

RISK_LEVELS = ("MEDIUM", "HIGH", "CRITICAL")


# Slack shortcodes the workflow writes, as a terminal shows them.
_EMOJI = {":rotating_light:": "🚨", ":white_check_mark:": "✅", ":warning:": "⚠", ":x:": "✗",
          ":hourglass_flowing_sand:": "⏳", ":mag:": "🔍", ":arrows_counterclockwise:": "↺"}
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")


# The colour codes the console surface itself puts on lines (e.g. choices) before they get here.
_OWN_STYLE = re.compile(r"(\x1b\[(?:0|1|2|31|32|33|36)m)")


def chat_text(text: str) -> str:
    """Workflow text (Slack-flavoured mrkdwn) for a terminal: known emoji shortcodes become characters,
    and control characters that untrusted text brings (alert summaries, model output) are removed;
    only the console's own colour codes survive."""
    text = "".join(p if i % 2 else terminal_safe(p) for i, p in enumerate(_OWN_STYLE.split(text)))
    return _SHORTCODE.sub(lambda m: _EMOJI.get(m.group(0), m.group(0)), text)


def progress_line(view: Any) -> str:
    """`step n of N · tool`, or the final label once the session finished."""
    if getattr(view, "done", False):
        return f"✓ {view.label}" if view.label else "✓ done"
    of = f" of {view.total}" if view.total else ""
    return f"step {view.step}{of} · {view.label}" if view.label else f"step {view.step}{of}"


def diagnosis_text(post: Any, width: int = 100) -> str:
    """The diagnosis body (bot.render_text) without its proposal list: the stored proposals are
    rendered from their views instead, as choices, with state and policy."""
    d = post.diagnosis.model_copy(update={"proposals": []})
    head = f"session {post.session_id} · engine {post.engine}"
    if post.fallback_reason:
        head += f" (fallback: {post.fallback_reason})"
    return f"{render_diagnosis(d, width)}\n{head}"


def approvals_needed(view: Any) -> str:
    missing = max(view.approvals_required - view.approvals_received, 0)
    if view.approvals_required > 1:
        return f"{view.approvals_received}/{view.approvals_required} approvals, {missing} more needed"
    return f"needs {missing} approval" + ("" if missing == 1 else "s")


def choice_line(view: Any, approve_no: int, reject_no: int) -> str:
    """`[1] Approve <action> (MEDIUM, needs 1 approval)  [2] Reject`."""
    return (f"[{approve_no}] Approve {view.action_text} ({view.risk}, {approvals_needed(view)})  "
            f"[{reject_no}] Reject")


def approver_label(key: str) -> str:
    """An approval's actor key (`slack:U0BOB`) as `U0BOB (slack)`: who, and on which platform they approved."""
    platform, sep, user = key.partition(":")
    return f"{user} ({platform})" if sep and user else key


def feedback_text(view: Any) -> list[str]:
    """Who said the diagnosis's cause was right or wrong, or the question until someone answers."""
    return feedback_lines(view, approver_label, str) or [PROMPT]


def feedback_choice_line(right_no: int, wrong_no: int) -> str:
    return f"[{right_no}] {RIGHT}  [{wrong_no}] {WRONG}"


def category_menu(choices: list[tuple[str, str]]) -> str:
    """The "Wrong cause" form's categories, numbered from 1 (a number or the category's name picks one)."""
    return "\n".join(f"  {i}. {label} ({category})" for i, (category, label) in enumerate(choices, 1))


def allowed_line(view: Any, allowed: Iterable[str], forbid_self: bool) -> str:
    who = ", ".join(sorted(allowed)) or "nobody (configure APPROVERS_*)"
    parts = [f"allowed: {who}"]
    if view.requested_by:
        parts.append(f"requested by {view.requested_by}" + (" (may not approve it)" if forbid_self else ""))
    if view.approvers:
        parts.append(f"approved so far by {', '.join(approver_label(a) for a in view.approvers)}")
    return " · ".join(parts)


def proposal_status(view: Any, outcome: bool = True) -> str:
    """One line for a proposal that offers no choice (decided, refused, blocked, expired); with
    `outcome`, what its execution and verification reported."""
    text = f"{view.action_text} ({view.risk}): {view.state}"
    if view.state == "refused" or (view.reason and view.state == "proposed"):
        return f"{text}, not offered: {view.reason}"
    if not outcome:
        return text
    outcome = (view.result or {}).get("execute") or {}
    verify = (view.result or {}).get("verify") or {}
    if outcome.get("message"):
        text += f" · {outcome['message']}"
    if verify.get("message"):
        text += f" · verify: {verify['message']}"
    return text


def unavailable_line(source: str, reason: str) -> str:
    what = {"prometheus": "metrics", "opensearch": "logs", "kubernetes": "kubernetes"}.get(source, source)
    return f"{what}: {reason}; continuing without {what}"
