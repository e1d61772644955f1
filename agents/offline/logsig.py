"""Log signatures: the line shapes an SRE greps for, grouped into signal classes.

Classes are checked in order and a line gets the first that matches, so a DNS failure inside a
"dial tcp" error counts as DNS, not as a refused connection.
"""
from __future__ import annotations

import functools
import re

from agents.offline.durations import SLOW_S, durations

_I = re.I
CLASSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Resolver trouble: the DNS server answers badly or not at all.
    ("dns_resolver", re.compile(
        r"server misbehaving|temporary failure in name resolution|EAI_AGAIN|SERVFAIL|plugin/errors|"
        r"plugin/forward|plugin/loop|no healthy upstream|(?:read|dial|write) udp \S+:53\b|:53: i/o timeout|"
        r"could not resolve host|UnknownHostException|dns (?:lookup|resolution) (?:failed|timeout)|"
        r"NameResolutionError|Failed to resolve ['\"]|\[Errno -3\]|getaddrinfo EAI_|"
        r"lookup \S+ on \S+:53: (?:read|dial|write|i/o)", _I)),
    # The name itself does not exist: usually a wrong name in one workload's config.
    ("dns_nxdomain", re.compile(r"no such host|ENOTFOUND|NXDOMAIN|Name or service not known|"
                                r"nodename nor servname|getaddrinfo failed|\[Errno -[25]\]|No such host is known|"
                                r"No address associated with hostname", _I)),
    ("tls_expired", re.compile(r"certificate has expired|certificate expired|CERT_HAS_EXPIRED|"
                               r"x509: certificate .{0,80}expired|certificate is not yet valid|"
                               r"certificate (?:is )?expired", _I)),
    ("tls_other", re.compile(r"x509:|certificate verify failed|PKIX path|unknown authority|bad certificate|"
                             r"SSL_do_handshake\(\) failed|handshake failure", _I)),
    ("disk", re.compile(r"no space left on device|ENOSPC|disk (?:is )?full|Disk quota exceeded|"
                        r"not enough space|filesystem full", _I)),
    ("pool", re.compile(r"Connection is not available, request timed out|pool (?:is )?exhausted|"
                        r"Timeout acquiring a connection|pool is probably full|too many clients|"
                        r"remaining connection slots|QueuePool limit|Timeout waiting for idle object|"
                        r"Cannot get a connection|unable to acquire (?:jdbc )?connection|acquire conn.{0,20}timeout|"
                        r"connection pool .{0,40}(?:timeout|full|exhausted)|too many connections", _I)),
    ("oom", re.compile(r"OutOfMemoryError|out of memory|OOMKilled|heap out of memory|\bMemoryError\b|"
                       r"Killed process|Cannot allocate memory|memory limit exceeded", _I)),
    ("refused", re.compile(r"connection refused|ECONNREFUSED|Connection to \S+ refused|no route to host|EHOSTUNREACH|"
                           r"network is unreachable|"
                           r"connection reset|ECONNRESET|broker.{0,40}(?:unavailable|lost|refused)|"
                           r"(?:cannot|could not|unable to|failed to) connect|connect: |"
                           r"upstream connect error|503 Service Unavailable|no healthy upstream|"
                           # drivers that try every contact point (Cassandra/DataStax, Java DB clients)
                           r"All host\(s\) tried for .{0,60}failed|NoHostAvailable", _I)),
    ("slow_db", re.compile(r"duration: \d+(?:\.\d+)? ms\s+(?:statement|execute|bind|parse)|Query_time: \d|"
                           r"slow (?:query|statement|sql|repository|db)|query took \d|db_time=|"
                           r"statement timeout|canceling statement|lock wait timeout|"
                           # ORM timings: Rails "User Load (812.3ms)  SELECT", Django "(0.812) SELECT",
                           # Sequelize "Executed (default): SELECT ... Elapsed time: 812ms"
                           r"\(\d+(?:\.\d+)?\s?ms\)\s+(?:SELECT|UPDATE|INSERT|DELETE|WITH)\b|"
                           r"\(\d+\.\d+\)\s+(?:SELECT|UPDATE|INSERT|DELETE|WITH)\b|"
                           r"Executed \([^)]*\): (?:SELECT|UPDATE|INSERT|DELETE|WITH)\b.*Elapsed time", _I)),
    ("config", re.compile(r"invalid configuration|invalid config|missing required|is required|\bnot set\b|"
                          r"no such file or directory|permission denied|executable file not found|"
                          r"exec format error|unknown flag|flag provided but not defined|could not parse|"
                          r"failed to parse|invalid value|unrecognized option|couldn't find key|"
                          r"secret .{0,40}not found|configmap .{0,40}not found|KeyError|environment variable", _I)),
    ("code", re.compile(r"panic:|Traceback \(most recent call last\)|NullPointerException|TypeError|ReferenceError|"
                        r"undefined method|nil pointer|segmentation fault|unhandled|Exception in|"
                        r"ModuleNotFoundError|ImportError|NoMethodError|AttributeError|ClassNotFoundException|"
                        r"NoSuchMethodError|IndexError|ZeroDivisionError|stack overflow|assertion failed", _I)),
    ("timeout", re.compile(r"context deadline exceeded|timed out|timeout exceeded|deadline exceeded|"
                           r"\b504\b|Gateway Time-?out", _I)),
)
CLASS_NAMES = tuple(n for n, _ in CLASSES)
_CLASS = dict(CLASSES)

# Lines whose role is informational even when they name a class (a slow-but-fine log of a DB is
# still a slow_db signal, so only pure noise belongs here).
_BENIGN = re.compile(r"\bretrying in\b.*succeeded|health check passed", _I)

# Two log sweeps over all namespaces: infrastructure-level signatures and application-level ones.
# Kept apart so a chatty application class cannot push rarer infrastructure lines out of the sample.
SWEEP_INFRA = (
    '"server misbehaving" | "name resolution" | EAI_AGAIN | "no such host" | ENOTFOUND | UnknownHostException | '
    'NameResolutionError | "Failed to resolve" | "plugin/errors" | "plugin/loop" | SERVFAIL | x509 | "certificate has expired" | "certificate expired" | '
    '"certificate verify failed" | SSL_do_handshake | "no space left" | ENOSPC | "disk full" | '
    'OutOfMemoryError | "out of memory"')
SWEEP_APP = (
    '"connection refused" | ECONNREFUSED | "no route to host" | "network is unreachable" | "connection reset" | '
    '"Connection is not available" | "Timeout acquiring" | "pool is probably full" | "too many clients" | '
    '"remaining connection slots" | "QueuePool limit" | "pool exhausted" | "too many connections" | '
    '"slow query" | Query_time | "ms statement" | "ms execute" | "query took" | db_time | "statement timeout"')
# Per-class follow-up queries, to learn which pods a class comes from.
CLASS_QUERIES: dict[str, str] = {
    "dns_resolver": '"server misbehaving" | "name resolution" | EAI_AGAIN | UnknownHostException | "plugin/errors" '
                    '| "plugin/loop" | NameResolutionError | "Failed to resolve" | SERVFAIL',
    "dns_nxdomain": '"no such host" | ENOTFOUND | NXDOMAIN',
    "tls_expired": 'x509 | "certificate has expired" | "certificate expired"',
    "tls_other": 'x509 | "certificate verify failed" | SSL_do_handshake',
    "disk": '"no space left" | ENOSPC | "disk full"',
    "pool": '"Connection is not available" | "Timeout acquiring" | "pool is probably full" | "too many clients" | '
            '"remaining connection slots" | "QueuePool limit" | "pool exhausted" | "too many connections"',
    "refused": '"connection refused" | ECONNREFUSED | "no route to host" | "network is unreachable" | '
               '"connection reset"',
    "slow_db": '"slow query" | Query_time | "ms statement" | "ms execute" | "query took" | db_time | '
               '"statement timeout"',
    "oom": 'OutOfMemoryError | "out of memory"',
}


# A call to a datastore, named in an ordinary line: "Database call completed in 8.01 seconds",
# "query took 2.3s", "sp_GetOrders finished in 4100 ms". With a slow duration it is a slow_db line
# whatever the wording; the duration formats are durations.py's.
_DB_CALL = re.compile(r"\b(?:database|db|sql|quer(?:y|ies)|statement|stored procedure|sp_\w+|transaction|"
                      r"postgres(?:ql)?|mysql|mariadb|mongo(?:db)?|oracle|sqlite|mssql|sql ?server)\b", _I)


@functools.lru_cache(maxsize=8192)  # a session classifies the same lines each time it re-reads its facts
def classify(text: str) -> str | None:
    if _BENIGN.search(text):
        return None
    for name, rx in CLASSES:
        if rx.search(text):
            return name
    if _DB_CALL.search(text) and max(durations(text), default=0.0) >= SLOW_S:
        return "slow_db"
    return None


def matches(cls: str, text: str) -> bool:
    return bool(_CLASS[cls].search(text))


_URL_HOST = re.compile(r"[a-z][a-z0-9+.-]*://(?:[^@/\s\"']+@)?([A-Za-z0-9.-]+)(?::(\d+))?", _I)
_HOST_PORT = re.compile(r"(?<![\w.-])([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*)(?::(\d{2,5}))(?![\w.])")
_LOOKUP = re.compile(r"lookup ([A-Za-z0-9.-]+)|UnknownHostException: ([A-Za-z0-9.-]+)|"
                     r"(?:EAI_AGAIN|ENOTFOUND) ([A-Za-z0-9.-]+)|\(([A-Za-z0-9.-]+\.[A-Za-z]{2,}):\d+\)|"
                     r"Failed to resolve ['\"]([A-Za-z0-9.-]+)['\"]|\bhost=[`'\"]?([A-Za-z][A-Za-z0-9.-]+)|"
                     r"plugin/errors: \d+ ([A-Za-z0-9.-]+?)\.? [A-Z]+:", _I)
_IP = re.compile(r"^\d+(?:\.\d+){3}$")
_NOT_HOSTS = {"localhost", "http", "https", "tcp", "udp", "time", "ts", "caller", "err", "error"}


def hosts_in(text: str) -> list[str]:
    """Host names a line talks to (URLs, host:port, DNS lookups), without IPs and timestamps."""
    out: list[str] = []
    for rx in (_LOOKUP, _URL_HOST, _HOST_PORT):
        for m in rx.finditer(text):
            host = next((g for g in m.groups() if g and not g.isdigit()), None)
            if not host:
                continue
            host = host.rstrip(".").lower()
            if _IP.match(host) or host in _NOT_HOSTS or len(host) < 3 or host[0].isdigit():
                continue
            if host not in out:
                out.append(host)
    return out


_MS = re.compile(r"duration: (\d+(?:\.\d+)?) ms|took (\d+(?:\.\d+)?) ?ms|(\d+(?:\.\d+)?)\s?ms\b", _I)
_S = re.compile(r"Query_time: (\d+(?:\.\d+)?)|db_time=(\d+(?:\.\d+)?)s?|duration=(\d+(?:\.\d+)?)s\b|"
                r"took (\d+(?:\.\d+)?)s\b", _I)


def slow_ms(text: str) -> float | None:
    """Largest statement duration a slow_db line reports, in milliseconds."""
    vals = [float(g) for m in _MS.finditer(text) for g in m.groups() if g]
    vals += [float(g) * 1000 for m in _S.finditer(text) for g in m.groups() if g]
    vals += [round(d * 1000, 3) for d in durations(text)]
    return max(vals) if vals else None


SERVER_TLS = re.compile(r"SSL_do_handshake\(\) failed|alert certificate expired|tls: bad certificate|"
                        r"remote error: tls|while SSL handshaking|handshake error", _I)
CRASH_HINT = re.compile(r"\bfatal\b|panic|exiting|exited with|shutting down|cannot start|failed to start|"
                        r"level=fatal|\"level\":\"fatal\"|CRITICAL|Traceback", _I)
HEALTHY_HINT = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\b.{0,80}\b(?:200|201|202|204)\b|"
                          r"\"statusCode\":2\d\d|status=2\d\d|-> 2\d\d|request completed|"
                          r"Started \w+ in|listening on|server listening|startup complete", _I)
GRACEFUL_HINT = re.compile(r"graceful shutdown|shutting down gracefully|received (?:SIGTERM|signal terminated)|"
                           r"Shutdown completed|stopping server", _I)
