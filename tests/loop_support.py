"""Measuring event-loop lag in tests: the sampler around a block, a database another writer keeps
busy, and scenario backends served from a child process.

The loopback fakes normally run as threads of the test process; their Python work would compete
with the loop for the GIL and blur what the bot itself does. In a child process only the bot's own
work (its tools, worker threads and database writer) shares the measured interpreter.
"""
from __future__ import annotations

import contextlib
import gc
import multiprocessing
import threading
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

from sqlalchemy import Engine, text

from bot.looplag import LoopLagSampler
from tools.sources import SourceConfig


@contextlib.asynccontextmanager
async def lag_watch() -> AsyncIterator[LoopLagSampler]:
    """The sampler around a block. A collection of the test process's own heap (fixtures, fakes,
    earlier tests) is not the code under test, so the collector waits until the block is done."""
    gc.collect()
    gc.freeze()
    gc.disable()
    sampler = LoopLagSampler().start()
    try:
        yield sampler
    finally:
        await sampler.stop()
        gc.enable()
        gc.unfreeze()


@contextlib.contextmanager
def busy_database(engine: Engine, hold: float = 0.4, gap: float = 0.05) -> Iterator[None]:
    """Another writer (an intake burst, another replica) takes the session tables' write lock for
    `hold` seconds at a time, with `gap` seconds between, until the block ends. A write made while
    the lock is held waits for it: on SQLite BEGIN IMMEDIATE queues on the single writer lock, on
    PostgreSQL an INSERT queues behind the EXCLUSIVE table lock."""
    stop = threading.Event()
    held = threading.Event()

    def run() -> None:
        while not stop.is_set():
            with engine.begin() as c:
                if engine.dialect.name == "postgresql":
                    c.execute(text("LOCK TABLE agent_sessions, tool_calls, audit_log IN EXCLUSIVE MODE"))
                held.set()
                stop.wait(hold)
            time.sleep(gap)

    thread = threading.Thread(target=run, name="busy-database", daemon=True)
    thread.start()
    assert held.wait(10), "the competing writer never got the lock"
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def _serve(bundle: str, conn) -> None:  # noqa: ANN001 -- runs in the child process
    from tools.scenario.backends import ScenarioBackends
    from tools.scenario.bundle import load_scenario

    with ScenarioBackends(load_scenario(Path(bundle))) as backends:
        conn.send(backends.config)
        conn.recv()  # until the parent says stop


@contextlib.contextmanager
def child_backends(bundle: Path) -> Iterator[SourceConfig]:
    """ScenarioBackends in a child process; yields the SourceConfig pointing at its servers."""
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(str(bundle), child), daemon=True)
    proc.start()
    try:
        if not conn.poll(120):
            raise RuntimeError(f"scenario backends for {bundle} did not start")
        yield conn.recv()
    finally:
        try:
            conn.send("stop")
        except OSError:
            pass
        proc.join(30)
        if proc.is_alive():
            proc.kill()
