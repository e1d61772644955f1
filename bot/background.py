"""Bounded background work started by requests, acknowledged before it runs (Slack commands, Teams
activities): at most `concurrency` at a time, so a burst of requests cannot starve the loop that
writes their acknowledgements; references kept so tasks are not collected; failures logged."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine

log = logging.getLogger(__name__)


class Background:
    def __init__(self, concurrency: int):
        self.sem = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task] = set()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        async def run() -> None:
            async with self.sem:
                try:
                    await coro
                except Exception:
                    log.exception("background intake failed")

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self, timeout: float | None = None) -> None:
        """Until the work submitted so far has finished (shutdown, tests)."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
