"""Event-loop lag: how late a task that asked to sleep a few milliseconds wakes up.

Anything synchronous on the loop (a database write, Drain mining, a chart, BM25) delays every
other coroutine by its full duration: Slack acks, progress edits, other sessions. The sampler
makes that visible as one number. `chatops serve` runs it when LOOP_LAG_LOG names a file and
writes the figures there when it stops (bench/slack_load.py reads them); the tests run it around a
real diagnosis (tests/test_loop_hygiene.py). settle_startup removes what start-up leaves behind:
lazy imports and a large heap for the collector to walk.
"""
from __future__ import annotations

import asyncio
import gc
import importlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import AsyncIterator

INTERVAL = 0.005
# Lags are counted in 0.1 ms buckets: a long-running server keeps a bounded histogram, not every sample.
_BUCKET = 0.0001


@dataclass(frozen=True)
class LagStats:
    samples: int
    max_ms: float
    p99_ms: float
    p50_ms: float
    interval_ms: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class LoopLagSampler:
    """A task that sleeps `interval` seconds in a loop and records how late each wake-up is."""

    def __init__(self, interval: float = INTERVAL):
        self.interval = interval
        self._counts: dict[int, int] = {}
        self._max = 0.0
        self._n = 0
        self._task: asyncio.Task | None = None
        self._asleep_since: float | None = None

    def start(self) -> "LoopLagSampler":
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-sampler")
        return self

    async def stop(self) -> LagStats:
        if self._task is not None:
            # A stall that ends just before stop() has not been recorded yet: the sampler's wake-up
            # is still waiting in the ready queue. Count it, or the worst stall would go unseen.
            if self._asleep_since is not None:
                late = time.perf_counter() - self._asleep_since - self.interval
                if late > 0:
                    self.record(late)
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        return self.stats()

    async def __aenter__(self) -> "LoopLagSampler":
        return self.start()

    async def __aexit__(self, *exc) -> None:  # noqa: ANN002
        await self.stop()

    async def _run(self) -> None:
        while True:
            self._asleep_since = t0 = time.perf_counter()
            await asyncio.sleep(self.interval)
            self._asleep_since = None
            self.record(time.perf_counter() - t0 - self.interval)

    def record(self, lag: float) -> None:
        lag = max(0.0, lag)
        self._max = max(self._max, lag)
        self._n += 1
        b = int(lag / _BUCKET)
        self._counts[b] = self._counts.get(b, 0) + 1

    def _quantile(self, q: float) -> float:
        if not self._n:
            return 0.0
        rank = max(1, math.ceil(q * self._n))
        seen = 0
        for b in sorted(self._counts):
            seen += self._counts[b]
            if seen >= rank:
                return min(self._max, (b + 1) * _BUCKET)
        return self._max

    def stats(self) -> LagStats:
        ms = lambda seconds: round(seconds * 1000, 2)  # noqa: E731
        return LagStats(samples=self._n, max_ms=ms(self._max), p99_ms=ms(self._quantile(0.99)),
                        p50_ms=ms(self._quantile(0.5)), interval_ms=ms(self.interval))


# Imported lazily by a first diagnosis, on the loop or beside it: matplotlib (bot.charts, ~0.5 s)
# and the engines; with a model key, the Anthropic SDK too (~1.4 s, see settle_startup's caller).
STARTUP_IMPORTS = ("agents.offline.engine", "bot.charts")


async def settle_startup(*extra_modules: str, collect: bool = True) -> None:
    """Import what the first diagnosis would import lazily, in a worker thread, then freeze the heap
    start-up leaves behind (gc.freeze) so the collector's full passes stop walking it. In the storm
    bench those full collections were the worst stalls of the loop (120-170 ms, some started from
    worker threads: a collection stops every thread); frozen, the peak is ~10 ms. collect=False for
    a process already serving (`chatops serve` settles after it listens): the full collection before
    the freeze would itself stall the loop ~0.1-0.2 s, and it finds only a few hundred objects."""
    for name in (*STARTUP_IMPORTS, *extra_modules):
        await asyncio.to_thread(importlib.import_module, name)
    if collect:
        gc.collect()
    gc.freeze()


def sampled_into(path: str | Path):  # noqa: ANN201 -- an aiohttp cleanup context
    """Sample while the aiohttp app runs; write the figures to `path` as one JSON object when it stops."""
    async def run(app) -> AsyncIterator[None]:  # noqa: ANN001
        sampler = LoopLagSampler().start()
        yield
        stats = await sampler.stop()
        Path(path).write_text(stats.to_json() + "\n")

    return run
