"""MCP client identities: MCP_CLIENTS holds token hashes, tokens map to clients in constant time."""
from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from bot.mcp.clients import TokenVerifier, parse_clients
from bot.settings import Settings
from tests.support import run_chatops

TOKEN = "mcp-token-" + "Zr4Tq" * 6


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_a_token_maps_to_its_client_and_scope_and_nothing_else_does():
    verifier = TokenVerifier(parse_clients([f"ops:read+propose:{_digest(TOKEN)}", f"viewer:read:{_digest('other')}"]))
    ops = await verifier.verify_token(TOKEN)
    assert ops.client_id == "ops" and ops.scopes == ["propose", "read"]
    assert TOKEN not in ops.model_dump_json()  # the session keeps no usable token
    assert (await verifier.verify_token("other")).scopes == ["read"]
    for wrong in ("", TOKEN[:-1], _digest(TOKEN), TOKEN.upper()):
        assert await verifier.verify_token(wrong) is None


@pytest.mark.parametrize("entry, why", [
    (f"ops:admin:{_digest(TOKEN)}", "scope must be read or read\\+propose"),
    (f"ops:read:{TOKEN}", "SHA-256 in hex"),
    ("ops:read", "is not name:scope:sha256"),
    (f"op s:read:{_digest(TOKEN)}", "is not name:scope:sha256"),
])
def test_bad_mcp_clients_are_refused_naming_the_problem(entry, why):
    with pytest.raises(ValidationError, match=why):
        Settings(mcp_clients=entry, _env_file=None)


def test_a_raw_token_in_mcp_clients_is_a_usage_error_that_does_not_echo_it(tmp_path):
    out = run_chatops(tmp_path, "config", MCP_CLIENTS=f"ops:read:{TOKEN}")
    assert out.returncode == 2 and "MCP_CLIENTS" in out.stderr and "SHA-256" in out.stderr
    assert TOKEN not in out.stderr + out.stdout


def test_a_client_listed_twice_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        parse_clients([f"ops:read:{_digest('a')}", f"ops:read+propose:{_digest('b')}"])


def test_mcp_http_without_clients_or_stdio_with_a_port_is_a_usage_error(tmp_path):
    out = run_chatops(tmp_path, "mcp", "--http")
    assert out.returncode == 2 and "needs MCP_CLIENTS" in out.stderr
    out = run_chatops(tmp_path, "mcp", "--port", "3999")
    assert out.returncode == 2 and "--host and --port go with --http" in out.stderr
