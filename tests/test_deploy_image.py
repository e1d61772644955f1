"""deploy/Dockerfile. No Docker engine runs here, so the image itself is never built in tests;
instead the Dockerfile is checked as text (multi-stage, non-root, no compiler at runtime, chatops
as the entry point) and its Python layer is built the way the Dockerfile builds it: the same COPY
sources into a clean directory, the same `pip install` (no extras) into a clean venv, then
`chatops --help` and `chatops db upgrade` from that venv, on SQLite and on PostgreSQL, with every
module of the installed packages importable without the test extra."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
VENV, SRC = "/opt/venv", "/src"
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cc)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, arguments)


def stages(text: str) -> list[Stage]:
    """Dockerfile instructions by stage: continuation lines joined, comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        word, _, rest = line.strip().partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", rest.strip(), re.IGNORECASE)
            assert m, line
            out.append(Stage(m.group(1), m.group(2)))
        elif out:
            out[-1].steps.append((word, rest.strip()))
    return out


def args_of(stage: Stage, word: str) -> list[str]:
    return [rest for w, rest in stage.steps if w == word]


def test_dockerfile_is_multi_stage_non_root_and_compiler_free_at_runtime():
    build, runtime = stages(DOCKERFILE.read_text())[-2:]
    assert build.name == "build" and build.base == runtime.base  # the same Python in both stages
    assert any(COMPILERS.search(r) for r in args_of(build, "RUN")), "the build stage should have a compiler"
    for run in args_of(runtime, "RUN"):
        assert "apt-get install" not in run and "pip install" not in run and not COMPILERS.search(run), run
    assert args_of(runtime, "COPY") == [f"--from=build {VENV} {VENV}"]
    [user] = args_of(runtime, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    assert any(f"--uid {uid}" in r for r in args_of(runtime, "RUN"))
    assert args_of(runtime, "ENTRYPOINT") == ['["chatops"]']
    assert args_of(runtime, "CMD") == ['["serve"]']
    env = " ".join(args_of(runtime, "ENV"))
    assert f"PATH={VENV}/bin:" in env and "HOST=0.0.0.0" in env and "PORT=3000" in env


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = {ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")}
    assert {".git", ".env", ".venv", "data", "tests", "**/__pycache__"} <= ignored
    build = stages(DOCKERFILE.read_text())[-2]
    copied = {s for c in args_of(build, "COPY") for s in shlex.split(c)[:-1]}
    assert not copied & ignored  # nothing the build copies is excluded from the context


def install_command(build: Stage) -> list[str]:
    [pip] = [r for r in args_of(build, "RUN") if " install " in r and "/pip " in r]
    words = shlex.split(pip)
    assert words[0] == f"{VENV}/bin/pip" and words[-1] == SRC, words  # the sources as they are: no [extras]
    return words


def copy_sources(build: Stage, dest: Path) -> None:
    """What the build stage's COPY lines put in /src, copied from this checkout into dest."""
    for line in args_of(build, "COPY"):
        *sources, target = shlex.split(line)
        assert target.startswith(SRC), line
        rel = target[len(SRC):].strip("/")
        for source in sources:
            to = dest / rel / Path(source).name if target.endswith("/") else dest / rel
            path = REPO / source
            if path.is_dir():
                shutil.copytree(path, to, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, to)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No PYTHONPATH, no virtualenv, no bot settings: only what a container would have."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT",
                                       "PIP_CONFIG_FILE", "SSL_CERT_FILE") if k in os.environ}
    keep["PATH"] = os.pathsep.join(p for p in keep.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                   if not p.startswith(str(REPO)))
    return {**keep, "HOME": str(home), **extra}


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> Path:
    """The image's /opt/venv, built as deploy/Dockerfile builds it (slow: a full dependency install)."""
    root = tmp_path_factory.mktemp("image")
    build = stages(DOCKERFILE.read_text())[-2]
    src, venv = root / "src", root / "venv"
    copy_sources(build, src)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    command = [str(venv / "bin" / "pip") if w == f"{VENV}/bin/pip" else str(src) if w == SRC else w
               for w in install_command(build)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=clean_env(root), timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv


def chatops(venv: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "chatops"), *args], capture_output=True, text=True, cwd=cwd,
                          env=clean_env(cwd, **env), timeout=300)


@pytest.mark.slow
def test_image_layer_runs_chatops_help_and_db_upgrade_on_sqlite(image_venv, tmp_path):
    where = subprocess.run([str(image_venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=clean_env(tmp_path))
    assert where.stdout.startswith(str(image_venv)), where  # the installed copy, not this checkout
    helped = chatops(image_venv, tmp_path, "--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("serve", "worker", "db", "audit", "knowledge"):
        assert command in helped.stdout
    data = tmp_path / "data"
    first = chatops(image_venv, tmp_path, "db", "upgrade", DATA_DIR=str(data))
    assert first.returncode == 0 and "upgraded from empty" in first.stdout, first.stdout + first.stderr
    assert (data / "chatops.db").exists()
    again = chatops(image_venv, tmp_path, "db", "upgrade", DATA_DIR=str(data))
    assert again.returncode == 0 and "upgraded from empty" not in again.stdout, again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.postgres
def test_image_layer_upgrades_postgresql(image_venv, tmp_path, pg_url):
    """The release step of a real deployment: PostgreSQL, Procrastinate's schema included."""
    done = chatops(image_venv, tmp_path, "db", "upgrade", DATABASE_URL=pg_url, DATA_DIR=str(tmp_path / "data"))
    assert done.returncode == 0, done.stdout + done.stderr
    from sqlalchemy import inspect

    from bot.db import make_engine

    engine = make_engine(pg_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"incidents", "audit_log", "procrastinate_jobs"} <= tables, tables


_IMPORT_ALL = """
import importlib, pkgutil
failed = []
for top in ("bot", "agents", "tools", "knowledge", "migrations"):
    for info in pkgutil.walk_packages(importlib.import_module(top).__path__, top + "."):
        # Alembic's env and revision scripts run only inside Alembic (chatops db upgrade ran them).
        if info.name == "migrations.env" or info.name.startswith("migrations.versions."):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


@pytest.mark.slow
def test_every_installed_module_imports_without_the_test_extra(image_venv, tmp_path):
    python = str(image_venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import pytest"], capture_output=True, cwd=tmp_path,
                          env=clean_env(tmp_path)).returncode != 0  # the test extra is not in the image
    done = subprocess.run([python, "-c", _IMPORT_ALL], capture_output=True, text=True, cwd=tmp_path,
                          env=clean_env(tmp_path, MPLBACKEND="Agg"), timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def tree_state(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_diagnosis_writes_nothing_into_the_installed_layer(image_venv, tmp_path):
    """The pods mount a read-only root with only /data (DATA_DIR, HOME) and /tmp writable: a
    diagnosis from the installed layer (embedded Chroma with the bundled runbooks, log templates,
    the offline engine) must leave the venv untouched, as a read-only image layer would require."""
    before = tree_state(image_venv)
    data = tmp_path / "data"
    done = chatops(image_venv, tmp_path, "diagnose", "--scenario", str(REPO / "scenarios" / "shop-cart-crashloop"),
                   "--json", DATA_DIR=str(data), HOME=str(data), MPLCONFIGDIR=str(tmp_path / "tmp" / "matplotlib"),
                   PYTHONDONTWRITEBYTECODE="1")  # the image's environment
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["category"] == "oom_killed"
    assert (data / "chroma").is_dir()  # the knowledge base was built, in DATA_DIR
    after = tree_state(image_venv)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:10]
