"""MCP servers as tool sources (tools/mcp_source.py), against a loopback server on the official SDK.

The loopback server (tests/mcp_loopback_server.py) has a read-only tool that answers with a planted
Slack token and rows of two namespaces, and a write tool. The registry offers the first and refuses
the second (and `chatops config` lists the refusal); a scripted model on the loopback Messages API
calls both: the first answers masked and confined to the allowlist, the second is an unknown tool and
the server never sees the call. A server that is down makes its tools answer `error`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from agents.session import EngineSettings, run_diagnosis
from agents.trigger import Trigger
from tests.anthropic_support import VALID
from tests.deployment_support import wait_for
from tests.fake_anthropic import FakeAnthropic, submit, tool_use
from tests.mcp_loopback_server import PLANTED
from tests.support import REPO, free_port, run_chatops
from tools.base import ToolContext
from tools.mcp_source import RETRY_AFTER, RemoteTool, _distinct, hub, parse_servers, sort_tools
from tools.sources import SourceConfig, build_sources

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
SERVER = str(REPO / "tests" / "mcp_loopback_server.py")
READ, WRITE = "mcp_loopback_pod_status", "mcp_loopback_restart_pod"
TRIGGER = Trigger(kind="command", text="why is shop/cart restarting?", namespace="shop", service="cart")


@pytest.fixture(autouse=True)
def fresh_hub():
    yield
    hub().close()  # ends the sessions (the stdio servers exit); the next test connects anew


def _spec(calls_file, **more) -> str:  # noqa: ANN001, ANN003
    return json.dumps({"loopback": {"command": sys.executable, "args": [SERVER],
                                    "env": {"LOOPBACK_CALLS": str(calls_file)}}, **more})


def _sources(servers: str, allowlist: tuple[str, ...] = (), namespaces: tuple[str, ...] = ("shop",)):  # noqa: ANN202
    cfg = SourceConfig(kube_enabled=False, mcp_servers=parse_servers(servers), mcp_tool_allowlist=allowlist)
    return build_sources(cfg, ToolContext(timeout=30, namespace_allowlist=namespaces))


def _lines(path) -> list[dict]:  # noqa: ANN001
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _calls(path) -> list[dict]:  # noqa: ANN001
    return [c for c in _lines(path) if c["tool"] != "_start"]


def _starts(path) -> int:  # noqa: ANN001
    return sum(c["tool"] == "_start" for c in _lines(path))


def test_parse_servers_accepts_the_client_format_and_names_bad_entries():
    specs = parse_servers(json.dumps({"mcpServers": {"a": {"command": "x", "args": ["--y"], "env": {"K": "v"}},
                                                     "b": {"url": "https://mcp.example/mcp",
                                                           "headers": {"Authorization": "Bearer s3cr3t"}}}}))
    assert [(s.name, s.command, s.args, s.url) for s in specs] == [("a", "x", ("--y",), None),
                                                                  ("b", None, (), "https://mcp.example/mcp")]
    assert "s3cr3t" not in specs[1].where
    for bad, why in ((["x"], "expected an object"), ({"a b": {"command": "x"}}, "server name"),
                     ({"a": {"command": "x", "url": "http://h"}}, "either a command"),
                     ({"a": {"url": "ftp://h"}}, "url must be"), ({"a": {"command": "x", "args": "y"}}, "args"),
                     ({"a": {"command": "x", "cwd": "/"}}, "unknown keys")):
        with pytest.raises(ValueError, match=why):
            parse_servers(json.dumps(bad))


async def test_the_model_gets_the_read_only_tool_masked_and_is_refused_the_write_tool(tmp_path):
    calls_file = tmp_path / "calls.jsonl"
    sources = _sources(_spec(calls_file))
    assert READ in sources.registry.names() and WRITE not in sources.registry.names()
    assert not any(k.startswith("mcp:") for k in sources.unavailable)

    turn = tool_use((READ, {"namespace": "shop"}), (WRITE, {"namespace": "shop", "name": "cart-7d9f8c6b5-x2kqz"}))
    settings = EngineSettings(engine="anthropic", api_key="sk-ant-api03-test", max_steps=4)
    async with FakeAnthropic([turn, submit(VALID)]) as fake:
        settings.base_url = fake.base_url
        result = await run_diagnosis(TRIGGER, sources.registry, sources.unavailable, settings)
    assert result.engine == "anthropic"
    offered = {t["name"] for t in fake.requests[0].body["tools"]}
    assert READ in offered and WRITE not in offered
    answers = fake.requests[1].tool_results()
    read = answers[turn["content"][0]["id"]]["content"]
    write = answers[turn["content"][1]["id"]]["content"]
    assert '"status":"ok"' in read and "CrashLoopBackOff" in read
    assert "[REDACTED" in read and PLANTED not in read and PLANTED[5:17] not in read
    assert "payments" not in read  # a row of another namespace is dropped
    assert f"tool '{WRITE}' is not available in this session" in write  # the engine refuses unoffered tools
    assert all(PLANTED not in body for body in fake.bodies)
    direct = await sources.registry.run(WRITE, {"namespace": "shop", "name": "cart-7d9f8c6b5-x2kqz"})
    assert direct.status == "error" and "unknown tool" in direct.error  # and the registry does not know it
    assert [c["tool"] for c in _calls(calls_file)] == ["pod_status"]  # the write tool was never reached


async def test_allowlisted_tool_is_offered_and_the_namespace_allowlist_is_checked_first(tmp_path):
    calls_file = tmp_path / "calls.jsonl"
    sources = _sources(_spec(calls_file), allowlist=("loopback:restart_pod",))
    assert {READ, WRITE} <= set(sources.registry.names())
    refused = await sources.registry.run(READ, {"namespace": "prod"})
    missing = await sources.registry.run(READ, {})
    assert refused.status == "error" and "not in the allowlist" in refused.error
    assert missing.status == "error" and "namespace is required" in missing.error
    done = await sources.registry.run(WRITE, {"namespace": "shop", "name": "cart-1"})
    assert done.status == "ok" and "restarted shop/cart-1" in json.dumps(done.data)
    assert _calls(calls_file) == [{"tool": "restart_pod", "args": {"namespace": "shop", "name": "cart-1"}}]


async def test_one_session_per_server_serves_every_registry_build_and_call(tmp_path):
    calls_file = tmp_path / "calls.jsonl"
    with ThreadPoolExecutor(4) as pool:  # registries are built in worker threads, here four at once
        built = list(pool.map(lambda _: _sources(_spec(calls_file)), range(4)))
    results = [await s.registry.run(READ, {"namespace": "shop"}) for s in built]
    assert all(r.status == "ok" for r in results)
    assert _starts(calls_file) == 1 and len(_calls(calls_file)) == 4
    hub().close()
    assert _sources(_spec(calls_file)).registry.names() == built[0].registry.names()
    assert _starts(calls_file) == 2  # closed, then opened anew


def test_tools_are_offered_by_readonly_hint_or_allowlist_under_distinct_names():
    def listed(name: str, hint: bool | None) -> SimpleNamespace:
        return SimpleNamespace(name=name, description="d", input_schema={"type": "object"},
                               annotations=SimpleNamespace(read_only_hint=hint))

    spec = parse_servers(json.dumps({"s": {"command": "x"}}))[0]
    inv = sort_tools(spec, [listed("a.b", True), listed("a_b", True), listed("w", False), listed("n", None),
                            listed("ok", None)], ("s:ok",))
    [inv] = _distinct([inv])
    assert [t.local_name for t in inv.offered] == ["mcp_s_a_b", "mcp_s_ok"]
    assert {(r.tool, r.why.split(" (")[0].split(" by")[0]) for r in inv.refused} == {
        ("a_b", "its name mcp_s_a_b is taken"), ("w", "not marked read-only"), ("n", "not marked read-only")}
    assert len(RemoteTool("s", "x" * 200).local_name) == 64


def test_chatops_config_lists_refused_tools_with_the_reason(tmp_path):
    out = run_chatops(tmp_path, "config", MCP_SERVERS=_spec(tmp_path / "calls.jsonl"),
                      MCP_TOOL_ALLOWLIST="")
    assert out.returncode == 0, out.stderr
    section = out.stdout.split("MCP tool sources (MCP_SERVERS):", 1)[1]
    assert "loopback (stdio:" in section and "connected" in section
    assert f"offered {READ}" in section
    assert "refused restart_pod: not marked read-only by its server (readOnlyHint) and not in MCP_TOOL_ALLOWLIST" \
        in section
    assert "MCP_SERVERS" in out.stdout.split("MCP tool sources")[0] and "**********" in out.stdout


def test_bad_mcp_servers_setting_is_a_one_line_usage_error(tmp_path):
    out = run_chatops(tmp_path, "config", MCP_SERVERS='{"a": {"url": "ftp://x"}}')
    assert out.returncode == 2 and "MCP_SERVERS" in out.stderr and "Traceback" not in out.stderr


async def test_a_server_down_at_build_or_at_call_time_makes_its_tools_answer_error(tmp_path):
    dead = json.dumps({"dead": {"url": f"http://127.0.0.1:{free_port()}/mcp"}})
    sources = _sources(dead, allowlist=("dead:pod_status",))
    assert sources.unavailable["mcp:dead"].startswith("MCP server dead (http://127.0.0.1:")
    down = await sources.registry.run("mcp_dead_pod_status", {"namespace": "shop"})
    assert down.status == "error" and "MCP server dead" in down.error

    port = free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "LOOPBACK_CALLS": str(tmp_path / "c.jsonl")})
    try:
        live = json.dumps({"web": {"url": f"http://127.0.0.1:{port}/mcp"}})

        def listed() -> bool:
            hub().close()  # forget the failed attempt (no RETRY_AFTER wait) until the server is up
            return "mcp_web_pod_status" in _sources(live).registry.names()
        wait_for(listed, 60)
        sources = _sources(live)
        ok = await sources.registry.run("mcp_web_pod_status", {"namespace": "shop"})
        assert ok.status == "ok"
    finally:
        proc.terminate()
        proc.wait(10)
    gone = await sources.registry.run("mcp_web_pod_status", {"namespace": "shop"})
    assert gone.status == "error" and "MCP server web" in gone.error
    again = _sources(live)  # within RETRY_AFTER: not retried, still offered, listed as unavailable
    assert RETRY_AFTER > 5 and "mcp:web" in again.unavailable and "mcp_web_pod_status" in again.registry.names()
