"""Tool-call rows, written from one background thread instead of the event loop.

Tracer callbacks are synchronous and run on the loop that also acknowledges Slack; a database
write there (a commit, or SQLite's BEGIN IMMEDIATE waiting out another writer) stalled every
coroutine for its whole duration. Here the loop only enqueues. One writer thread per process
(started once: starting a thread waits for it to run, which is itself a stall under load) writes
the rows in the order they came, batching whatever is waiting into one transaction per database,
so a row lands within milliseconds of its call and `chatops session show` still reflects a running
session. `flush()` waits, without blocking the loop, until everything enqueued so far is written.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction

log = logging.getLogger(__name__)

MAX_BATCH = 200


class RowSource(Protocol):
    """Who enqueues rows: where they go, how an item becomes a row, and a count of rows lost."""

    factory: sessionmaker[Session]
    lost: int

    def make_row(self, item: Any) -> Any: ...


class TraceWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def put(self, source: RowSource, item: Any) -> None:
        """Enqueue one row; never blocks on the database and never raises into the caller."""
        try:
            self._ensure_thread()
        except RuntimeError:  # no thread could start: the row is lost, the diagnosis goes on
            source.lost += 1
            log.exception("could not start the tool-call writer")
            return
        self._queue.put((source, item))

    async def flush(self) -> None:
        """Return once every row enqueued before this call has been written (or counted lost)."""
        if self._thread is None:
            return
        self._ensure_thread()
        done: Future = Future()
        self._queue.put(done)
        await asyncio.wrap_future(done)

    def _ensure_thread(self) -> None:
        # Not alive: never started, or this is a forked child (threads do not survive a fork).
        if self._thread is None or not self._thread.is_alive():
            with self._start:
                if self._thread is None or not self._thread.is_alive():
                    # A daemon: exiting never waits for tracing; flush() is what guarantees the rows.
                    thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
                    thread.start()
                    self._thread = thread

    def _run(self) -> None:
        while True:
            batch, markers = self._take()
            self._write(batch)
            for m in markers:
                m.set_result(None)

    def _take(self) -> tuple[list[tuple[RowSource, Any]], list[Future]]:
        """The next item and whatever else is already waiting (up to MAX_BATCH rows), in order."""
        batch: list[tuple[RowSource, Any]] = []
        markers: list[Future] = []
        item = self._queue.get()
        while True:
            (markers if isinstance(item, Future) else batch).append(item)
            if len(batch) >= MAX_BATCH:
                return batch, markers
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, markers

    def _write(self, batch: list[tuple[RowSource, Any]]) -> None:
        by_db: dict[int, list[tuple[RowSource, Any]]] = {}
        for source, item in batch:  # one transaction per database; rows keep their order within it
            by_db.setdefault(id(source.factory), []).append((source, item))
        for rows in by_db.values():
            try:
                with transaction(rows[0][0].factory) as s:
                    s.add_all([source.make_row(item) for source, item in rows])  # inserted in this order
            except Exception:  # tracing must never break a diagnosis; each session records its loss
                for source, _ in rows:
                    source.lost += 1
                log.exception("could not record %d tool call(s)", len(rows))


writer = TraceWriter()
