"""Start-up of `chatops --help` and `chatops serve`, each beside its baseline measured in the same run.

    .venv/bin/python bench/startup.py [--runs 7]

`chatops --help` against `python -c pass` (wall time of the process). `chatops serve` on the
embedded defaults (SQLite in a temporary DATA_DIR, offline engine, the loopback Slack fake) from
spawn to its first GET /readyz 200, and its RSS then, against bench/startup_baseline.py: a bare
process importing only what serving cannot avoid (aiohttp, slack-bolt, SQLAlchemy) answering GET
/healthz. The two alternate, each run a fresh process; medians of --runs runs. The first serve
start on an empty DATA_DIR (migrations, bundled runbooks ingested) is reported on its own; the
timed runs restart on that DATA_DIR. After /readyz, serve opens the knowledge base and does the
first diagnosis's imports in the background: "warm" is when its log says so, with the RSS then.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fake_slack import DEFAULT_TOKEN, FakeSlack  # noqa: E402
from tests.support import free_port, process_env  # noqa: E402

BASELINE = Path(__file__).resolve().parent / "startup_baseline.py"
POLL = 0.005
WARM_LINE = "warmed up"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wall(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, check=True, timeout=60)
    return time.monotonic() - t0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def until_200(cmd: list[str], path: str, env: dict[str, str], cwd: Path, log: Path | None = None) -> dict:
    """Spawn `cmd` (its last argument is set to a free port), time it to its first 200 on `path`;
    with `log`, also wait for the warm-up line in its stderr."""
    port = free_port()
    with open(log or Path("/dev/null"), "w") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen([*cmd, str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            while not _answers(f"http://127.0.0.1:{port}{path}"):
                if proc.poll() is not None:
                    raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}" +
                                     (f":\n{log.read_text()[-2000:]}" if log else ""))
                time.sleep(POLL)
            out = {"seconds": time.monotonic() - t0, "rss": rss_mb(proc.pid)}
            if log is not None:
                deadline = time.monotonic() + 120
                while WARM_LINE not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.02)
                out["warm"] = time.monotonic() - t0 if WARM_LINE in log.read_text() else float("nan")
                out["warm_rss"] = rss_mb(proc.pid)
            return out
        finally:
            proc.terminate()
            proc.wait(60)


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs of each command (median reported)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="chatops-startup-"))
    with FakeSlack() as fake:
        env = process_env(root, AGENT_ENGINE="offline", LOG_LEVEL="INFO", SLACK_BOT_TOKEN=DEFAULT_TOKEN,
                          SLACK_SIGNING_SECRET="bench-signing-secret", SLACK_API_URL=fake.url)
        chatops = [sys.executable, "-m", "bot.cli"]
        serve = [*chatops, "serve", "--host", "127.0.0.1", "--port"]
        log = root / "serve.log"
        first = until_200(serve, "/readyz", env, root, log)
        help_runs, pass_runs, serve_runs, base_runs = [], [], [], []
        for _ in range(args.runs):  # alternating, so a noisy moment hits both columns alike
            pass_runs.append(wall([sys.executable, "-c", "pass"], env, root))
            help_runs.append(wall([*chatops, "--help"], env, root))
            base_runs.append(until_200([sys.executable, str(BASELINE)], "/healthz", env, root))
            serve_runs.append(until_200(serve, "/readyz", env, root, log))

    help_s, pass_s = statistics.median(help_runs), statistics.median(pass_runs)
    serve_s, base_s = median(serve_runs, "seconds"), median(base_runs, "seconds")
    serve_mb, base_mb = median(serve_runs, "rss"), median(base_runs, "rss")
    print(f"Median of {args.runs} runs each, alternating ({sys.executable}).\n")
    print("| command | ours | baseline | baseline: what | ratio |")
    print("| --- | ---: | ---: | --- | ---: |")
    print(f"| `chatops --help` | {help_s:.3f} s | {pass_s:.3f} s | `python -c pass` | {help_s / pass_s:.1f}x |")
    print(f"| `chatops serve`: first `/readyz` 200 | {serve_s:.2f} s | {base_s:.2f} s | "
          f"bench/startup_baseline.py, first `/healthz` 200 | {serve_s / base_s:.1f}x |")
    print(f"| `chatops serve`: RSS at that moment | {serve_mb:.0f} MB | {base_mb:.0f} MB | the same process | "
          f"{serve_mb / base_mb:.1f}x |")
    print(f"\nserve, background warm-up done (knowledge base open, first-diagnosis imports): "
          f"{median(serve_runs, 'warm'):.2f} s after spawn, RSS then {median(serve_runs, 'warm_rss'):.0f} MB")
    print(f"serve, first start on an empty DATA_DIR (migrations, runbooks ingested): /readyz 200 after "
          f"{first['seconds']:.2f} s, warm after {first['warm']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
