"""A loopback fake of the Slack Web API that the real `slack_sdk` clients talk to via `base_url`.

It serves `/api/<method>` for the methods the bot uses, answering in Slack's payload shapes
(`{"ok": true, ...}` / `{"ok": false, "error": "..."}`, HTTP 200 for API errors, 429 with
Retry-After for rate limits), keeps channels, messages and threads in memory so updates,
permalinks and replies behave consistently, and records every request (headers, merged
query/form/JSON arguments, multipart files) for assertions.

slack_sdk sends arguments three ways depending on method and client: JSON bodies
(chat.*, views.*), query strings (AsyncWebClient `params=`) and form bodies (WebClient
`params=`); the fake merges all three. `files_upload_v2` is served as slack_sdk performs it:
files.getUploadURLExternal returns an upload_url on this server, the bytes are POSTed there
(raw body, or multipart from other clients), then files.completeUploadExternal shares them.

Also a response_url receiver (`POST /response_url/<id>`) for slash-command replies, and a
read-only `GET /_fake/calls` so a load benchmark can inspect a standalone instance:

    python -m tests.fake_slack --port 8099 --token xoxb-bench
"""
from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from tests.loop_thread import ServerThread

DEFAULT_TOKEN = "xoxb-fake-token"
_ID_LIKE = re.compile(r"^[A-Z][A-Z0-9]{2,}$")
# Pseudo-method names under which the non-API endpoints are recorded and can be failed.
UPLOAD = "upload"
RESPONSE_URL = "response_url"


class SlackError(Exception):
    """An API-level failure answered as {"ok": false, "error": code} (HTTP 200 like Slack)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass
class Call:
    method: str
    http_method: str
    path: str
    headers: dict[str, str]
    args: dict[str, Any]  # query + form + JSON body merged; form values stay strings
    content_type: str
    files: dict[str, tuple[str, bytes]]  # multipart field -> (filename, bytes)
    body: bytes
    status: int = 0
    response: Any = None
    at: float = 0.0

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):]
        tok = self.args.get("token")
        return str(tok) if tok else None

    def arg(self, name: str, default: Any = None) -> Any:
        """An argument with JSON-encoded form values (blocks, view, files) decoded."""
        return _json_value(self.args.get(name, default))


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class _Failure:
    error: str
    status: int
    retry_after: float | None
    times: int | None  # None: until clear_failures()


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    is_im: bool = False
    messages: list[dict] = field(default_factory=list)

    def info(self, created: int) -> dict:
        return {"id": self.id, "name": self.name, "is_channel": not self.is_private and not self.is_im,
                "is_group": self.is_private, "is_im": self.is_im, "is_private": self.is_private,
                "is_archived": self.is_archived, "is_general": False, "is_member": self.is_member,
                "created": created, "name_normalized": self.name,
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0}}


def _json_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(5).upper()


class FakeSlack:
    """Runs in a background thread with its own event loop, so sync and async clients and
    pytest's own loop can all use it. `start()` returns the `/api/` base URL."""

    def __init__(self, token: str | tuple[str, ...] = DEFAULT_TOKEN, *, team_id: str = "T0FAKE001",
                 team: str = "Fake Workspace", domain: str = "fake-workspace",
                 bot_user_id: str = "U0FAKEBOT", bot_id: str = "B0FAKEBOT", app_id: str = "A0FAKEAPP",
                 latency: float = 0.0) -> None:
        self.tokens = {token} if isinstance(token, str) else set(token)
        self.team_id, self.team, self.domain = team_id, team, domain
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.root: str | None = None
        self.uploads: dict[str, Upload] = {}
        self.ephemerals: list[dict] = []
        self.views: list[dict] = []
        self._calls: list[Call] = []
        self._channels: dict[str, Channel] = {}
        self._users: dict[str, dict] = {}
        self._usergroups: dict[str, dict] = {}
        self._responses: dict[str, list[Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._latency: dict[str | None, float] = {None: latency}
        self._ts = 1_700_000_000_000_000
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._server: ServerThread | None = None
        self._handlers: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "conversations.info": self._conversation_info,
            "conversations.join": self._join,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "users.info": self._user_info,
            "usergroups.users.list": self._usergroup_users,
            "views.open": self._views_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.root is None:
            raise RuntimeError("FakeSlack is not started")
        return self.root + "api/"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            return self.url
        self._server = ServerThread("fake-slack").start(lambda: self._serve(host, port))
        return self.url

    async def _serve(self, host: str, port: int) -> web.AppRunner:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/response_url/{key}", self._response_url)
        app.router.add_get("/_fake/calls", self._dump_calls)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.root = f"http://{host}:{bound[1]}/"
        return self._runner

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        self.root = None

    def __enter__(self) -> "FakeSlack":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- configuration ---------------------------------------------------------------------

    def add_channel(self, id: str, name: str | None = None, *, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> Channel:
        with self._lock:
            ch = Channel(id, name or f"chan-{id.lower()}", is_private, is_member, is_archived, id.startswith("D"))
            self._channels[id] = ch
            return ch

    def add_user(self, id: str, name: str, *, real_name: str | None = None, email: str | None = None,
                 tz: str = "Etc/UTC", is_bot: bool = False) -> dict:
        user = {"id": id, "team_id": self.team_id, "name": name, "deleted": False, "real_name": real_name or name,
                "tz": tz, "is_bot": is_bot, "is_admin": False,
                "profile": {"real_name": real_name or name, "display_name": name, "email": email}}
        with self._lock:
            self._users[id] = user
        return user

    def add_usergroup(self, id: str, handle: str, users: list[str]) -> None:
        with self._lock:
            self._usergroups[id] = {"id": id, "handle": handle, "users": list(users)}

    def add_message(self, channel: str, text: str, *, user: str = "U0HUMAN01", thread_ts: str | None = None,
                    **extra: Any) -> dict:
        """Seed a message not posted by the bot (an alert from another integration, a human)."""
        with self._lock:
            ch = self._channel(channel)
            msg = {"type": "message", "user": user, "text": text, "ts": self._next_ts(), "team": self.team_id, **extra}
            self._append(ch, msg, thread_ts)
            return dict(msg)

    def fail(self, method: str, error: str = "ratelimited", status: int = 429, retry_after: float | None = 1,
             times: int | None = 1) -> None:
        """Answer the next `times` calls of `method` (None: all until clear_failures) with an error.
        `method` may also be "upload" (the upload_url POST) or "response_url"."""
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(error, status, retry_after if status == 429 else None, times))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay every response (method None) or one method's responses."""
        with self._lock:
            self._latency[method] = seconds

    def response_url(self, key: str | None = None) -> str:
        key = key or secrets.token_hex(8)
        with self._lock:
            self._responses.setdefault(key, [])
        return f"{self.root}response_url/{key}"

    # --- inspection ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> Call:
        found = self.calls(method)
        if not found:
            seen = sorted({c.method for c in self.calls()})
            raise LookupError(f"no {method} call recorded; recorded: {', '.join(seen) or 'none'}")
        return found[-1]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def messages(self, channel: str) -> list[dict]:
        """Top-level messages and replies in posting order (copies)."""
        with self._lock:
            ch = self._channels.get(channel)
            return [dict(m) for m in ch.messages] if ch else []

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        return [m for m in self.messages(channel) if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]

    def responses(self, key: str) -> list[Any]:
        with self._lock:
            return list(self._responses.get(key, []))

    # --- HTTP plumbing -----------------------------------------------------------------------

    async def _read(self, request: web.Request, method: str) -> Call:
        args: dict[str, Any] = dict(request.query)
        files: dict[str, tuple[str, bytes]] = {}
        body = b""
        ctype = request.content_type
        if ctype == "multipart/form-data":
            form = await request.post()
            for k, v in form.items():
                if isinstance(v, web.FileField):
                    files[k] = (v.filename, v.file.read())
                else:
                    args[k] = v
        else:
            body = await request.read()
            if ctype == "application/json" and body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    args.update(parsed)
            elif ctype == "application/x-www-form-urlencoded" and body and method != UPLOAD:
                args.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return Call(method, request.method, request.path, dict(request.headers), args, ctype, files, body,
                    at=time.time())

    async def _delay(self, method: str) -> None:
        with self._lock:
            seconds = self._latency.get(method, self._latency.get(None, 0.0))
        if seconds:
            await asyncio.sleep(seconds)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(method)
            if not queue:
                return None
            f = queue[0]
            if f.times is not None:
                f.times -= 1
                if f.times <= 0:
                    queue.pop(0)
            return f

    def _finish(self, call: Call, status: int, payload: Any, headers: dict | None = None,
                text: str | None = None) -> web.Response:
        call.status, call.response = status, payload if text is None else text
        with self._lock:
            self._calls.append(call)
        if text is not None:
            return web.Response(status=status, text=text, headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _failure_response(self, call: Call, f: _Failure) -> web.Response:
        headers = {"Retry-After": f"{f.retry_after:g}"} if f.retry_after is not None else None
        return self._finish(call, f.status, {"ok": False, "error": f.error}, headers)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = await self._read(request, method)
        await self._delay(method)
        handler = self._handlers.get(method)
        if handler is None:
            return self._finish(call, 200, {"ok": False, "error": "unknown_method", "req_method": method})
        if not call.token:
            return self._finish(call, 200, {"ok": False, "error": "not_authed"})
        if call.token not in self.tokens:
            return self._finish(call, 200, {"ok": False, "error": "invalid_auth"})
        failure = self._take_failure(method)
        if failure is not None:
            return self._failure_response(call, failure)
        try:
            with self._lock:
                payload = {"ok": True, **handler(call.args)}
        except SlackError as err:
            payload = {"ok": False, "error": err.code, **err.extra}
        return self._finish(call, 200, payload)

    async def _upload(self, request: web.Request) -> web.Response:
        call = await self._read(request, UPLOAD)
        await self._delay(UPLOAD)
        failure = self._take_failure(UPLOAD)
        if failure is not None:
            return self._failure_response(call, failure)
        data = next(iter(call.files.values()))[1] if call.files else call.body
        with self._lock:
            up = self.uploads.get(request.match_info["file_id"])
            if up is None or up.completed:
                found = None
            else:
                up.data = data
                found = up
        if found is None:
            return self._finish(call, 404, None, text="file not found or already completed")
        return self._finish(call, 200, None, text=f"OK - {len(data)}")

    async def _response_url(self, request: web.Request) -> web.Response:
        call = await self._read(request, RESPONSE_URL)
        await self._delay(RESPONSE_URL)
        failure = self._take_failure(RESPONSE_URL)
        if failure is not None:
            return self._failure_response(call, failure)
        key = request.match_info["key"]
        try:
            payload = json.loads(call.body)
        except ValueError:
            return self._finish(call, 400, None, text="invalid_payload")
        with self._lock:
            if key not in self._responses:
                known = False
            else:
                self._responses[key].append(payload)
                known = True
        if not known:
            return self._finish(call, 404, None, text="no_active_hooks")
        return self._finish(call, 200, None, text="ok")

    async def _dump_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        rows = [{"method": c.method, "status": c.status, "at": c.at,
                 "args": {k: v for k, v in c.args.items() if k != "token"}}
                for c in self.calls(method)]
        return web.json_response({"count": len(rows), "calls": rows}, dumps=lambda o: json.dumps(o, default=str))

    # --- state helpers (called under self._lock) ----------------------------------------------

    def _next_ts(self) -> str:
        self._ts += 100
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def _channel(self, ref: Any, *, create: bool = True) -> Channel:
        if not ref:
            raise SlackError("channel_not_found")
        ref = str(ref)
        if ref.startswith("#"):
            for ch in self._channels.values():
                if ch.name == ref[1:]:
                    return ch
            raise SlackError("channel_not_found")
        ch = self._channels.get(ref)
        if ch is None:
            if not create or not _ID_LIKE.match(ref) or ref[0] not in "CGD":
                raise SlackError("channel_not_found")
            ch = Channel(ref, f"chan-{ref.lower()}", is_private=ref.startswith("G"), is_im=ref.startswith("D"))
            self._channels[ref] = ch
        return ch

    def _find(self, ch: Channel, ts: Any) -> dict:
        for m in ch.messages:
            if m["ts"] == ts:
                return m
        raise SlackError("message_not_found")

    def _append(self, ch: Channel, msg: dict, thread_ts: str | None) -> None:
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = next((m for m in ch.messages if m["ts"] == thread_ts), None)
            if parent is not None:
                parent.setdefault("thread_ts", thread_ts)
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = msg["ts"]
                msg["parent_user_id"] = parent.get("user")
        ch.messages.append(msg)

    def _postable(self, args: dict) -> Channel:
        ch = self._channel(args.get("channel"))
        if ch.is_archived:
            raise SlackError("is_archived")
        # chat:write.public lets a bot post in public channels it has not joined, not private ones.
        if not ch.is_member and (ch.is_private or ch.is_im):
            raise SlackError("not_in_channel")
        return ch

    def _bot_message(self, args: dict, ts: str) -> dict:
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        msg = {"type": "message", "text": args.get("text", ""), "user": self.bot_user_id,
               "bot_id": self.bot_id, "app_id": self.app_id, "team": self.team_id, "ts": ts}
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key):
                msg[key] = _json_value(args[key])
        return msg

    # --- methods ----------------------------------------------------------------------------

    def _auth_test(self, args: dict) -> dict:
        return {"url": f"https://{self.domain}.slack.com/", "team": self.team, "user": "chatops-bot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _post_message(self, args: dict) -> dict:
        ch = self._postable(args)
        ts = self._next_ts()
        msg = self._bot_message(args, ts)
        thread_ts = args.get("thread_ts") or None
        self._append(ch, msg, thread_ts)
        return {"channel": ch.id, "ts": ts, "message": dict(msg)}

    def _update(self, args: dict) -> dict:
        ch = self._channel(args.get("channel"), create=False)
        msg = self._find(ch, args.get("ts"))
        if msg.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            raise SlackError("no_text")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in args:
                msg[key] = _json_value(args[key])
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": ch.id, "ts": msg["ts"], "text": msg.get("text", ""), "message": dict(msg)}

    def _post_ephemeral(self, args: dict) -> dict:
        ch = self._postable(args)
        if not args.get("user"):
            raise SlackError("user_not_in_channel")
        ts = self._next_ts()
        msg = self._bot_message(args, ts)
        # "user" is the recipient here, as in the API call; the sender is always the bot.
        self.ephemerals.append({**msg, "channel": ch.id, "user": args["user"], "thread_ts": args.get("thread_ts")})
        return {"message_ts": ts}

    def _permalink(self, args: dict) -> dict:
        ch = self._channel(args.get("channel"), create=False)
        msg = self._find(ch, args.get("message_ts"))
        link = f"https://{self.domain}.slack.com/archives/{ch.id}/p{msg['ts'].replace('.', '')}"
        if msg.get("thread_ts") and msg["thread_ts"] != msg["ts"]:
            link += f"?thread_ts={msg['thread_ts']}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    def _conversation_info(self, args: dict) -> dict:
        ch = self._channel(args.get("channel"))
        if ch.is_private and not ch.is_member:
            raise SlackError("channel_not_found")  # private channels are invisible to non-members
        return {"channel": ch.info(1_600_000_000)}

    def _join(self, args: dict) -> dict:
        ch = self._channel(args.get("channel"))
        if ch.is_private or ch.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if ch.is_archived:
            raise SlackError("is_archived")
        out: dict[str, Any] = {}
        if ch.is_member:
            out = {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}}
        ch.is_member = True
        return {"channel": ch.info(1_600_000_000), **out}

    def _visible(self, args: dict) -> Channel:
        ch = self._channel(args.get("channel"), create=False)
        if not ch.is_member:
            raise SlackError("not_in_channel")
        return ch

    def _history(self, args: dict) -> dict:
        ch = self._visible(args)
        top = [dict(m) for m in ch.messages if m.get("thread_ts") in (None, m["ts"])]
        limit = int(args.get("limit") or 100)
        newest_first = list(reversed(top))
        return {"messages": newest_first[:limit], "has_more": len(newest_first) > limit,
                "response_metadata": {"next_cursor": ""}}

    def _replies(self, args: dict) -> dict:
        ch = self._visible(args)
        parent = self._find(ch, args.get("ts"))
        root = parent.get("thread_ts", parent["ts"])
        msgs = [dict(m) for m in ch.messages if m["ts"] == root or m.get("thread_ts") == root]
        limit = int(args.get("limit") or 1000)
        return {"messages": msgs[:limit], "has_more": len(msgs) > limit, "response_metadata": {"next_cursor": ""}}

    def _user_info(self, args: dict) -> dict:
        uid = str(args.get("user") or "")
        user = self._users.get(uid)
        if user is None:
            if not _ID_LIKE.match(uid) or uid[0] not in "UW":
                raise SlackError("user_not_found")
            name = f"user-{uid.lower()}"
            user = {"id": uid, "team_id": self.team_id, "name": name, "deleted": False, "real_name": name,
                    "tz": "Etc/UTC", "is_bot": False, "is_admin": False,
                    "profile": {"real_name": name, "display_name": name, "email": f"{name}@example.com"}}
        return {"user": user}

    def _usergroup_users(self, args: dict) -> dict:
        group = self._usergroups.get(str(args.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    def _views_open(self, args: dict) -> dict:
        if not args.get("trigger_id"):
            raise SlackError("invalid_arguments")
        view = _json_value(args.get("view"))
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home") or \
                (view.get("type") == "modal" and not view.get("title")):
            raise SlackError("invalid_arguments")
        opened = {**view, "id": _new_id("V"), "team_id": self.team_id, "app_id": self.app_id,
                  "bot_id": self.bot_id, "state": {"values": {}}, "hash": secrets.token_hex(8),
                  "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
                  "trigger_id": args["trigger_id"]}
        self.views.append(opened)
        return {"view": opened}

    def _get_upload_url(self, args: dict) -> dict:
        filename, length = args.get("filename"), args.get("length")
        try:
            size = int(length)
        except (TypeError, ValueError):
            size = -1
        if not filename or size < 0:
            raise SlackError("invalid_arguments")
        fid = _new_id("F")
        self.uploads[fid] = Upload(fid, str(filename), size, args.get("alt_txt"))
        return {"upload_url": f"{self.root}upload/v1/{fid}", "file_id": fid}

    def _complete_upload(self, args: dict) -> dict:
        items = _json_value(args.get("files"))
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments")
        ups: list[tuple[Upload, dict]] = []
        for item in items:
            up = self.uploads.get(str(item.get("id"))) if isinstance(item, dict) else None
            if up is None or up.data is None or up.completed:
                raise SlackError("file_not_found")
            ups.append((up, item))
        channel_id = args.get("channel_id") or (str(args["channels"]).split(",")[0] if args.get("channels") else None)
        thread_ts = args.get("thread_ts") or None
        ch = self._postable({"channel": channel_id}) if channel_id else None
        if thread_ts and ch is None:
            raise SlackError("invalid_arguments")
        ts = self._next_ts() if ch else None
        now = int(time.time())
        files = []
        for up, item in ups:
            up.title = item.get("title") or up.filename
            up.channel, up.thread_ts, up.initial_comment, up.completed = channel_id, thread_ts, \
                args.get("initial_comment"), True
            mimetype = mimetypes.guess_type(up.filename)[0] or "application/octet-stream"
            f = {"id": up.file_id, "created": now, "timestamp": now, "name": up.filename, "title": up.title,
                 "mimetype": mimetype, "filetype": up.filename.rsplit(".", 1)[-1].lower() if "." in up.filename
                 else "binary", "user": self.bot_user_id, "size": len(up.data or b""), "mode": "hosted",
                 "is_external": False, "is_public": bool(ch and not ch.is_private),
                 "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{up.file_id}/{up.filename}",
                 "permalink": f"https://{self.domain}.slack.com/files/{self.bot_user_id}/{up.file_id}/{up.filename}",
                 "channels": [], "groups": [], "ims": [], "shares": {}}
            if up.alt_txt:
                f["alt_txt"] = up.alt_txt
            if ch is not None:
                f["groups" if ch.is_private else "channels"].append(ch.id)
                share = {"ts": ts, "channel_name": ch.name, "team_id": self.team_id}
                if thread_ts:
                    share["thread_ts"] = thread_ts
                f["shares"] = {"private" if ch.is_private else "public": {ch.id: [share]}}
            files.append(f)
        if ch is not None:
            msg = {"type": "message", "text": args.get("initial_comment") or "", "user": self.bot_user_id,
                   "bot_id": self.bot_id, "team": self.team_id, "ts": ts, "upload": True,
                   "files": [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in files]}
            self._append(ch, msg, thread_ts)
        return {"files": files}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake Slack Web API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", help=f"accepted bot token (default {DEFAULT_TOKEN})")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every response")
    opts = parser.parse_args(argv)
    fake = FakeSlack(tuple(opts.token) if opts.token else DEFAULT_TOKEN, latency=opts.latency)
    print(fake.start(opts.host, opts.port), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
