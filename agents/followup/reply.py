"""What an engine answers a follow-up with, and what a whole follow-up session returns."""
from __future__ import annotations

from dataclasses import dataclass, field

from agents.diagnosis import Diagnosis, ProposedAction
from agents.followup.context import Fetched
from agents.trace import Usage

ANSWER_LIMIT = 3000  # characters of an answer posted in the thread


@dataclass
class Reply:
    text: str
    revision: Diagnosis | None = None  # a complete new diagnosis, when the answer changes it
    fetched: list[Fetched] = field(default_factory=list)
    answered: bool = True  # False: the offline engine cannot answer this kind of question


@dataclass
class FollowupResult:
    reply: Reply
    engine: str
    fallback_reason: str | None
    usage: Usage
    tool_calls: int
    elapsed: float
    # Proposals of a revision the coordinator refused (outside the incident's scope), with why.
    dropped_proposals: list[tuple[ProposedAction, str]] = field(default_factory=list)
