"""Load against a real `chatops serve` process, all on loopback.

1. 200 concurrent signed `/diagnose` slash commands: ack latency p50/p99 (Slack allows 3,000 ms),
   beside a bare slack-bolt app (an AsyncApp on aiohttp whose /diagnose handler only acks, in its
   own process) under the same load in the same run: rounds alternate between the two, each
   starting when both processes are idle, and the ratio of the p99s is the figure (target <= 1.5).
2. A storm of alert messages posted by an alerting bot into an alert channel (default 1,000 in
   60 s, 50 distinct alerts), against a fresh `chatops serve`: every request acked, one thread per
   distinct fingerprint, none lost (each message either started an incident or became a repeat
   note), and peak RSS.
Both servers sample their own event-loop lag (LOOP_LAG_LOG, bot/looplag.py: how late a task
sleeping 5 ms wakes up) and write it when they stop: the peak under the command bursts and under
the storm (including the diagnoses it queued) are printed.

The Slack Web API is the loopback fake (tests/fake_slack.py); no data source is configured, so
sessions are short and honest ("unknown", sources unavailable). Prints a markdown table.

    .venv/bin/python bench/slack_load.py [--commands 200] [--rounds 3] [--messages 1000] [--seconds 60]
                                         [--distinct 50]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.fake_slack import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
ALERTS = "C0ALERTS01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(body: bytes, ts: int | None = None) -> dict[str, str]:
    ts = ts or int(time.time())
    base = f"v0:{ts}:".encode() + body
    sig = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig}


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_quiet(pids: list[int], timeout: float = 300) -> None:
    """Until every process has used under 5% of a core for a second: the queued investigations of
    one round must not run beside the next round's measurement (of either app)."""
    deadline, quiet_since = time.time() + timeout, None
    last = sum(cpu_seconds(p) for p in pids)
    while time.time() < deadline:
        time.sleep(0.25)
        now = sum(cpu_seconds(p) for p in pids)
        busy, last = (now - last) / 0.25 > 0.05, now
        quiet_since = None if busy else (quiet_since or time.time())
        if quiet_since and time.time() - quiet_since >= 1.0:
            return


def rss_peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


async def slash_commands(url: str, n: int, response_url: str, batch: str = "") -> tuple[list[float], int]:
    """Bodies are built and signed, and n keep-alive connections opened, before the clock starts:
    the client shares the two cores with the server, and its own set-up is not the server's ack.
    `batch` keeps trigger ids unique across rounds (a repeated trigger id opens nothing)."""
    bodies = []
    for i in range(n):
        form = {"token": "x", "team_id": "T0001", "team_domain": "bench", "channel_id": "C0OPS0001",
                "channel_name": "ops", "user_id": f"U{i:07d}", "user_name": f"user{i}", "command": "/diagnose",
                "text": f"shop/service-{i % 17}", "api_app_id": "A0001", "response_url": response_url,
                "trigger_id": f"{batch}{i}.1.abc"}
        body = urllib.parse.urlencode(form).encode()
        bodies.append((body, {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}))

    async def one(session: aiohttp.ClientSession, body: bytes, headers: dict) -> tuple[float, int]:
        t0 = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            return (time.perf_counter() - t0) * 1000, resp.status

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False)) as session:
        health = url.rsplit("/slack/", 1)[0] + "/healthz"

        async def warm() -> None:
            async with session.get(health) as r:
                await r.read()

        await asyncio.gather(*(warm() for _ in range(n)))
        results = await asyncio.gather(*(one(session, b, h) for b, h in bodies))
    return [r[0] for r in results], sum(1 for r in results if r[1] != 200)


async def storm(url: str, n: int, seconds: float, distinct: int) -> tuple[int, int, list[float]]:
    interval = seconds / n
    statuses: list[int] = []
    latencies: list[float] = []

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        k = i % distinct
        ts = f"{1800000000 + i}.{i:06d}"
        event = {"type": "message", "subtype": "bot_message", "bot_id": "B0ALERTMGR", "username": "Alertmanager",
                 "channel": ALERTS, "ts": ts, "event_ts": ts,
                 "text": f"[FIRING:1] KubePodCrashLooping shop/worker-{k}-7d9f8c6b5-x2kq{k % 10} (critical)"}
        body = json.dumps({"token": "x", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
                           "event_id": f"Ev{i:010d}", "event_time": int(time.time()), "event": event}).encode()
        headers = {"Content-Type": "application/json", **sign(body)}
        t0 = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            statuses.append(resp.status)
            latencies.append((time.perf_counter() - t0) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = []
        start = time.perf_counter()
        for i in range(n):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, i)))
        await asyncio.gather(*tasks)
    return sum(1 for s in statuses if s == 200), len(statuses), latencies


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"server did not become ready at {url}")


class Server:
    """One server process on a loopback port: `chatops serve` (with its own DATA_DIR), or the bare
    slack-bolt app (this file with --serve-bare)."""

    def __init__(self, argv: list[str], env: dict[str, str], workdir: Path, ready_path: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.proc = subprocess.Popen([*argv, str(self.port)], env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                                     stderr=open(workdir / "server.log", "w"))
        wait_http(f"{self.base}{ready_path}")

    @property
    def events(self) -> str:
        return f"{self.base}/slack/events"

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: chatops serve stops cleanly and writes LOOP_LAG_LOG
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def chatops_serve(api: str) -> Server:
    data = Path(tempfile.mkdtemp(prefix="chatops-load-"))
    env = {**os.environ, "DATA_DIR": str(data), "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": api, "SLACK_ALERT_CHANNELS": ALERTS, "SLACK_ALERTS_CHANNEL": ALERTS,
           "ALERTMANAGER_WEBHOOK_TOKEN": "bench-webhook-token", "KUBECONFIG": str(data / "no-kubeconfig"),
           "AGENT_ENGINE": "offline", "LOG_LEVEL": "WARNING", "SESSION_CONCURRENCY": "4",
           "TOOL_TIMEOUT_SECONDS": "2", "LOOP_LAG_LOG": str(data / "loop_lag.json")}
    for k in ("ANTHROPIC_API_KEY", "DATABASE_URL", "PROMETHEUS_URL", "OPENSEARCH_URL", "SLACK_APP_TOKEN"):
        env.pop(k, None)
    return Server([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port"], env, data, "/readyz")


def bare_bolt(api: str) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix="bare-bolt-"))
    return Server([sys.executable, str(Path(__file__).resolve()), "--serve-bare", api], dict(os.environ), workdir,
                  "/healthz")


def serve_bare(api: str, port: int) -> None:
    """The reference: a bare slack-bolt AsyncApp served by aiohttp (bolt's own server), verifying
    signatures as bolt does by default; its /diagnose handler only acks."""
    from aiohttp import web
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=api), signing_secret=SECRET)

    @app.command("/diagnose")
    async def diagnose(ack):  # noqa: ANN001, ANN202
        await ack()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    web_app = app.web_app(path="/slack/events", port=port)
    web_app.router.add_get("/healthz", healthz)
    web.run_app(web_app, host="127.0.0.1", port=port, print=None, access_log=None)


def loop_lag(server: Server) -> dict:
    try:
        return json.loads((server.workdir / "loop_lag.json").read_text())
    except (OSError, ValueError):
        return {"max_ms": float("nan"), "p99_ms": float("nan")}


def compare_acks(fake: FakeSlack, api: str, n: int, rounds: int) -> dict:
    """Our /diagnose ack against the bare app's, rounds alternating, each from idle."""
    ours, bare = chatops_serve(api), bare_bolt(api)
    lat: dict[str, list[float]] = {"ours": [], "bare": []}
    failed = {"ours": 0, "bare": 0}
    try:
        for name, srv in (("ours", ours), ("bare", bare)):
            # Warm-up: the first commands import the engines lazily; steady state is what Slack sees.
            asyncio.run(slash_commands(srv.events, 3, fake.response_url(f"warmup-{name}"), f"w{name}-"))
        for r in range(rounds):
            for name, srv in (("ours", ours), ("bare", bare)):
                wait_quiet([ours.proc.pid, bare.proc.pid])
                got, bad = asyncio.run(slash_commands(srv.events, n, fake.response_url(f"bench-{name}"), f"r{r}-"))
                lat[name] += got
                failed[name] += bad
        wait_quiet([ours.proc.pid])  # the investigations the commands started, inside the lag figure
        rss = rss_peak_kb(ours.proc.pid)
    finally:
        ours.stop()
        bare.stop()
    return {"lat": lat, "failed": failed, "lag": loop_lag(ours), "rss_kb": rss}


def run_storm(fake: FakeSlack, api: str, args: argparse.Namespace) -> dict:
    srv = chatops_serve(api)
    try:
        asyncio.run(slash_commands(srv.events, 3, fake.response_url("warmup-storm"), "ws-"))
        wait_quiet([srv.proc.pid])
        ok, sent, latencies = asyncio.run(storm(srv.events, args.messages, args.seconds, args.distinct))
        deadline = time.time() + args.drain
        while time.time() < deadline and len(diagnosed_threads(fake)) < args.distinct:
            time.sleep(1)  # every distinct alert's diagnosis posted in its thread
        rss = rss_peak_kb(srv.proc.pid)
    finally:
        srv.stop()
    return {"ok": ok, "sent": sent, "lat": latencies, "rss_kb": rss, "lag": loop_lag(srv),
            **count_storm(srv.workdir / "chatops.db"), "threads": len(diagnosed_threads(fake))}


def diagnosed_threads(fake: FakeSlack) -> set[str]:
    return {c.arg("thread_ts") for c in fake.calls("chat.postMessage")
            if c.arg("channel") == ALERTS and c.arg("thread_ts") and "Diagnosis" in json.dumps(c.args)}


def count_storm(db: Path) -> dict:
    from sqlalchemy import create_engine, text

    with create_engine(f"sqlite:///{db}").connect() as c:  # DATA_DIR holds the embedded database
        incidents = c.execute(text("SELECT count(*) FROM incidents WHERE channel = :c"), {"c": ALERTS}).scalar()
        opened = c.execute(text("SELECT count(*) FROM audit_log WHERE event = 'incident.opened' "
                                "AND payload LIKE :c"), {"c": f"%{ALERTS}%"}).scalar()
        repeats = c.execute(text("SELECT count(*) FROM audit_log WHERE event = 'incident.repeat'")).scalar()
    return {"incidents": incidents, "accounted": opened + repeats}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=200, help="concurrent /diagnose commands per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per app (ours, bare slack-bolt), alternating")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--distinct", type=int, default=50)
    ap.add_argument("--drain", type=float, default=240, help="seconds to wait for queued sessions")
    ap.add_argument("--serve-bare", nargs=2, metavar=("SLACK_API_URL", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare[0], int(args.serve_bare[1]))
        return 0

    fake = FakeSlack(token=TOKEN)
    api = fake.start()
    fake.add_channel(ALERTS, "alerts")
    try:
        acks = compare_acks(fake, api, args.commands, args.rounds)
        st = run_storm(fake, api, args)
    finally:
        fake.stop()

    ours, bare = acks["lat"]["ours"], acks["lat"]["bare"]
    ratio = pct(ours, 99) / pct(bare, 99)
    lost = st["sent"] - st["accounted"]
    print("| measure | value |\n| --- | --- |")
    print(f"| {args.commands} concurrent `/diagnose`, {args.rounds} rounds: ack p50 / p99, ours | "
          f"{statistics.median(ours):.1f} ms / {pct(ours, 99):.1f} ms |")
    print(f"| same load, bare slack-bolt app (handler only acks): ack p50 / p99 | "
          f"{statistics.median(bare):.1f} ms / {pct(bare, 99):.1f} ms |")
    print(f"| ack p99 ratio ours / bare (target <= 1.5) | {ratio:.2f} |")
    print(f"| commands not acked 200, ours / bare | {acks['failed']['ours']} / {acks['failed']['bare']} |")
    print(f"| peak / p99 event-loop lag of chatops serve, command rounds and their investigations | "
          f"{acks['lag']['max_ms']:.1f} ms / {acks['lag']['p99_ms']:.1f} ms |")
    print(f"| storm: alert messages sent / acked 200 | {st['sent']} / {st['ok']} over {args.seconds:.0f} s |")
    print(f"| storm event ack p50 / p99 | {statistics.median(st['lat']):.1f} ms / {pct(st['lat'], 99):.1f} ms |")
    print(f"| peak / p99 event-loop lag under the storm (and the diagnoses it queued) | "
          f"{st['lag']['max_ms']:.1f} ms / {st['lag']['p99_ms']:.1f} ms |")
    print(f"| distinct fingerprints / incidents / diagnosed threads | {args.distinct} / {st['incidents']} / "
          f"{st['threads']} |")
    print(f"| messages accounted (incident opened + repeat notes) | {st['accounted']} of {st['sent']} |")
    print(f"| peak RSS of chatops serve: command rounds / storm | {acks['rss_kb'] / 1024:.0f} MiB / "
          f"{st['rss_kb'] / 1024:.0f} MiB |")
    good = (sum(acks["failed"].values()) == 0 and st["ok"] == st["sent"] and lost == 0
            and st["incidents"] == args.distinct and st["threads"] == args.distinct and ratio <= 1.5)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
