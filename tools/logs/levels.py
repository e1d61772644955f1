"""Severity detection for one log line, whatever its format.

Explicit level markers win over keyword heuristics: a BGL ``RAS KERNEL INFO ... parity
error corrected`` line is INFO even though it says "error". Only lines with no marker
fall back to exception / panic / stack-frame heuristics.
"""
from __future__ import annotations

import re

LEVELS = ("ERROR", "WARN", "INFO", "DEBUG", "UNKNOWN")

_ALIASES = {
    "ERROR": ("error", "err", "eror", "fatal", "crit", "critical", "panic", "dpanic", "emerg",
              "emergency", "alert", "severe", "failure", "e", "f"),
    "WARN": ("warn", "warning", "wrn", "w"),
    "INFO": ("info", "inf", "notice", "information", "informational", "i"),
    "DEBUG": ("debug", "dbug", "dbg", "trace", "trc", "verbose", "fine", "finer", "finest", "d"),
}
_NORMAL = {alias: level for level, aliases in _ALIASES.items() for alias in aliases}

_WORDS = r"fatal|critical|crit|panic|emerg|emergency|alert|severe|failure|error|err|eror|warning|warn|notice|info|debug|trace"

# level=error, lvl=eror, severity: "ERROR", "level":"error", "levelname": "WARNING"
_KEYED = re.compile(
    r"""(?i)["']?\b(?:level|lvl|severity|levelname|loglevel|log\.level|severity_text)["']?\s*[:=]\s*["']?([A-Za-z]+)""")
# klog header: E1121 10:00:00.123456, optionally after a kubectl --timestamps prefix.
_KLOG = re.compile(r"^(?:\S+Z\s+)?([IWEF])\d{4}\s+\d{2}:\d{2}:\d{2}")
# Upper-case level words anywhere are header fields (INFO, [WARN], <ERROR>, E/ERROR).
_UPPER = re.compile(rf"(?<![A-Za-z0-9_.-])({_WORDS.upper()}|WRN|INF|DBG|ERR)(?![A-Za-z0-9_-])")
# Lower-case level words only count when bracketed or right after a timestamp (zap console).
_BRACKETED = re.compile(rf"(?i)[\[<(]({_WORDS})[\]>)]")
_AFTER_TS = re.compile(rf"^\S*\d{{2}}:\d{{2}}:\d{{2}}\S*\s+({_WORDS})\b", re.I)
# Capitalised level as the first word or after a timestamp (Python logging "Error: ..." is not).
_LEADING = re.compile(rf"^\s*({_WORDS})\s*[:\]|]", re.I)

_ERROR_HINTS = re.compile(
    r"(?:^\s*(?:at\s+[\w$.<>]+\([^)]*\)|Caused by:|Traceback \(most recent call last\)|goroutine \d+ \[)"
    r"|\b[A-Z]\w*(?:Exception|Error)\b|\bpanic:|\b[Ff]atal:|\b[Ee]rror:|[Ss]egmentation fault|\bOOMKilled\b)")
_WARN_HINTS = re.compile(r"\bwarning:|\bdeprecated\b", re.I)


def normalize_level(value: str | None) -> str:
    if not value:
        return "UNKNOWN"
    return _NORMAL.get(value.strip().lower(), "UNKNOWN")


# Substrings every match of the costly patterns contains (lower-cased): a line without any of them
# skips the regex, which on most lines is all of them.
_KEYED_HINTS = re.compile(r"lvl|level|severity")
_ERROR_SUBSTRINGS = re.compile(r"exception|error|panic:|fatal:|segmentation fault|oomkilled|caused by:|traceback"
                               r"|goroutine|^\s*at ")
_WARN_SUBSTRINGS = re.compile(r"warning:|deprecated")


def detect_level(line: str) -> str:
    """Return ERROR, WARN, INFO, DEBUG or UNKNOWN for a raw log line."""
    low = line.lower()
    m = _KEYED.search(line) if _KEYED_HINTS.search(low) else None
    if m and (level := normalize_level(m.group(1))) != "UNKNOWN":
        return level
    m = _KLOG.match(line)
    if m:
        return normalize_level(m.group(1))
    candidates = [m for m in (_UPPER.search(line), _BRACKETED.search(line), _AFTER_TS.search(line),
                              _LEADING.search(line)) if m]
    if candidates:
        first = min(candidates, key=lambda m: m.start(1))
        return normalize_level(first.group(1))
    if _ERROR_SUBSTRINGS.search(low) and _ERROR_HINTS.search(line):
        return "ERROR"
    if _WARN_SUBSTRINGS.search(low) and _WARN_HINTS.search(line):
        return "WARN"
    return "UNKNOWN"
