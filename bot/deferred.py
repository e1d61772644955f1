"""Start-up work done once, later: by `chatops serve`'s warm-up thread after the server listens, or
by whoever needs the result first (who then waits for it). The knowledge base (Chroma and
llama-index, seconds) and the remediation executor (the Kubernetes SDK) are built this way, so
/readyz does not wait for them (bot/console/wiring.py, bot/commands/serve_cmd.py)."""
from __future__ import annotations

import threading
from typing import Any, Callable


class Deferred:
    """`build()`, run once by the first caller of get(); callers meanwhile wait on the lock. An
    exception is not kept: the next caller tries again."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None

    @property
    def done(self) -> bool:
        return self._done

    def get(self) -> Any:
        with self._lock:
            if not self._done:
                self._value, self._done = self._build(), True
            return self._value


class DeferredExecutor:
    """A remediation executor (bot.remediation.execute) built on first use: every attribute is the
    built executor's. close() closes its Kubernetes client only if it was built."""

    def __init__(self, build: Callable[[], Any]):
        self.deferred = Deferred(build)

    def __getattr__(self, name: str) -> Any:
        if name == "deferred":  # not set yet (copy, unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.deferred.get(), name)

    def close(self) -> None:
        api = getattr(self.deferred.get(), "api", None) if self.deferred.done else None
        if api is not None:
            api.close()
