"""What a chat surface must do. The workflow decides; a surface renders views and posts them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.diagnosis import Diagnosis


@dataclass(frozen=True)
class MessageRef:
    channel: str
    ts: str  # platform message id (Slack ts, Teams activity id, console line number)
    thread: str | None = None


@dataclass
class ProgressView:
    incident_id: str | None
    step: int
    total: int | None
    label: str
    done: bool = False


@dataclass
class DiagnosisPost:
    incident_id: str | None
    session_id: str
    diagnosis: Diagnosis
    proposals: list[Any] = field(default_factory=list)  # bot.remediation views
    engine: str = "offline"
    fallback_reason: str | None = None
    chart_png: bytes | None = None
    chart_title: str | None = None
    feedback: Any = None  # bot.feedback.FeedbackView: "Right cause" / "Wrong cause" buttons and who said what


class Surface(Protocol):
    platform: str

    async def post_text(self, channel: str, text: str, thread: str | None = None) -> MessageRef: ...
    async def post_progress(self, channel: str, thread: str | None, view: ProgressView) -> MessageRef: ...
    async def update_progress(self, ref: MessageRef, view: ProgressView) -> None: ...
    async def post_diagnosis(self, channel: str, thread: str | None, post: DiagnosisPost) -> MessageRef: ...
    async def upload_chart(self, channel: str, thread: str | None, png: bytes, title: str) -> None: ...
    async def update_proposal(self, ref: MessageRef, view: Any, note: str) -> None: ...
    async def update_feedback(self, ref: MessageRef, view: Any) -> None: ...
    async def post_proposal(self, channel: str, thread: str | None, view: Any, note: str) -> MessageRef: ...
    async def ephemeral(self, channel: str, user: str, text: str, thread: str | None = None) -> None: ...
