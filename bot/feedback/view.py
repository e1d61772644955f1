"""What a diagnosis message shows about feedback, and what the "Wrong cause" form offers.

Views are read from the `feedback` table (one verdict per person and diagnosis) and rendered by
every surface from the same lines (feedback_lines), so Slack, Teams and the console say the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Diagnosis, Feedback
from tools.taxonomy import CATEGORIES, category_label

PURPOSE = "feedback"  # the Signer purpose of feedback buttons: their tokens can never approve anything
PROMPT = "Was this the right cause? Your answer is recorded and teaches the next diagnosis."
RIGHT, WRONG = "Right cause", "Wrong cause"
MAX_RIGHT_SHOWN = 10
MAX_WRONG_SHOWN = 5


@dataclass(frozen=True)
class Verdict:
    actor: str  # platform:user, as approvals record it
    verdict: str  # right | wrong
    category: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class FeedbackView:
    diagnosis_id: str
    token: str
    engine_category: str
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True)
class FeedbackForm:
    """The "Wrong cause" form: every category but the one the diagnosis gave, with its human label."""
    diagnosis_id: str
    token: str
    engine_category: str

    @property
    def choices(self) -> list[tuple[str, str]]:
        return [(c, category_label(c)) for c in CATEGORIES if c != self.engine_category]


def verdicts(session: Session, diagnosis_id: str) -> tuple[Verdict, ...]:
    """Oldest first, so the last one is the latest word (a changed mind moves to the end)."""
    rows = session.execute(select(Feedback).where(Feedback.diagnosis_id == diagnosis_id)
                           .order_by(Feedback.updated_at, Feedback.id)).scalars().all()
    return tuple(Verdict(r.actor, r.verdict, r.category, r.note) for r in rows)


def view_of(session: Session, diagnosis: Diagnosis, signer) -> FeedbackView:  # noqa: ANN001 (Signer)
    return FeedbackView(diagnosis.id, signer.sign_for(PURPOSE, diagnosis.id), diagnosis.category,
                        verdicts(session, diagnosis.id))


def fresh_view(diagnosis_id: str, category: str, signer) -> FeedbackView:  # noqa: ANN001
    """The view of a diagnosis nobody has answered yet (a new post: no query needed)."""
    return FeedbackView(diagnosis_id, signer.sign_for(PURPOSE, diagnosis_id), category)


def feedback_lines(view: FeedbackView, who: Callable[[str], str], text: Callable[[str], str],
                   most_right: int = MAX_RIGHT_SHOWN, most_wrong: int = MAX_WRONG_SHOWN) -> list[str]:
    """"✓ Right cause — alice (console), U0BOB (slack)" and one "✗ Wrong cause — bob (console): real
    cause DNS failure: 'coredns ConfigMap edited'" per correction; `who` renders an actor key and
    `text` escapes free text for the platform. Long lists are counted, never dropped silently."""
    right = [who(v.actor) for v in view.verdicts if v.verdict == "right"]
    wrong = [v for v in view.verdicts if v.verdict == "wrong"]
    lines = []
    if right:
        more = f" and {len(right) - most_right} more" if len(right) > most_right else ""
        lines.append(f"✓ {RIGHT} — " + ", ".join(right[:most_right]) + more)
    for v in wrong[-most_wrong:]:  # the latest corrections
        note = f": '{text(v.note)}'" if v.note else ""
        lines.append(f"✗ {WRONG} — {who(v.actor)}: real cause {text(category_label(v.category or 'unknown'))}{note}")
    if len(wrong) > most_wrong:
        lines.append(f"…and {len(wrong) - most_wrong} earlier corrections")
    return lines


@dataclass(frozen=True)
class Settled:
    """What people made of a diagnosis's cause, by the rule the weekly digest's scorecard uses too
    (bot/digest/facts.py): one verdict per person, the majority of right against wrong decides, a
    tie goes to the latest verdict; a correction's cause is the one the latest "wrong" named."""
    category: str  # the cause to remember: the correction, else the engine's
    engine_category: str
    state: str  # confirmed | corrected | "" (nobody answered)
    note: str | None = None
    confirmed: int = 0
    corrected: int = 0


def settle(engine_category: str, found: tuple[Verdict, ...]) -> Settled:
    """`found` oldest first (as verdicts() returns them)."""
    confirmed = sum(v.verdict == "right" for v in found)
    corrected = len(found) - confirmed
    if not found:
        return Settled(engine_category, engine_category, "")
    outcome = "right" if confirmed > corrected else "wrong" if corrected > confirmed else found[-1].verdict
    named = [v for v in found if v.verdict == "wrong" and v.category]
    if outcome == "wrong" and named:
        return Settled(named[-1].category, engine_category, "corrected", named[-1].note, confirmed, corrected)
    rights = [v for v in found if v.verdict == "right"]
    return Settled(engine_category, engine_category, "confirmed", rights[-1].note if rights else None, confirmed,
                   corrected)
