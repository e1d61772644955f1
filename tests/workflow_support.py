"""A recording chat surface: what a Slack/Teams/console surface would have been asked to show."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.workflow.surface import DiagnosisPost, MessageRef, ProgressView


@dataclass
class RecordingSurface:
    platform: str = "test"
    posts: list[tuple[str, str | None, Any]] = field(default_factory=list)  # (channel, thread, text|view)
    progress_updates: list[ProgressView] = field(default_factory=list)
    diagnoses: list[DiagnosisPost] = field(default_factory=list)
    charts: list[tuple[str | None, bytes, str]] = field(default_factory=list)
    proposal_updates: list[tuple[MessageRef, Any, str]] = field(default_factory=list)
    proposal_posts: list[tuple[str | None, Any, str]] = field(default_factory=list)
    feedback_updates: list[tuple[MessageRef, Any]] = field(default_factory=list)
    ephemerals: list[tuple[str, str, str]] = field(default_factory=list)
    _n: int = 0

    def _ref(self, channel: str, thread: str | None) -> MessageRef:
        self._n += 1
        return MessageRef(channel, f"{1700000000 + self._n}.000100", thread)

    async def post_text(self, channel, text, thread=None):
        self.posts.append((channel, thread, text))
        return self._ref(channel, thread)

    async def post_progress(self, channel, thread, view):
        self.posts.append((channel, thread, view))
        return self._ref(channel, thread)

    async def update_progress(self, ref, view):
        self.progress_updates.append(view)

    async def post_diagnosis(self, channel, thread, post):
        self.diagnoses.append(post)
        self.posts.append((channel, thread, post))
        return self._ref(channel, thread)

    async def upload_chart(self, channel, thread, png, title):
        self.charts.append((thread, png, title))

    async def update_proposal(self, ref, view, note):
        self.proposal_updates.append((ref, view, note))

    async def post_proposal(self, channel, thread, view, note):
        self.proposal_posts.append((thread, view, note))
        return self._ref(channel, thread)

    async def update_feedback(self, ref, view):
        self.feedback_updates.append((ref, view))

    async def ephemeral(self, channel, user, text, thread=None):
        self.ephemerals.append((channel, user, text))

    def texts(self, thread: str | None = None) -> list[str]:
        return [p for _, t, p in self.posts if isinstance(p, str) and (thread is None or t == thread)]
