"""A loopback fake's aiohttp server in a background thread with its own event loop, so synchronous
clients (requests, MSAL, the Slack WebClient) and pytest's own loop can all reach it."""
from __future__ import annotations

import asyncio
import threading
from typing import Awaitable, Callable

from aiohttp import web


class ServerThread:
    def __init__(self, name: str):
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, serve: Callable[[], Awaitable[web.AppRunner]]) -> "ServerThread":
        """Run `serve()` (it sets up and starts the runner's sites, returning the runner) in the thread,
        and keep its loop running until stop(); raises what `serve()` raised."""
        ready, errors, runner = threading.Event(), [], []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                runner.append(loop.run_until_complete(serve()))
            except BaseException as exc:  # surfaced to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner[0].cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors or not runner:
            self._thread = None
            raise RuntimeError(f"{self.name} failed to start: {errors[0] if errors else 'timeout'}")
        return self

    def stop(self) -> None:
        if self._thread is None or self.loop is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None
        self.loop = None
