"""Who is calling the MCP server, and what they may do.

Over HTTP each client has its own bearer token; the settings hold only its SHA-256
(MCP_CLIENTS=name:scope:sha256,...), compared in constant time, so the configuration never holds a
usable token. Over stdio the client is a process a person started on this machine (local trust):
its identity is mcp:stdio:<OS user>, its scope MCP_STDIO_SCOPE.
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Iterable

from bot.remediation.policy import Identity

READ, PROPOSE = "read", "propose"
SCOPES = {"read": frozenset({READ}), "read+propose": frozenset({READ, PROPOSE})}
PLATFORM = "mcp"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class McpClient:
    name: str
    transport: str  # stdio | http
    scopes: frozenset[str]

    @property
    def identity(self) -> Identity:
        """As requester of a proposal and actor of audit rows: mcp:<transport>:<name>. No approver
        list names `mcp:` identities, so this identity can never approve, even by a bug elsewhere."""
        return Identity(PLATFORM, f"{self.transport}:{self.name}", display=f"MCP client {self.name}")

    @property
    def key(self) -> str:
        return self.identity.key

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def scope_name(self) -> str:
        return "read+propose" if PROPOSE in self.scopes else "read"


@dataclass(frozen=True)
class ClientEntry:
    name: str
    scope: str
    digest: str


def parse_clients(entries: Iterable[str]) -> list[ClientEntry]:
    """MCP_CLIENTS entries; raises ValueError naming the bad one (never echoing a whole entry)."""
    out, names = [], set()
    for n, item in enumerate(entries, 1):
        name, scope, digest = (item.split(":") + ["", ""])[:3] if item.count(":") == 2 else ("", "", "")
        if not _NAME.match(name):
            raise ValueError(f"entry {n} is not name:scope:sha256 (name: letters, digits, _ . @ -)")
        if scope not in SCOPES:
            raise ValueError(f"client {name}: scope must be read or read+propose, not {scope!r}")
        if not _SHA256.match(digest.lower()):
            raise ValueError(f"client {name}: the third part must be the token's SHA-256 in hex (64 characters), "
                             "not the token itself")
        if name in names:
            raise ValueError(f"client {name} is listed twice")
        names.add(name)
        out.append(ClientEntry(name, scope, digest.lower()))
    return out


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenVerifier:
    """The SDK's TokenVerifier: a bearer token -> the client it belongs to, or None (401)."""

    def __init__(self, entries: list[ClientEntry]):
        self.entries = entries

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken

        digest = token_digest(token)
        match = None
        for e in self.entries:  # every entry is compared, so the time does not say which one matched
            if hmac.compare_digest(digest, e.digest):
                match = e
        if match is None:
            return None
        # The raw token stays out of the object the SDK keeps around for the session.
        return AccessToken(token=match.digest[:12], client_id=match.name, scopes=sorted(SCOPES[match.scope]))


def stdio_client(scope: str) -> McpClient:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        user = "local"
    return McpClient(user if _NAME.match(user) else "local", "stdio", SCOPES[scope])


def http_client(request: Any) -> McpClient | None:
    """The authenticated client of one HTTP request (set by the SDK's bearer middleware)."""
    user = getattr(request, "scope", {}).get("user") if request is not None else None
    token = getattr(user, "access_token", None)
    if token is None:
        return None
    return McpClient(token.client_id, "http", frozenset(token.scopes))
