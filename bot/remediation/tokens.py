"""HMAC-signed approval tokens, and the signing key every process must agree on.

A button carries (proposal id, token). The token is HMAC-SHA256 over the proposal id, the exact
action (type, namespace, target, canonical parameters), its expiry and a per-proposal random
nonce, so a token is valid for exactly one proposal as stored and cannot be forged without the
key. Verification always recomputes from the stored row, never from what the client sent.

Key: ACTION_SIGNING_SECRET, or a key generated once into DATA_DIR/action_signing.key (0600).
Processes sharing that data dir agree; processes on different hosts do not, so multi-host
deployments must set ACTION_SIGNING_SECRET.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

KEY_FILE = "action_signing.key"
VERSION = "v1"


def new_nonce() -> str:
    return secrets.token_hex(16)


def _epoch(ts: datetime | None) -> int:
    if ts is None:
        return 0
    if ts.tzinfo is None:  # SQLite returns naive UTC
        ts = ts.replace(tzinfo=timezone.utc)
    return int(ts.timestamp())


def message(proposal_id: str, action_type: str, namespace: str | None, target: str, parameters: dict[str, Any],
            expires_at: datetime | None, nonce: str) -> bytes:
    params = json.dumps(parameters or {}, sort_keys=True, separators=(",", ":"), default=str)
    return "\n".join([VERSION, proposal_id, action_type, namespace or "", target, params,
                      str(_epoch(expires_at)), nonce]).encode()


class Signer:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("action signing key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return "Signer(<key>)"

    def sign_fields(self, **fields: Any) -> str:
        mac = hmac.new(self._key, message(**fields), hashlib.sha256).digest()
        return VERSION + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, row) -> str:  # noqa: ANN001 (RemediationProposal)
        return self.sign_fields(proposal_id=row.id, action_type=row.action_type, namespace=row.namespace,
                                target=row.target, parameters=row.parameters, expires_at=row.expires_at,
                                nonce=row.nonce or "")

    def verify(self, row, token: str | None) -> bool:  # noqa: ANN001
        if not token or not isinstance(token, str) or not row.nonce:
            return False
        return hmac.compare_digest(self.sign(row).encode(), token.strip().encode())

    def sign_for(self, purpose: str, *parts: str) -> str:
        """A token for another kind of button (e.g. "feedback" over a diagnosis id). The signed text
        starts with the purpose and the token with `<purpose>.`, so it can never equal an approval
        token (whose text starts with VERSION) nor one of another purpose, and vice versa."""
        text = "\n".join([f"purpose:{purpose}", *parts]).encode()
        mac = hmac.new(self._key, text, hashlib.sha256).digest()
        return f"{purpose}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def verify_for(self, purpose: str, token: str | None, *parts: str) -> bool:
        if not token or not isinstance(token, str):
            return False
        return hmac.compare_digest(self.sign_for(purpose, *parts).encode(), token.strip().encode())


def load_or_create_key(data_dir: Path) -> bytes:
    """Read DATA_DIR/action_signing.key, creating it atomically (first writer wins) if absent."""
    data_dir = Path(data_dir)
    path = data_dir / KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # atomic and fails if another process got there first
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text().strip()
    if len(text) < 32:
        raise ValueError(f"{path} holds no usable signing key; delete it to generate a new one")
    return text.encode()


def signer_from_settings(s) -> Signer:  # noqa: ANN001 (bot.settings.Settings)
    if s.action_signing_secret is not None and s.action_signing_secret.get_secret_value().strip():
        return Signer(s.action_signing_secret.get_secret_value().strip().encode())
    return Signer(load_or_create_key(s.data_dir))
