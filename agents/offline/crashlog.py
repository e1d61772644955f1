"""Why a container ended, from its exit code and its own last lines: the shapes an SRE recognises.

* a shell syntax error (dash, bash, busybox): the script is wrong;
* a command that does not exist (exit 127, "not found"), with the obvious near-miss when one is
  known (the command of the last successful run, a common tool);
* a missing or undefined environment variable (KeyError: 'X' on os.environ, "X: parameter not set",
  "unbound variable", "required key X missing value", "Could not resolve placeholder");
* a missing file or config key ("No such file or directory", "couldn't find key");
* a connection refused by, or timing out to, a named host:port.

The decisive line is returned verbatim (clipped at token boundaries), never paraphrased.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from agents.offline.logsig import hosts_in
from tools.textclip import clip_middle

LINE_MAX = 300
# Common CLI tools a script calls: the vocabulary for a mistyped command's near-miss.
COMMON_COMMANDS = ("aws", "az", "bash", "cat", "cp", "curl", "date", "dig", "echo", "find", "gcloud", "git", "grep",
                   "gsutil", "gzip", "helm", "java", "jq", "kubectl", "ls", "mc", "mkdir", "mongodump", "mongosh",
                   "mysql", "mysqldump", "nc", "node", "npm", "pg_dump", "pg_dumpall", "pg_restore", "php", "psql",
                   "python", "python3", "redis-cli", "rclone", "rm", "rsync", "s3cmd", "sed", "sh", "sleep", "tar",
                   "tee", "wget", "xargs", "yq", "zip")

_SHELL = r"(?:\bsh|bash|dash|ash|zsh|\.sh)(?:: line \d+)?: (?:\d+: )?"
_SHELL_SYNTAX = re.compile(_SHELL + r".*syntax error|syntax error near unexpected token|end of file unexpected|"
                           r"unexpected end of file|unterminated quoted string|bad substitution|"
                           r"unexpected EOF while looking for matching", re.I)
_NOT_FOUND = (re.compile(r"(?:^|" + _SHELL + r")([\w./+-]+): (?:command )?not found\s*$"),
              re.compile(r"exec: \"?([\w./+-]+)\"?: executable file not found in \$PATH"),
              re.compile(r"exec(?:ve)?[: ]+\"?([\w./+-]+)\"?: no such file or directory", re.I),
              re.compile(r"(?:can't|cannot) execute[: ]+\"?([\w./+-]+)\"?", re.I))
_ENV = (re.compile(r"KeyError: ['\"]([A-Z][A-Z0-9_]{2,})['\"]"),
        re.compile(r"\b([A-Z][A-Z0-9_]{2,}): (?:parameter (?:null or )?not set|unbound variable)"),
        re.compile(r"(?:environment variable|env(?:ironment)? var(?:iable)?)s?\s+['\"`]?([A-Z][A-Z0-9_]{2,})['\"`]?"
                   r"[^.\n]{0,30}?(?:is )?(?:not set|missing|required|undefined|empty|must be set)", re.I),
        re.compile(r"(?:missing|required|undefined)(?: required)? (?:environment variable|env(?: var)?)s?:?\s+"
                   r"['\"`]?([A-Z][A-Z0-9_]{2,})", re.I),
        re.compile(r"required key ([A-Z][A-Z0-9_]{2,}) missing value"),
        re.compile(r"Could not resolve placeholder '([\w.-]+)'"))
_KEY = (re.compile(r"couldn't find key ([\w.-]+) in (?:Secret|ConfigMap) ([\w./-]+)"),
        re.compile(r"KeyError: ['\"]([\w.-]+)['\"]"),
        re.compile(r"(?:key|setting|option) ['\"`]?([\w.-]+)['\"`]? (?:not found|is missing|missing)", re.I))
_FILE = re.compile(r"(?:No such file or directory|ENOENT|FileNotFoundError|cannot open|can't open)", re.I)
_PATH = re.compile(r"['\"]?(/[\w.@+-]+(?:/[\w.@+-]+)+)['\"]?")
_REFUSED = re.compile(r"connection refused|ECONNREFUSED|Connection to \S+ refused|actively refused|"
                      r"All host\(s\) tried for .{0,60}failed|NoHostAvailable", re.I)
_TIMEOUT = re.compile(r"(?:connect(?:ion)?|dial)\b.{0,80}(?:timed out|timeout|ETIMEDOUT)|ETIMEDOUT", re.I)
_PORT = re.compile(r"(?:port\s+|:)(\d{2,5})\b")
_QUOTED_HOST = re.compile(r"(?:server at|host[= ]?|to)\s*[\"'`]([A-Za-z][\w-]*(?:\.[\w-]+)*)[\"'`]")


@dataclass
class Explanation:
    kind: str          # shell_syntax | command_not_found | missing_env | missing_key | missing_file | refused | timeout
    line: str          # the decisive line, verbatim
    detail: str = ""   # the command, variable, key, path or host:port it names
    hint: str = ""     # e.g. "did you mean pg_dump?"

    @property
    def config(self) -> bool:
        return self.kind in ("shell_syntax", "command_not_found", "missing_env", "missing_key", "missing_file")

    def describe(self) -> str:
        what = {"shell_syntax": "a shell syntax error in its script",
                "command_not_found": f"command {self.detail} not found",
                "missing_env": f"environment variable {self.detail} is missing",
                "missing_key": f"config key {self.detail} is missing",
                "missing_file": f"file {self.detail} does not exist" if self.detail else "a file does not exist",
                "refused": f"{self.detail or 'its dependency'} refuses connections",
                "timeout": f"connections to {self.detail or 'its dependency'} time out"}[self.kind]
        typo = "probably a typo: " if self.kind == "command_not_found" else ""   # a near-miss is known
        return what + (f" ({typo}{self.hint})" if self.hint else "")


def near_miss(word: str, known: list[str]) -> str | None:
    """The command a one-letter slip most likely meant: from what the workload ran before, then
    from common tools."""
    base = word.rsplit("/", 1)[-1]
    for pool in (known, list(COMMON_COMMANDS)):
        cands = [w for w in dict.fromkeys(pool) if w != base]
        match = difflib.get_close_matches(base, cands, n=1, cutoff=0.8)
        if match:
            return match[0]
    return None


def explain(lines: list[str], exit_code: int | None = None, known_words: list[str] | None = None) -> Explanation | None:
    """The first decisive reason in a crashed run's lines (checked in order of specificity)."""
    clean = [ln.rstrip() for ln in lines if ln and ln.strip()]
    for ln in clean:
        if _SHELL_SYNTAX.search(ln):
            return Explanation("shell_syntax", clip_middle(ln, LINE_MAX))
    for ln in clean:
        for rx in _NOT_FOUND:
            m = rx.search(ln)
            if m:
                word = m.group(1)
                guess = near_miss(word, known_words or [])
                return Explanation("command_not_found", clip_middle(ln, LINE_MAX), word,
                                   f"did you mean {guess}?" if guess else "")
    for ln in clean:
        for rx in _ENV:
            m = rx.search(ln)
            if m:
                return Explanation("missing_env", clip_middle(ln, LINE_MAX), m.group(1))
    for ln in clean:
        for rx in _KEY:
            m = rx.search(ln)
            if m:
                return Explanation("missing_key", clip_middle(ln, LINE_MAX), m.group(1))
    for ln in clean:
        if _FILE.search(ln) and not _REFUSED.search(ln):
            m = _PATH.search(ln)
            return Explanation("missing_file", clip_middle(ln, LINE_MAX), m.group(1) if m else "")
    for kind, rx in (("refused", _REFUSED), ("timeout", _TIMEOUT)):
        for i, ln in enumerate(clean):
            if rx.search(ln):
                # The host and port often sit on the line (psycopg2, Go, PgJDBC) or the one before.
                ctx = " ".join(clean[max(0, i - 1):i + 1])
                return Explanation(kind, clip_middle(ln, LINE_MAX), target(ctx) or "")
    return None


def target(text: str) -> str | None:
    """host:port a connection error names ('connection to server at "db" (10.0.0.1), port 5433')."""
    hosts = [m.group(1) for m in _QUOTED_HOST.finditer(text)] + hosts_in(text)
    port = next((m.group(1) for m in _PORT.finditer(text)), None)
    if hosts:
        return f"{hosts[0]}:{port}" if port and ":" not in hosts[0] else hosts[0]
    ip = re.search(r"\b(\d{1,3}(?:\.\d{1,3}){3}):(\d{2,5})\b", text)
    return f"{ip.group(1)}:{ip.group(2)}" if ip else None
