"""Small incident bundles built in a test with the handmade set's builder (scenarios/_handmade/kit.py),
replayed through the production tools (loopback Kubernetes and OpenSearch fakes) and diagnosed by the
offline engine through the whole session (scope resolution, coordinator)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from agents.session import EngineSettings, SessionResult, run_diagnosis
from bench.diagnose_eval import trigger_for
from tests.support import REPO
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario


def kit() -> Any:
    """The builder module (not a package: it is loaded from its file, once)."""
    if "kit" not in sys.modules:
        spec = importlib.util.spec_from_file_location("kit", REPO / "scenarios" / "_handmade" / "kit.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["kit"] = module
        spec.loader.exec_module(module)
    return sys.modules["kit"]


async def diagnose(bundle: Any, tmp: Path, drop: tuple[str, ...] = ("prometheus",)) -> SessionResult:
    """Write the bundle and diagnose it the way the bot would, with these sources absent."""
    path = bundle.write(tmp)
    return await diagnose_path(path, drop)


async def diagnose_path(path: Path, drop: tuple[str, ...] = ("prometheus",)) -> SessionResult:
    sc = load_scenario(path)
    with ScenarioBackends(sc, use_prometheus="prometheus" not in drop) as backends:
        for src in drop:
            backends.config.absent[src] = f"{src} left out of this test"
        sources = backends.sources()
        try:
            return await run_diagnosis(trigger_for(sc), sources.registry, sources.unavailable,
                                       settings=EngineSettings(engine="offline"))
        finally:
            sources.close()


def calls(res: SessionResult, tool: str) -> list[dict]:
    return [c.arguments for c in res.trace.calls if c.tool == tool]
