"""Keeps one progress message per session up to date ("step n of N · tool"), edited in place.

Tracer callbacks are synchronous and frequent; edits are coalesced so a chat API sees at most one
update per interval, and the last state always lands.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from agents.trace import ToolCallRecord, Usage
from bot.workflow.surface import MessageRef, ProgressView, Surface

log = logging.getLogger(__name__)


class ProgressTracer:
    def __init__(self, surface: Surface, ref: MessageRef, incident_id: str | None, min_interval: float = 1.0):
        self.surface, self.ref = surface, ref
        self.view = ProgressView(incident_id, 0, None, "starting")
        self.min_interval = min_interval
        self._dirty = False
        self._last = 0.0
        self._task: asyncio.Task | None = None

    def step(self, n: int, total: int | None, label: str) -> None:
        self.view.step, self.view.total, self.view.label = n, total, label
        self._kick()

    def tool_call(self, record: ToolCallRecord) -> None:
        self.view.step = max(self.view.step, record.step)
        self.view.label = f"{record.tool}: {record.status}"
        self._kick()

    def usage(self, usage: Usage) -> None:
        pass

    def note(self, text: str) -> None:
        self.view.label = text[:200]
        self._kick()

    def _kick(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._flush())
            except RuntimeError:  # no loop (sync caller): skip live updates, finish() still lands
                pass

    async def _flush(self) -> None:
        while self._dirty:
            wait = self.min_interval - (time.monotonic() - self._last)
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty = False
            self._last = time.monotonic()
            try:
                await self.surface.update_progress(self.ref, replace(self.view))
            except Exception:
                log.debug("progress update failed", exc_info=True)

    async def finish(self, label: str) -> None:
        if self._task is not None:
            self._dirty = False
            try:
                await asyncio.wait_for(self._task, 5)
            except Exception:
                pass
        self.view.done, self.view.label = True, label
        try:
            await self.surface.update_progress(self.ref, replace(self.view))
        except Exception:
            log.debug("final progress update failed", exc_info=True)


def progress_text(view: ProgressView, label: str, running: str, finished: str) -> str:
    """The progress line every chat surface shows, with its own emoji and its own escaping of `label`."""
    if view.done:
        return f"{finished} Investigation finished · {label}"
    if view.step <= 0:
        return f"{running} Investigating… {label}"
    of = f" of {view.total}" if view.total else ""
    return f"{running} Investigating… step {view.step}{of} · {label}"
