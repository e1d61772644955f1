"""Start-up stays light (issue 15): `chatops --help` and `chatops serve` up to its built aiohttp app
import none of the heavy SDKs; each loads where it is first needed (the knowledge base, the engines,
the Teams adapter, the remediation executor, MCP, the job engine on PostgreSQL). Not a timing test:
a fresh child process runs the same code paths and reports its sys.modules. bench/startup.py has
the times.

What serve builds later is checked too: a session started before the warm-up still gets a working
search_knowledge (it waits for the knowledge base), the executor is built once, and a real
`chatops serve` answers /readyz, then logs its warm-up with the knowledge base open.
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from bot.deferred import DeferredExecutor
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.support import free_port, process_env

HEAVY = ("anthropic", "openai", "llama_index", "chromadb", "matplotlib", "kubernetes", "botbuilder", "mcp",
         "procrastinate", "opensearchpy", "prometheus_api_client")
# `chatops --help` builds the parser only: not even the settings, the ORM or the migrations.
HELP_HEAVY = (*HEAVY, "pydantic", "pydantic_settings", "sqlalchemy", "alembic", "aiohttp", "slack_bolt")

CHILD = f"""
import asyncio, json, sys
HEAVY = {HELP_HEAVY!r}

def loaded():
    return sorted({{m.partition(".")[0] for m in sys.modules}} & set(HEAVY))

from bot.cli import build_parser
build_parser().format_help()
report = {{"help": loaded()}}

# cmd_serve's steps up to the aiohttp app, without listening
from bot.cli_util import ensure_schema
from bot.commands.serve_cmd import build_server
from bot.context import get_engine
from bot.server import check_settings
from bot.settings import get_settings

settings = get_settings()
check_settings(settings)
ensure_schema(get_engine())
app, workflow, runtime = asyncio.run(build_server(settings))
report["serve"] = loaded()
report["routes"] = sorted({{r.resource.canonical for r in app.router.routes()}})
print(json.dumps(report))
"""


def serve_env(tmp_path, **extra: str) -> dict[str, str]:
    return process_env(tmp_path, AGENT_ENGINE="offline", SLACK_BOT_TOKEN=DEFAULT_TOKEN,
                       SLACK_SIGNING_SECRET="startup-secret", **extra)


def test_help_and_serve_start_without_heavy_sdks(tmp_path):
    r = subprocess.run([sys.executable, "-c", CHILD], env=serve_env(tmp_path, LOG_LEVEL="WARNING"), cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["help"] == [], f"`chatops --help` imports {report['help']}"
    assert [m for m in report["serve"] if m in HEAVY] == [], f"serve imports {report['serve']} before listening"
    assert {"/healthz", "/readyz", "/slack/events", "/alertmanager"} <= set(report["routes"])


def test_a_session_before_the_warm_up_waits_for_the_knowledge_base(tmp_path, monkeypatch):
    from bot.console.wiring import settings_runtime
    from bot.settings import Settings

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    runtime = settings_runtime(Settings(data_dir=tmp_path / "data", _env_file=None), defer=True)
    try:
        assert runtime.knowledge is None and not runtime.opening.done and not runtime.executor.deferred.done
        sources = runtime.provider.build()  # what the workflow does (in a thread) for each session
        assert runtime.opening.done and "search_knowledge" in sources.registry.names()
        result = asyncio.run(sources.registry.run("search_knowledge", {"query": "OOMKilled container memory limit"}))
        assert result.status == "ok" and result.data, result
        assert runtime.finish_opening() is runtime.opening.get()[2] is not None  # the same, opened once
        assert runtime.notes[0].startswith("knowledge: runbooks and past incidents")
        assert "remediation: no Kubernetes API" in runtime.notes[1]  # building the executor found no cluster
        sources.close()
    finally:
        runtime.close()


def test_deferred_executor_is_built_once_and_only_when_used():
    built = []

    class Api:
        closed = 0

        def close(self) -> None:
            Api.closed += 1

    def build():  # noqa: ANN202
        time.sleep(0.05)  # long enough for the other threads to arrive while it is being built
        built.append(1)
        return type("Executor", (), {"api": Api(), "validate": lambda self, req: f"checked {req}"})()

    unused = DeferredExecutor(build)
    unused.close()
    assert built == [] and Api.closed == 0  # closing what was never built builds nothing

    executor = DeferredExecutor(build)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(executor.validate("req"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1] and answers == ["checked req"] * 4
    executor.close()
    assert Api.closed == 1


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, ConnectionError):
        return None


def test_serve_is_ready_then_warms_up_in_the_background(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with FakeSlack() as fake, open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=tmp_path,
                                env=serve_env(tmp_path, LOG_LEVEL="INFO", SLACK_API_URL=fake.url),
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while _status(f"http://127.0.0.1:{port}/readyz") != 200:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            while "warmed up" not in log.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(60)
    text = log.read_text()
    assert "knowledge: runbooks and past incidents from embedded Chroma" in text, text
    assert "warm-up after start failed" not in text and "Traceback" not in text, text
