"""Loopback fakes of everything a Teams bot talks to, for the real botbuilder SDK and MSAL.

- The Bot Connector REST API at a serviceUrl (`{url}`): POST /v3/conversations (a new channel
  thread), POST /v3/conversations/{id}/activities (send), POST .../activities/{activityId} (reply),
  PUT .../activities/{activityId} (update). Calls need a bearer token this fake's Entra issued for
  the Bot Connector scope (unless `require_auth=False`, the emulator mode); bodies over Teams'
  ~28 KB message limit are answered 413 like Teams does.
- Entra ID (HTTPS, as MSAL requires, with a throwaway CA in `ca_path`): the tenant's OpenID
  configuration and the v2 token endpoint (client credentials for the registered app secrets).
- The Bot Framework OpenID metadata and JWKS with a local RSA key (`openid_url`), and
  `token_for()` signing inbound Bot Framework JWTs with it (or with another key, issuer, audience,
  expiry, service URL: the failure cases).
- Microsoft Graph `POST /v1.0/users/{id}/checkMemberGroups` over configured memberships.
- An App Service managed-identity endpoint (`msi_url`, header X-IDENTITY-HEADER).

It runs in its own thread and event loop: the SDK fetches metadata and tokens with synchronous
`requests` from the caller's loop. Every request is recorded (`calls()`), and the activities the
bot posted, replied and updated are kept per conversation for assertions.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

from tests.loop_thread import ServerThread

BOT_ISSUER = "https://api.botframework.com"
CONNECTOR_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MAX_ACTIVITY = 28 * 1024  # Teams refuses bigger bot messages with 413 (RequestEntityTooLarge)
KID = "fake-bf-key"


@dataclass
class Call:
    kind: str  # connector.create | connector.send | connector.reply | connector.update | token | graph | openid | msi
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    at: float = 0.0
    size: int = 0


@dataclass
class Posted:
    """One activity the bot posted: where, its current body, and every body it had."""
    id: str
    conversation: str  # the conversation id it was posted to
    channel: str  # the conversation id without ";messageid=…"
    root: str  # the thread's root activity id (its own id for a root)
    reply_to: str | None
    activity: dict
    history: list[dict] = field(default_factory=list)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it; returns (CA file, server context)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-teams test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ca_path, ctx


class FakeTeams:
    def __init__(self, apps: dict[str, str] | None = None, *, require_auth: bool = True):
        self.apps = dict(apps or {})  # app id -> client secret Entra accepts
        self.require_auth = require_auth
        self.memberships: dict[str, set[str]] = {}  # AAD object id -> group ids (Graph)
        self.msi_header = secrets.token_hex(8)
        self.key = _key()
        self._dir = tempfile.TemporaryDirectory(prefix="fake-teams-")
        self.ca_path, self._ssl = _tls(Path(self._dir.name))
        self._tokens: dict[str, tuple[str, str]] = {}  # access token -> (scope, tenant)
        self._calls: list[Call] = []
        self._posted: dict[str, Posted] = {}
        self._order: list[str] = []
        self._failures: dict[str, list[int]] = {}
        self._next = 1_767_000_000_000
        self._lock = threading.Lock()
        self._server = ServerThread("fake-teams")
        self.url = self.https = ""

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeTeams":
        self._server.start(self._serve)
        return self

    async def _serve(self) -> web.AppRunner:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/openid/.well-known/openidconfiguration", self._openid)
        app.router.add_get("/openid/keys", self._jwks)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._entra_config)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/v1.0/users/{user}/checkMemberGroups", self._check_groups)
        app.router.add_get("/msi/token", self._msi)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl).start()
        ports = [a[1] for a in runner.addresses]
        self.url, self.https = f"http://127.0.0.1:{ports[0]}/", f"https://127.0.0.1:{ports[1]}"
        return runner

    def stop(self) -> None:
        self._server.stop()
        self._dir.cleanup()

    def __enter__(self) -> "FakeTeams":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- what the bot is configured with -------------------------------------------------------
    @property
    def openid_url(self) -> str:
        return f"{self.url}openid/.well-known/openidconfiguration"

    @property
    def login_url(self) -> str:
        return self.https

    @property
    def graph_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def msi_url(self) -> str:
        return f"{self.url}msi/token"

    def token_for(self, app_id: str, service_url: str | None = None, *, issuer: str = BOT_ISSUER,
                  expires_in: float = 3600, key: rsa.RSAPrivateKey | None = None, kid: str = KID,
                  **claims: Any) -> str:
        """A Bot Framework channel token, as Teams sends it in `Authorization: Bearer …`."""
        now = int(time.time())
        body = {"iss": issuer, "aud": app_id, "nbf": now - 60, "iat": now - 60, "exp": int(now + expires_in),
                **({"serviceurl": service_url} if service_url is not None else {}), **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid})

    def fail(self, kind: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests of `kind` (see Call.kind) with `status`."""
        with self._lock:
            self._failures.setdefault(kind, []).extend([status] * times)

    # ---- inspection ----------------------------------------------------------------------------
    def calls(self, kind: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if kind is None or c.kind == kind or c.kind.startswith(f"{kind}.")]

    def posted(self, channel: str | None = None) -> list[Posted]:
        """Activities the bot posted (roots and replies), in order."""
        with self._lock:
            rows = [self._posted[i] for i in self._order]
        return [p for p in rows if channel is None or p.channel == channel]

    def thread(self, channel: str, root: str) -> list[Posted]:
        return [p for p in self.posted(channel) if p.root == root]

    def activity(self, activity_id: str) -> Posted:
        with self._lock:
            return self._posted[activity_id]

    # ---- plumbing ------------------------------------------------------------------------------
    async def _record(self, request: web.Request, kind: str) -> Call:
        raw = await request.read()
        if request.content_type == "application/x-www-form-urlencoded":
            body: Any = dict(parse_qsl(raw.decode()))
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
        return Call(kind, request.method, request.path, dict(request.headers), body, at=time.time(), size=len(raw))

    def _answer(self, call: Call, status: int, payload: Any) -> web.Response:
        call.status = status
        with self._lock:
            self._calls.append(call)
        return web.json_response(payload, status=status)

    def _failure(self, kind: str) -> int | None:
        with self._lock:
            queue = self._failures.get(kind)
            return queue.pop(0) if queue else None

    def _authorized(self, call: Call, scope: str) -> bool:
        token = call.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            issued = self._tokens.get(token)
        return issued is not None and issued[0] == scope

    async def _connector(self, request: web.Request, kind: str) -> tuple[Call, web.Response | None]:
        call = await self._record(request, f"connector.{kind}")
        failure = self._failure(call.kind)
        if failure is not None:
            return call, self._answer(call, failure, {"error": {"code": "ServiceError", "message": "injected"}})
        if self.require_auth and not self._authorized(call, CONNECTOR_SCOPE):
            return call, self._answer(call, 401, {"message": "Authorization has been denied for this request."})
        if call.size > MAX_ACTIVITY:
            return call, self._answer(call, 413, {"error": {"code": "MessageSizeTooBig",
                                                            "message": "Message size too large"}})
        return call, None

    def _new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def _store(self, cid: str, activity: dict, reply_to: str | None = None, root: str | None = None) -> Posted:
        channel, _, thread = cid.partition(";messageid=")
        with self._lock:
            aid = self._new_id()
            posted = Posted(aid, cid, channel, root or thread or aid, reply_to, activity, [activity])
            self._posted[aid] = posted
            self._order.append(aid)
        return posted

    async def _create(self, request: web.Request) -> web.Response:
        call, refused = await self._connector(request, "create")
        if refused:
            return refused
        body = call.body or {}
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        if not body.get("isGroup") or not channel or not isinstance(body.get("activity"), dict):
            return self._answer(call, 400, {"error": {"code": "BadArgument", "message": "not a channel thread"}})
        posted = self._store(channel, body["activity"])
        posted.conversation = f"{channel};messageid={posted.id}"
        return self._answer(call, 201, {"id": posted.conversation, "activityId": posted.id})

    async def _send(self, request: web.Request) -> web.Response:
        """Send to a conversation, or (with an activity id in the path) reply to that activity."""
        aid = request.match_info.get("aid")
        call, refused = await self._connector(request, "reply" if aid else "send")
        if refused:
            return refused
        with self._lock:
            parent = self._posted.get(aid) if aid else None
        root = (parent.root if parent else aid) if aid else None
        posted = self._store(request.match_info["cid"], call.body, reply_to=aid, root=root)
        return self._answer(call, 201, {"id": posted.id})

    async def _update(self, request: web.Request) -> web.Response:
        call, refused = await self._connector(request, "update")
        if refused:
            return refused
        cid, aid = request.match_info["cid"], request.match_info["aid"]
        with self._lock:
            posted = self._posted.get(aid)
            if posted is not None and posted.channel == cid.partition(";messageid=")[0]:
                posted.activity = call.body
                posted.history.append(call.body)
                found = True
            else:
                found = False
        if not found:
            return self._answer(call, 404, {"error": {"code": "NotFound", "message": "activity not found"}})
        return self._answer(call, 200, {"id": aid})

    async def _openid(self, request: web.Request) -> web.Response:
        call = await self._record(request, "openid")
        return self._answer(call, 200, {"issuer": BOT_ISSUER, "jwks_uri": f"{self.url}openid/keys",
                                        "id_token_signing_alg_values_supported": ["RS256"]})

    async def _jwks(self, request: web.Request) -> web.Response:
        call = await self._record(request, "openid")
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return self._answer(call, 200, {"keys": [{**jwk, "kid": KID, "use": "sig", "endorsements": ["msteams"]}]})

    async def _entra_config(self, request: web.Request) -> web.Response:
        call = await self._record(request, "token")
        base = f"{self.https}/{request.match_info['tenant']}"
        return self._answer(call, 200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                                        "token_endpoint_auth_methods_supported": ["client_secret_post"]})

    def _issue(self, scope: str, tenant: str) -> str:
        token = f"fake-at-{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = (scope, tenant)
        return token

    async def _token(self, request: web.Request) -> web.Response:
        call = await self._record(request, "token")
        form = call.body if isinstance(call.body, dict) else {}
        failure = self._failure("token")
        if failure is not None:
            return self._answer(call, failure, {"error": "temporarily_unavailable"})
        if form.get("grant_type") != "client_credentials" or self.apps.get(form.get("client_id", "")) is None \
                or self.apps[form["client_id"]] != form.get("client_secret"):
            return self._answer(call, 401, {"error": "invalid_client",
                                            "error_description": "AADSTS7000215: Invalid client secret provided."})
        scope = form.get("scope", "").split(" ")[0]
        return self._answer(call, 200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                        "access_token": self._issue(scope, request.match_info["tenant"])})

    async def _msi(self, request: web.Request) -> web.Response:
        call = await self._record(request, "msi")
        if request.headers.get("X-IDENTITY-HEADER") != self.msi_header \
                or request.query.get("client_id") not in self.apps:
            return self._answer(call, 400, {"error": "invalid_request"})
        scope = request.query.get("resource", "").rstrip("/") + "/.default"
        return self._answer(call, 200, {"access_token": self._issue(scope, "msi"), "token_type": "Bearer",
                                        "expires_on": str(int(time.time()) + 3600),
                                        "resource": request.query.get("resource")})

    async def _check_groups(self, request: web.Request) -> web.Response:
        call = await self._record(request, "graph")
        failure = self._failure("graph")
        if failure is not None:
            return self._answer(call, failure, {"error": {"code": "serviceNotAvailable", "message": "injected"}})
        if not self._authorized(call, GRAPH_SCOPE):
            return self._answer(call, 401, {"error": {"code": "InvalidAuthenticationToken", "message": "no token"}})
        asked = (call.body or {}).get("groupIds") or []
        mine = self.memberships.get(request.match_info["user"], set())
        return self._answer(call, 200, {"value": [g for g in asked if g in mine]})
