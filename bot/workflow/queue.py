"""Bounded diagnosis work: a concurrency limit, a queue, and a status per item.

Alert storms must not start hundreds of sessions at once, and nothing may vanish: an item is
queued, running, done or failed; past the queue limit it is *rejected* and the caller tells
the channel so, instead of dropping it silently.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


@dataclass
class ItemStatus:
    key: str
    state: str  # queued | running | done | failed | rejected
    error: str | None = None


class SessionQueue:
    def __init__(self, concurrency: int = 4, max_pending: int = 1000, keep: int = 10_000):
        self.sem = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.max_pending = max_pending
        self.keep = keep
        self.status: OrderedDict[str, ItemStatus] = OrderedDict()
        self.tasks: set[asyncio.Task] = set()

    @property
    def pending(self) -> int:
        return sum(1 for s in self.status.values() if s.state == "queued")

    @property
    def running(self) -> int:
        return sum(1 for s in self.status.values() if s.state == "running")

    def submit(self, key: str, work: Callable[[], Awaitable[None]]) -> ItemStatus:
        if key in self.status and self.status[key].state in ("queued", "running"):
            return self.status[key]
        if self.pending >= self.max_pending:
            st = ItemStatus(key, "rejected", f"queue full ({self.max_pending} waiting)")
            self._remember(st)
            return st
        st = ItemStatus(key, "queued")
        self._remember(st)
        task = asyncio.get_running_loop().create_task(self._run(st, work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return st

    async def _run(self, st: ItemStatus, work: Callable[[], Awaitable[None]]) -> None:
        async with self.sem:
            st.state = "running"
            try:
                await work()
                st.state = "done"
            except Exception as exc:
                st.state, st.error = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("diagnosis work %s failed", st.key)

    def _remember(self, st: ItemStatus) -> None:
        self.status[st.key] = st
        self.status.move_to_end(st.key)
        while len(self.status) > self.keep:
            oldest = next(iter(self.status))
            if self.status[oldest].state in ("queued", "running"):
                break
            self.status.popitem(last=False)

    async def join(self, timeout: float | None = None) -> None:
        if self.tasks:
            await asyncio.wait_for(asyncio.gather(*list(self.tasks), return_exceptions=True), timeout)
