"""ConsoleSurface: the workflow's Surface for a terminal (or a piped transcript).

Messages get sequential ids; a thread reply is printed indented under a marker naming its root
(`  ↳ [3] …`), since replies of concurrent sessions interleave. Buttons become numbered
choices that stay valid for the whole console session: a number for an already decided
proposal still reaches the workflow, which answers with the real refusal.

On a terminal a progress message is rewritten in place while nothing else was printed after it;
in a transcript (not a TTY) only its first and final states are printed, so the output does not
depend on timing and carries no ANSI codes.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.console import render
from bot.workflow.surface import DiagnosisPost, MessageRef, ProgressView

BOT = "chatops"
INDENT = "      "


@dataclass
class Choice:
    number: int
    decision: str  # approve | reject, or right | wrong (feedback on a diagnosis)
    proposal_id: str  # the proposal, or for feedback the diagnosis
    token: str
    channel: str
    ref: MessageRef
    label: str

    @property
    def feedback(self) -> bool:
        return self.decision in ("right", "wrong")


class _Style:
    def __init__(self, color: bool):
        codes = {"dim": "2", "bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
        self._codes = codes if color else {}

    def __call__(self, kind: str, text: str) -> str:
        code = self._codes.get(kind)
        return f"\033[{code}m{text}\033[0m" if code else text


def _typed_so_far() -> str:
    try:
        import readline

        return readline.get_line_buffer()
    except Exception:  # no readline on this platform
        return ""


class ConsoleSurface:
    platform = "console"

    def __init__(self, out: TextIO | None = None, *, color: bool = False, live: bool = False,
                 chart_dir: Path | None = None, policy: Any = None, width: int = 100):
        self.out = out or sys.stdout
        self.style = _Style(color)
        self.live = live  # a terminal: progress may be rewritten in place
        self.chart_dir = chart_dir
        self.policy = policy
        self.width = width
        self.choices: dict[int, Choice] = {}
        self._numbers: dict[str, tuple[int, int]] = {}  # proposal id -> (approve no, reject no)
        self._seq = 0
        self._progress: dict[str, str] = {}  # progress message ts -> last text shown
        self._last_printed: str | None = None  # ts of the message whose text ends the output
        self.prompt: str | None = None  # the input prompt currently on screen (terminal only)
        self._lock = threading.Lock()

    # -- output primitives -----------------------------------------------------------------
    def _next_ts(self) -> str:
        with self._lock:
            self._seq += 1
            return str(self._seq)

    def _write(self, text: str, ts: str | None = None, up: bool = False) -> None:
        """Print a block. On a terminal with a prompt showing, the prompt line is cleared first and
        redrawn after (with what was typed so far), so background output never lands inside it;
        `up` rewrites the line above instead (an in-place progress update)."""
        text = text if text.endswith("\n") else text + "\n"
        with self._lock:
            if self.live and self.prompt is not None:
                text = "\r\033[K" + text
            if up:
                text = "\033[1A\r\033[K" + text.removeprefix("\r\033[K")
                if self.prompt is not None:
                    text = "\r\033[K" + text
            if self.live and self.prompt is not None:
                text += self.prompt + _typed_so_far()
            self.out.write(text)
            self.out.flush()
            self._last_printed = ts

    def input_taken(self) -> None:
        """The user finished a line: it now ends the output, and no prompt is showing."""
        with self._lock:
            self._last_printed, self.prompt = None, None

    def show_prompt(self, prompt: str) -> None:
        with self._lock:
            self.prompt = prompt

    def _block(self, ts: str, channel: str, thread: str | None, text: str, author: str = BOT,
               kind: str | None = None) -> str:
        lines = render.chat_text(text).splitlines() or [""]
        body = [self.style(kind, ln) if kind else ln for ln in lines]
        if thread is None:
            head = f"[{ts}] {self.style('bold', channel)} · {author}: {body[0]}"
            return "\n".join([head, *("  " + ln for ln in body[1:])])
        head = f"  ↳ [{thread}] {body[0]}"
        return "\n".join([head, *(INDENT + ln for ln in body[1:])])

    def say(self, text: str, kind: str | None = None) -> None:
        """A console line that is not a chat message (help, identity, command feedback)."""
        self._write("\n".join(self.style(kind, ln) if kind else ln for ln in text.splitlines()))

    def post_as(self, channel: str, author: str, text: str, thread: str | None = None) -> MessageRef:
        """A message someone else posts (Alertmanager in #alerts, the console user)."""
        ts = self._next_ts()
        self._write(self._block(ts, channel, thread, text, author=author), ts)
        return MessageRef(channel, ts, thread)

    # -- Surface protocol ------------------------------------------------------------------
    async def post_text(self, channel: str, text: str, thread: str | None = None) -> MessageRef:
        return self.post_as(channel, BOT, text, thread)

    async def post_progress(self, channel: str, thread: str | None, view: ProgressView) -> MessageRef:
        ts = self._next_ts()
        text = render.progress_line(view)
        self._progress[ts] = text
        self._write(self._block(ts, channel, thread, text, kind="dim"), ts)
        return MessageRef(channel, ts, thread)

    async def update_progress(self, ref: MessageRef, view: ProgressView) -> None:
        text = render.progress_line(view)
        if self._progress.get(ref.ts) == text:
            return
        self._progress[ref.ts] = text
        line = self._block(ref.ts, ref.channel, ref.thread, text, kind="dim")
        if self.live and self._last_printed == ref.ts and "\n" not in line:
            self._write(line, ref.ts, up=True)
        elif self.live or view.done:
            self._write(line, ref.ts)

    async def post_diagnosis(self, channel: str, thread: str | None, post: DiagnosisPost) -> MessageRef:
        ts = self._next_ts()
        ref = MessageRef(channel, ts, thread)
        lines = [render.diagnosis_text(post, self.width)]
        for view in post.proposals:
            lines.extend(self._proposal_lines(view, ref))
        if post.feedback is not None:  # after the proposals, so their choice numbers come first
            lines.extend(self._feedback_lines(post.feedback, ref))
        self._write(self._block(ts, channel, thread, "\n".join(lines)), ts)
        return ref

    async def upload_chart(self, channel: str, thread: str | None, png: bytes, title: str) -> None:
        ts = self._next_ts()
        where = "(not saved)"
        if self.chart_dir is not None:
            try:
                self.chart_dir.mkdir(parents=True, exist_ok=True)
                path = self.chart_dir / f"chart-{ts}.png"
                path.write_bytes(png)
                where = str(path)
            except OSError as exc:
                where = f"(not saved: {exc.strerror})"
        self._write(self._block(ts, channel, thread, f"chart: {title} → {where}"), ts)

    async def update_proposal(self, ref: MessageRef, view: Any, note: str) -> None:
        lines = [note] if note else []
        lines.extend(self._proposal_lines(view, ref, outcome=not note))  # the note already says the outcome
        self._write(self._block(ref.ts, ref.channel, ref.thread or ref.ts, "\n".join(lines)), ref.ts)

    async def post_proposal(self, channel: str, thread: str | None, view: Any, note: str = "") -> MessageRef:
        """A proposal as its own message (e.g. the undo offered after an execution)."""
        ts = self._next_ts()
        ref = MessageRef(channel, ts, thread)
        lines = ([note] if note else []) + self._proposal_lines(view, ref)
        self._write(self._block(ts, channel, thread, "\n".join(lines)), ts)
        return ref

    def post_listing(self, channel: str, title: str, views: list[Any]) -> MessageRef:
        """`/proposals`: one message listing proposals; open ones get (or keep) their choice numbers."""
        ts = self._next_ts()
        ref = MessageRef(channel, ts, None)
        lines = [title]
        for view in views:
            lines.extend(f"{ln}  (proposal {view.proposal_id})" if i == 0 else ln
                         for i, ln in enumerate(self._proposal_lines(view, ref)))
        self._write(self._block(ts, channel, None, "\n".join(lines)), ts)
        return ref

    async def update_feedback(self, ref: MessageRef, view: Any) -> None:
        """Who said what about the diagnosis, under it in its thread; the choices keep their numbers."""
        self._write(self._block(ref.ts, ref.channel, ref.thread or ref.ts, "\n".join(self._feedback_lines(view, ref))),
                    ref.ts)

    async def ephemeral(self, channel: str, user: str, text: str, thread: str | None = None) -> None:
        body = f"(only visible to {user}) {text}"
        self._write(self._block("-", channel, thread, body, kind="yellow") if thread
                    else self.style("yellow", f"  {render.chat_text(body)}"))

    # -- proposals as choices --------------------------------------------------------------
    def _proposal_lines(self, view: Any, ref: MessageRef, outcome: bool = True) -> list[str]:
        if not view.offerable or not view.proposal_id or not view.token:
            return [("✗ " if view.state in ("refused", "failed", "rejected", "expired") else "• ")
                    + render.proposal_status(view, outcome)]
        approve_no, reject_no = self._register(view, ref)
        line = self.style("cyan", render.choice_line(view, approve_no, reject_no))
        return [line, "    " + render.allowed_line(view, self.allowed(view.risk), self._forbid_self(view.risk))]

    def _feedback_lines(self, view: Any, ref: MessageRef) -> list[str]:
        with self._lock:
            numbers = self._numbers.get(view.diagnosis_id)
            if numbers is None:
                base = len(self.choices) + 1
                numbers = self._numbers[view.diagnosis_id] = (base, base + 1)
            for no, verdict in zip(numbers, ("right", "wrong")):
                self.choices[no] = Choice(no, verdict, view.diagnosis_id, view.token, ref.channel, ref,
                                          f"{verdict} cause")
        return [*render.feedback_text(view), self.style("cyan", render.feedback_choice_line(*numbers))]

    def _register(self, view: Any, ref: MessageRef) -> tuple[int, int]:
        with self._lock:
            numbers = self._numbers.get(view.proposal_id)
            if numbers is None:
                base = len(self.choices) + 1
                numbers = self._numbers[view.proposal_id] = (base, base + 1)
            else:  # listed again (/proposals): clicks still update the message that offered it first
                ref = self.choices[numbers[0]].ref
            for no, decision in zip(numbers, ("approve", "reject")):
                self.choices[no] = Choice(no, decision, view.proposal_id, view.token, ref.channel, ref,
                                          f"{decision} {view.action_text}")
            return numbers

    def allowed(self, risk: str) -> list[str]:
        if self.policy is None:
            return []
        who = self.policy.allowed_at(risk)
        return [f"{p}:{u}" for p, u in who.users] + [f"{p}-group:{g}" for p, g in who.groups]

    def _forbid_self(self, risk: str) -> bool:
        return bool(self.policy is not None and self.policy.self_approval_forbidden(risk))
