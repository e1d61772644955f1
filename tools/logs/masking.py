"""Masks that turn variable parts of log lines into placeholders before template mining.

One ordered list serves production and the Loghub benchmark, with no per-dataset rules:
timestamps, UUIDs, URLs and paths, IPs, pod-name hashes, hex ids, durations, then the
general hosts, sizes and numbers. Order matters because earlier masks consume text that
later ones would only partly match (an IP would otherwise become four numbers, a path
full of ids a string of placeholders).

Placeholders are typed (``<IP>``, ``<DURATION>``...) so an agent reading a template knows
what varied; the miner treats any placeholder as a variable (tools/logs/drain.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from drain3.masking import AbstractMaskingInstruction

MASK_PREFIX = "<"
MASK_SUFFIX = ">"
# A word boundary that also treats '_' and '-' as separators (blk_123, web-0).
_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
# Last labels that make a dotted name a host. Not every two-letter label: config keys
# such as mapred.task.id would turn into hosts.
_TLDS = ("com|net|org|io|dev|edu|gov|mil|int|local|localdomain|internal|cluster|svc|cloud|app|ai|"
         "info|biz|asia|xyz|top|site|online|lan|corp|home|example|test|invalid|localhost|"
         "uk|de|cn|jp|hk|fr|ru|in|br|au|ca|nl|it|es|se|no|ch|kr|tw|sg|us|eu|pl|om|za|mx|ar|tr|"
         "ua|cz|at|be|dk|fi|gr|hu|il|ie|nz|pt|ro|vn|th|my|ph")


# file.go:138 in klog / stack traces is a code location, not host:port.
_SOURCE_EXT = r"(?:go|py|java|js|ts|rb|rs|c|cc|cpp|h|kt|scala|cs|php|ex|exs)"
# Kubernetes generated-name alphabet (no vowels, no 0/1/3), used for pod and ReplicaSet suffixes.
_K8S = "[bcdfghjklmnpqrstvwxz2456789]"


@dataclass(frozen=True)
class Mask:
    name: str  # placeholder is <name>; "*" gives Drain's own wildcard <*>
    pattern: str
    hint: str = ""  # substring every match contains: lines without it skip the regex
    digit: bool = True  # every match holds a digit: lines without one skip the regex

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


CLOUD_NATIVE_MASKS: tuple[Mask, ...] = (
    # Timestamps: ISO-8601 / RFC3339, BGL-style dotted, syslog, Apache ctime, bare times.
    Mask("TS", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?" + _R, ":"),
    Mask("TS", r"\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}(?:\.\d+)?", "-"),
    Mask("TS", rf"(?=[A-Z])(?:{_DAY} )?{_MONTH} +\d{{1,2}} \d{{2}}:\d{{2}}:\d{{2}}(?: \d{{4}})?", ":"),
    Mask("TS", r"(?=\d)" + _L + r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?" + _R, ":"),
    Mask("TS", r"(?=\d)" + _L + r"\d{4}[-/]\d{2}[-/]\d{2}" + _R),
    Mask("UUID", r"(?i)(?=[0-9a-f])" + _L + r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}" + _R, "-",
         digit=False),
    Mask("URL", r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s\"'<>]+", "://", digit=False),
    Mask("PATH", r"(?=/)(?<![\w.:/<>*-])(?:/[^\s/\"'<>\[\](),;=|]+)+/?", "/", digit=False),
    # IPv6 needs '::' or eight groups so clock times and MAC-free text stay intact.
    Mask("IP", r"(?i)(?=[\[0-9a-f:])\[?(?<![\w:.])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,5})?|::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?)(?![\w:.])\]?(?::\d{1,5}(?!\d))?", ":",
         digit=False),
    Mask("IP", r"(?=\d)(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\d.]|[A-Za-z])", "."),
    # Generated pod / ReplicaSet names keep their workload name: checkout-7d9f8c6b5-x2kqz
    # becomes checkout-<*>. Suffixes use the Kubernetes alphabet and must hold a digit.
    Mask("*", rf"(?<=[a-z0-9]-)(?=[a-z0-9-]*\d){_K8S}{{6,10}}-{_K8S}{{5}}(?![A-Za-z0-9-])", "-"),
    Mask("*", rf"(?<=[a-z0-9]-)(?={_K8S}*\d)(?={_K8S}*[a-z]){_K8S}{{5}}(?:{_K8S}{{3,5}})?(?![A-Za-z0-9-])", "-"),
    Mask("HEX", r"(?i)(?=0)" + _L + r"0x[0-9a-f]+" + _R, "0"),
    Mask("HEX", r"(?:sha256|sha1|md5):[0-9a-f]{32,}", ":", digit=False),
    # Long hex ids (container ids, trace ids, request ids) must contain a digit to be an id.
    Mask("HEX", r"(?=[0-9a-f])" + _L + r"(?=[a-f]*\d)[0-9a-f]{12,}" + _R),
    Mask("DURATION", r"(?=\d)(?<![\w.])\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))*(?![\w.])"),
    # Spelled-out units, with an optional comparator ("<1 sec", "took 19.05 seconds").
    Mask("DURATION", r"(?=[<>~\d])[<>~]?(?<![\w.])\d+(?:\.\d+)? ?(?:nanoseconds?|microseconds?|milliseconds?|msecs?|secs?|seconds?|mins?|minutes?|hours?|hrs?)\b"),
)

GENERAL_MASKS: tuple[Mask, ...] = (
    # A dotted name is a host if it ends in a TLD-like label or carries a :port; Java class
    # names (org.apache.Foo) end in a capitalised label and are left alone.
    Mask("HOST", rf"(?=[a-zA-Z0-9])(?<![\w.@/-])(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{{0,61}}[a-zA-Z0-9])?\.)+(?:(?:{_TLDS})(?::\d{{1,5}})?|(?!{_SOURCE_EXT}:)[a-zA-Z][\w-]*:\d{{1,5}})(?![\w.(-])", ".",
         digit=False),
    # Byte counts, optionally followed by their human-readable form: "1190 bytes (1.16 KB)".
    Mask("SIZE", r"(?=\d)" + _L + r"\d+(?:\.\d+)? ?(?:bytes?|B|[KMGTP]i?B|[KMGTP]B/s)(?: \(\d+(?:\.\d+)? ?[KMGTP]i?B\))?" + _R),
    Mask("NUM", r"(?=[-+\d])(?<![A-Za-z0-9.])[-+]?\d+(?:\.\d+)*" + _R),
)

DEFAULT_MASKS: tuple[Mask, ...] = CLOUD_NATIVE_MASKS + GENERAL_MASKS


def placeholder(name: str) -> str:
    return MASK_PREFIX + name + MASK_SUFFIX


class RegexMask(AbstractMaskingInstruction):
    """Drain3 masking instruction built from a :class:`Mask`."""

    def __init__(self, mask: Mask):
        super().__init__(mask.name)
        self.regex = mask.compiled()
        self.hint = mask.hint

    @property
    def pattern(self) -> str:
        return self.regex.pattern

    def mask(self, content: str, mask_prefix: str, mask_suffix: str) -> str:
        if self.hint and self.hint not in content:
            return content
        return self.regex.sub(mask_prefix + self.mask_with + mask_suffix, content)


def masking_instructions(masks: Iterable[Mask] = DEFAULT_MASKS) -> list[RegexMask]:
    return [RegexMask(m) for m in masks]


_DIGIT = re.compile(r"\d")


def make_masker(masks: Iterable[Mask] = DEFAULT_MASKS, cache: int = 4096) -> Callable[[str], str]:
    """Apply the masks in order. Two cheap prefilters skip most regexes on most lines: a mask whose
    matches always hold a digit is skipped on a line without one (and on a line whose digits were
    all masked already), and a mask with a hint substring is skipped on a line without the hint.
    Exact repeats (logs repeat) come from a small cache."""
    compiled = [(m.compiled(), placeholder(m.name), m.hint, m.digit) for m in masks]
    memo: dict[str, str] = {}
    search_digit = _DIGIT.search

    def mask_line(line: str) -> str:
        done = memo.get(line)
        if done is not None:
            return done
        original = line
        digits = search_digit(line) is not None
        for regex, repl, hint, needs_digit in compiled:
            if needs_digit and not digits:
                continue
            if hint and hint not in line:
                continue
            masked = regex.sub(repl, line)
            if masked is not line:  # re.sub returns the same object when nothing matched
                line = masked
                if digits:
                    digits = search_digit(line) is not None
        if len(memo) >= cache:
            memo.clear()
        memo[original] = line
        return line

    return mask_line


mask_line = make_masker()
