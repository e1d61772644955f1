"""Load against a real `chatops serve` process, all on loopback.

1. 200 concurrent signed `/diagnose` slash commands: ack latency p50/p99 (Slack allows 3,000 ms).
2. A storm of alert messages posted by an alerting bot into an alert channel (default 1,000 in
   60 s, 50 distinct alerts): every request acked, one thread per distinct fingerprint, none
   lost (each message either started an incident or became a repeat note), and peak RSS.

The Slack Web API is the loopback fake (tests/fake_slack.py); no data source is configured, so
sessions are short and honest ("unknown", sources unavailable). Prints a markdown table.

    .venv/bin/python bench/slack_load.py [--commands 200] [--messages 1000] [--seconds 60] [--distinct 50]
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


async def slash_commands(url: str, n: int, response_url: str) -> tuple[list[float], int]:
    """Bodies are built and signed, and n keep-alive connections opened, before the clock starts:
    the client shares the two cores with the server, and its own set-up is not the server's ack."""
    bodies = []
    for i in range(n):
        form = {"token": "x", "team_id": "T0001", "team_domain": "bench", "channel_id": "C0OPS0001",
                "channel_name": "ops", "user_id": f"U{i:07d}", "user_name": f"user{i}", "command": "/diagnose",
                "text": f"shop/service-{i % 17}", "api_app_id": "A0001", "response_url": response_url,
                "trigger_id": f"{i}.1.abc"}
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--distinct", type=int, default=50)
    ap.add_argument("--drain", type=float, default=240, help="seconds to wait for queued sessions")
    args = ap.parse_args()

    fake = FakeSlack(token=TOKEN)
    api = fake.start()
    fake.add_channel(ALERTS, "alerts")
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="chatops-load-"))
    env = {**os.environ, "DATA_DIR": str(data), "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": api, "SLACK_ALERT_CHANNELS": ALERTS, "SLACK_ALERTS_CHANNEL": ALERTS,
           "ALERTMANAGER_WEBHOOK_TOKEN": "bench-webhook-token", "KUBECONFIG": str(data / "no-kubeconfig"),
           "AGENT_ENGINE": "offline", "LOG_LEVEL": "WARNING", "SESSION_CONCURRENCY": "4",
           "SESSION_QUEUE_MAX": "2000", "TOOL_TIMEOUT_SECONDS": "2"}
    for k in ("ANTHROPIC_API_KEY", "DATABASE_URL", "PROMETHEUS_URL", "OPENSEARCH_URL", "SLACK_APP_TOKEN"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=data, stdout=subprocess.DEVNULL, stderr=open(data / "serve.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz")
        # Warm-up: the first commands import the engines lazily; steady state is what Slack sees.
        asyncio.run(slash_commands(f"{base}/slack/events", 3, fake.response_url("warmup")))
        time.sleep(5)
        ack, failed = asyncio.run(slash_commands(f"{base}/slack/events", args.commands, fake.response_url("bench")))
        ok, sent, storm_lat = asyncio.run(storm(f"{base}/slack/events", args.messages, args.seconds, args.distinct))
        deadline = time.time() + args.drain
        while time.time() < deadline:  # wait until every distinct alert got its diagnosis posted
            threads = {c.arg("thread_ts") for c in fake.calls("chat.postMessage")
                       if c.arg("channel") == ALERTS and c.arg("thread_ts") and "Diagnosis" in json.dumps(c.args)}
            if len(threads) >= args.distinct:
                break
            time.sleep(1)
        peak_kb = rss_peak_kb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()

    from sqlalchemy import create_engine, text

    db = data / "chatops.db"  # DATA_DIR is `data` itself
    eng = create_engine(f"sqlite:///{db}")
    with eng.connect() as c:
        incidents = c.execute(text("SELECT count(*) FROM incidents WHERE channel = :c"), {"c": ALERTS}).scalar()
        opened = c.execute(text("SELECT count(*) FROM audit_log WHERE event = 'incident.opened' "
                                "AND payload LIKE :c"), {"c": f"%{ALERTS}%"}).scalar()
        repeats = c.execute(text("SELECT count(*) FROM audit_log WHERE event = 'incident.repeat'")).scalar()
    diag_threads = {c.arg("thread_ts") for c in fake.calls("chat.postMessage")
                    if c.arg("channel") == ALERTS and c.arg("thread_ts") and "Diagnosis" in json.dumps(c.args)}
    print("| measure | value |\n| --- | --- |")
    print(f"| slash commands sent | {args.commands} |")
    print(f"| slash command ack p50 / p99 | {statistics.median(ack):.1f} ms / {pct(ack, 99):.1f} ms |")
    print(f"| slash commands not acked 200 | {failed} |")
    print(f"| storm messages sent / acked 200 | {sent} / {ok} over {args.seconds:.0f} s |")
    print(f"| storm event ack p50 / p99 | {statistics.median(storm_lat):.1f} ms / {pct(storm_lat, 99):.1f} ms |")
    print(f"| distinct fingerprints / incidents / diagnosed threads | {args.distinct} / {incidents} / {len(diag_threads)} |")
    print(f"| messages accounted (incident opened + repeat notes) | {opened + repeats} of {sent} |")
    print(f"| peak RSS of chatops serve | {peak_kb / 1024:.0f} MiB |")
    lost = sent - (opened + repeats)
    return 0 if (failed == 0 and ok == sent and lost == 0 and incidents == args.distinct) else 1


if __name__ == "__main__":
    sys.exit(main())
