"""Log line formats of the software the bundles simulate (as each writes them to stdout/stderr)."""
from __future__ import annotations

import json
from datetime import datetime

from world import rfc3339

PATHS = ["/api/v1/items", "/api/v1/cart", "/api/v1/orders", "/api/v1/search", "/healthz", "/metrics"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
          "okhttp/4.12.0", "Go-http-client/1.1", "python-requests/2.32.3"]


def _q(v) -> str:
    s = str(v)
    return f'"{s}"' if (" " in s or "=" in s or '"' in s or not s) else s


def logrus(t: datetime, level: str, msg: str, **kv) -> str:
    """sirupsen/logrus TextFormatter (time="..." level=... msg="...")."""
    extra = "".join(f" {k}={_q(v)}" for k, v in kv.items())
    return f'time="{rfc3339(t)}" level={level} msg={_q(msg)}{extra}'


def slog(t: datetime, level: str, msg: str, **kv) -> str:
    """Go log/slog TextHandler."""
    extra = "".join(f" {k}={_q(v)}" for k, v in kv.items())
    return f"time={rfc3339(t, ms=True)} level={level.upper()} msg={_q(msg)}{extra}"


def zap(t: datetime, level: str, msg: str, caller: str = "", **kv) -> str:
    """uber-go/zap production JSON encoder."""
    d = {"level": level, "ts": round(t.timestamp(), 6)}
    if caller:
        d["caller"] = caller
    d["msg"] = msg
    d.update(kv)
    return json.dumps(d, separators=(",", ":"))


def spring(t: datetime, level: str, logger: str, msg: str, thread: str = "main", app: str = "") -> str:
    """Spring Boot 3.2+ console pattern."""
    app_part = f"[{app}] " if app else ""
    return f"{rfc3339(t, ms=True)} {level:>5} 1 --- {app_part}[{thread:>15}] {logger:<40} : {msg}"


def pino(t: datetime, level: int, msg: str, hostname: str, **kv) -> str:
    d = {"level": level, "time": int(t.timestamp() * 1000), "pid": 1, "hostname": hostname, **kv, "msg": msg}
    return json.dumps(d, separators=(",", ":"))


def python_log(t: datetime, level: str, logger: str, msg: str) -> str:
    return f"{t.strftime('%Y-%m-%d %H:%M:%S')},{t.microsecond // 1000:03d} {level} [{logger}] {msg}"


def gunicorn_access(t: datetime, ip: str, method: str, path: str, status: int, size: int, ms: int, agent: str) -> str:
    return (f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} {path} HTTP/1.1" {status} {size} "-" '
            f'"{agent}" {ms * 1000}')


def nginx_access(t: datetime, ip: str, method: str, path: str, status: int, size: int, rt: float, agent: str,
                 upstream: str = "-") -> str:
    return (f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} {path} HTTP/1.1" {status} {size} "-" '
            f'"{agent}" rt={rt:.3f} uct="0.000" uht="{rt:.3f}" urt="{rt:.3f}" upstream={upstream}')


def ingress_access(t: datetime, ip: str, method: str, path: str, status: int, size: int, rt: float, agent: str,
                   ns: str, svc: str, port: int, upstream: str, req_id: str) -> str:
    """ingress-nginx default log-format-upstream."""
    return (f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} {path} HTTP/2.0" {status} {size} "-" '
            f'"{agent}" {len(path) + 180} {rt:.3f} [{ns}-{svc}-{port}] [] {upstream} {size} {rt:.3f} {status} {req_id}')


def postgres(t: datetime, pid: int, level: str, msg: str) -> str:
    return f"{t.strftime('%Y-%m-%d %H:%M:%S')}.{t.microsecond // 1000:03d} UTC [{pid}] {level}:  {msg}"


def coredns_query(client: str, qid: int, qtype: str, name: str, rcode: str, size: int, dur: float) -> str:
    return f'[INFO] {client} - {qid} "{qtype} IN {name} udp {len(name) + 20} false 512" {rcode} qr,rd,ra {size} {dur:.6f}s'


def go_panic(msg: str, frames: list[tuple[str, str]], goroutine: int = 1) -> list[str]:
    """A Go panic as the runtime prints it to stderr."""
    lines = [f"panic: {msg}"]
    if "nil pointer" in msg:
        lines.append("[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x10b3c5e]")
    lines += ["", f"goroutine {goroutine} [running]:"]
    for fn, loc in frames:
        lines += [fn, f"\t{loc}"]
    return lines
