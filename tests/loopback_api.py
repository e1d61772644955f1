"""The server side the model API fakes share (tests/fake_anthropic.py, tests/fake_openai.py): one POST
route on a loopback port, a script of answers, and every request recorded."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Union

from aiohttp import web

from tests.support import free_port

Reply = tuple[int, dict, dict]
ScriptItem = Union[dict, Reply, Callable[[dict], Union[dict, Reply]]]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict
    raw: str


class LoopbackAPI:
    """Subclasses set `path`, `id_header` and `record` (a Recorded with the API's readers) and
    implement error(), check() and answer()."""

    path = ""
    id_header = "request-id"
    record: type = Recorded

    def __init__(self, script: Iterable[ScriptItem] = (), default: ScriptItem | None = None):
        self.script: list[ScriptItem] = list(script)
        self.default = default  # answers once the script is used up
        self.requests: list[Any] = []
        self._runner: web.AppRunner | None = None
        self.port = free_port()

    @property
    def bodies(self) -> list[str]:
        return [r.raw for r in self.requests]

    async def __aenter__(self) -> Any:
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._runner:
            await self._runner.cleanup()

    # --- what a subclass says -------------------------------------------------------------------

    def error(self, status: int, type_: str, message: str) -> Reply:
        raise NotImplementedError

    def check(self, request: web.Request, body: dict) -> Reply | None:
        """The API's refusal of this request (auth, a malformed conversation), or None."""
        raise NotImplementedError

    def answer(self, body: dict, item: dict) -> dict:
        raise NotImplementedError

    # --- serving --------------------------------------------------------------------------------

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._reply(self.error(404, "not_found_error", f"{request.method} {request.path} not found"))

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            body = json.loads(raw)
        except ValueError:
            return self._reply(self.error(400, "invalid_request_error", "request body is not valid JSON"))
        self.requests.append(self.record(request.path, {k.lower(): v for k, v in request.headers.items()},
                                         body, raw))
        refused = self.check(request, body)
        if refused is not None:
            return self._reply(refused)
        item = self.script.pop(0) if self.script else self.default
        if item is None:
            return self._reply(self.error(500, "api_error", "fake script exhausted"))
        if callable(item):
            item = item(body)
        if isinstance(item, tuple):
            return self._reply(item)
        return self._reply((200, self.answer(body, item), {}))

    def _reply(self, reply: Reply) -> web.Response:
        status, body, headers = reply
        return web.json_response(body, status=status,
                                 headers={self.id_header: "req_" + secrets.token_hex(12), **headers})
