"""Mask secrets in raw text, once, before anything parses, templates, cuts or stores it.

Alert intake (tools.intake), /diagnose text and every tool's raw backend text (log lines,
events, object fields) pass here first; the tool registry runs a second pass on results.
Rules, applied in order:
* shape rules for credentials recognisable on their own (PEM keys, JWTs, cloud and SaaS
  tokens, webhook URLs, passwords inside URLs, Authorization headers);
* context rules for values that are secret because of the name in front of them
  (``password=...``, ``"api_key": "..."``, ``{token="..."}``, ``--password x``);
* the regex detectors of detect-secrets (tools.redact_vendor: SendGrid, Twilio, Telegram...);
* custom patterns (REDACT_EXTRA_PATTERNS);
* bare key material: base64 lines of a PEM body, and a random-looking token on its own
  (looks_like_token: an AWS secret key or a token pasted into a sentence).

Replacements keep the key and say what was masked (``password=[REDACTED]``,
``Bearer [REDACTED:bearer]``) so a reader still understands the line. Ordinary log
content (IPs, durations, pod names, UUIDs, hashes, "Failed password for root") is left alone:
no line of Loghub's 24,000 changes. Each rule runs only on text holding its needles, which
keeps redacting every raw log line cheap next to template mining.
"""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from typing import Any, Callable, Iterable, NamedTuple

from tools.redact_vendor import vendor_patterns

REDACTED = "[REDACTED]"


def _tag(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Words that make a key name secret. Matched against the whole key or its last part
# (db_password, dbPassword, AWS_SECRET_ACCESS_KEY, x-api-key), never a substring of a word
# (bypass, tokens_used, author).
_SECRET_WORDS = (
    r"password|passwd|passphrase|pwd|secret|secrets|token|api[_-]?key|apikey|access[_-]?key|"
    r"secret[_-]?key|private[_-]?key|private[_-]?key[_-]?id|client[_-]?secret|credentials?|"
    r"auth[_-]?token|authorization|cookie|account[_-]?key|"
    r"shared[_-]?access[_-]?key|sas[_-]?token|signature|connection[_-]?string|conn[_-]?str|"
    r"jwt|bearer|webhook[_-]?url|security[_-]?token|x-amz-security-token|x-amz-credential"
)
# Docker-config style "auth"/"auths" is a secret as a JSON or dict key, but in free text
# (Hadoop's "(auth:SIMPLE)", "sshd:auth") it names a mechanism.
_STRUCTURED_ONLY_WORDS = r"auth|auths"


def _key(words: str) -> str:
    """A key: optional separated/camelCase prefix, then a secret word ending the key."""
    return rf"(?:[A-Za-z0-9]+[_.-])*(?:[a-z0-9]+(?=[A-Z]))?(?i:{words})(?![A-Za-z0-9_.-])"


_KEY = _key(_SECRET_WORDS)
_STRUCTURED_KEY = _key(_SECRET_WORDS + "|" + _STRUCTURED_ONLY_WORDS)
_NAME_RE = re.compile(rf"^{_STRUCTURED_KEY}$")

_HIGH_ENTROPY_MIN_LEN = 16
_TOKEN_MIN_LEN = 20
_TOKEN_MIN_SWITCHES = 0.2
_LOWER, _UPPER = re.compile(r"[a-z]"), re.compile(r"[A-Z]")

# Unquoted values that say something about a secret without being one ("auth: disabled").
_NOT_SECRET_VALUES = frozenset({"null", "none", "nil", "<nil>", "true", "false", "ok", "success", "failed",
                                "required", "optional", "disabled", "enabled", "missing", "invalid",
                                "expired", "empty", "set", "unset", "yes", "no"})
_AUTH_SCHEMES = ("bearer", "basic", "token", "digest", "negotiate", "aws4-hmac-sha256")

# Whitespace inside one line: apart from PEM blocks (multi-line by nature) no rule reaches across a
# newline, so a multi-line text (a pod log, a stack trace) is redacted like each of its lines.
_SP = r"[^\S\n]"


class Rule(NamedTuple):
    """A regex and its replacement, run only on text that can match: text holding one of the
    needles (when there are any) in which the gate (when there is one) finds something. Most log
    lines hold no needle, so most regexes never run: that keeps redacting every raw line before
    template mining cheap."""
    regex: re.Pattern[str]
    repl: str | Callable[[re.Match[str]], str]
    low_needles: tuple[str, ...] = ()  # looked for in the lowercased text
    exact_needles: tuple[str, ...] = ()
    gate: re.Pattern[str] | None = None  # lowercase pattern, searched in the lowercased text


def rule(regex: re.Pattern[str], repl: Any, needles: Iterable[str] = (), gate: re.Pattern[str] | None = None) -> Rule:
    """A Rule; lowercase needles match any case, the others (AKIA, --) exactly."""
    needles = tuple(needles)
    return Rule(regex, repl, tuple(n for n in needles if n.islower()), tuple(n for n in needles if not n.islower()),
                gate)


# Stems of _SECRET_WORDS: a context rule cannot match text holding none of them, nor text where
# none of the words is followed by ':' or '='.
_SECRET_NEEDLES = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "cookie", "sign", "conn", "jwt",
                   "bearer", "webhook")
# Every bare token, key-material line and long vendor token holds such a run; most log lines do not.
_LONG_RUN = re.compile(r"[a-z0-9+/_-]{20}")
_ASSIGNED = re.compile(rf"(?:{_SECRET_WORDS}|{_STRUCTURED_ONLY_WORDS}|key)[\"']?{_SP}*[:=]")


# PEM private keys, possibly inside JSON with literal \n, possibly cut off before END. The body is
# base64, whitespace and legacy headers (DEK-Info: AES-128-CBC,...) and never "-----", so the search
# for END stops at the next marker: linear time, however many BEGINs a hostile text holds.
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
                  r"(?:(?:[A-Za-z0-9+/=\s\\:,]|-(?!----))*?-----END \1-----|[A-Za-z0-9+/=\s\\]*)")


def _rules() -> list[Rule]:
    r: list[Rule] = []

    def add(pattern: str, repl: Any, *needles: str, flags: int = 0, gate: re.Pattern[str] | None = None) -> None:
        r.append(rule(re.compile(pattern, flags), repl, needles, gate))

    r.append(rule(_PEM, _tag("private_key"), ["PRIVATE KEY"]))
    add(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", _tag("jwt"), "eyJ")
    # Webhook URLs carry their secret in the path.
    add(r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
        "https://hooks.slack.com/" + _tag("slack_webhook"), "hooks.slack.com")
    add(r"https?://[\w.-]*\.webhook\.office\.com/[^\s\"'<>]+", _tag("teams_webhook"), "webhook.office.com")
    add(r"https?://outlook\.office(?:365)?\.com/webhook/[^\s\"'<>]+", _tag("teams_webhook"), "outlook.office")
    add(r"https?://[\w.-]+\.logic\.azure\.com(?::\d+)?/workflows/[^\s\"'<>]+", _tag("teams_webhook"), "logic.azure.com")
    # Vendor token shapes. Slack tokens may contain '<' '>': a line that was template-mined before
    # it got here (xoxb-<NUM>-<NUM>-tail) still holds the secret tail.
    add(r"\bxox[abposr]-[A-Za-z0-9<>-]{10,}", _tag("slack_token"), "xox")
    add(r"\bxapp-[A-Za-z0-9<>-]{10,}", _tag("slack_token"), "xapp-")
    add(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", _tag("github_token"), "ghp_", "gho_", "ghu_", "ghs_", "ghr_")
    add(r"\bgithub_pat_[A-Za-z0-9_]{22,}", _tag("github_token"), "github_pat_")
    add(r"\bglpat-[A-Za-z0-9_-]{20,}", _tag("gitlab_token"), "glpat-")
    add(r"\bsk-ant-[A-Za-z0-9_-]{20,}", _tag("anthropic_key"), "sk-ant-")
    add(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", _tag("openai_key"), "sk-")
    add(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", _tag("stripe_key"), "_live_", "_test_")
    add(r"\bwhsec_[A-Za-z0-9]{20,}", _tag("stripe_key"), "whsec_")
    add(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b", _tag("aws_access_key_id"),
        "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA")
    add(r"\bAIza[0-9A-Za-z_-]{35}\b", _tag("gcp_api_key"), "AIza")
    add(r"\bya29\.[0-9A-Za-z_-]{20,}", _tag("gcp_oauth_token"), "ya29.")
    add(r"\bnpm_[A-Za-z0-9]{36}\b", _tag("npm_token"), "npm_")
    # Azure SAS signatures in URLs / connection strings.
    add(r"(?i)([?&;]sig=)[^&\s\"';]+", lambda m: m.group(1) + REDACTED, "sig=")
    # user:password@ in any URL or DSN (postgres://u:p@h, redis://:p@h, amqp://...).
    add(r"(\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@\"']*):([^\s@/\"']+)@",
        lambda m: m.group(1) + ":" + REDACTED + "@", "@")
    # DSNs (Sentry, database) are credentials when they are URLs; sendmail's dsn=4.0.0 is not.
    add(rf"(?i)((?<![A-Za-z0-9])dsn[\"']?{_SP}*[:=]{_SP}*[\"']?)[a-z][a-z0-9+.-]*://[^\s\"']+",
        lambda m: m.group(1) + _tag("dsn"), "dsn")
    # Authorization headers: keep the scheme, mask the credential. A bare "Bearer"/"Basic"
    # must be followed by something token-like (digits, symbols or mixed case), so prose
    # such as "basic authentication" survives.
    token_like = r"(?=\S*(?:[a-z][A-Z]|[\d=+/_.~-]))"
    add(rf"\b(Bearer|bearer|BEARER){_SP}+{token_like}[A-Za-z0-9._~+/=-]{{8,}}",
        lambda m: m.group(1) + " " + _tag("bearer"), "bearer")
    add(rf"\b(Basic|basic|BASIC){_SP}+{token_like}[A-Za-z0-9+/]{{8,}}={{0,2}}",
        lambda m: m.group(1) + " " + _tag("basic"), "basic")
    add(rf"(?i)(\b(?:proxy-)?authorization[\"']?{_SP}*[:=]{_SP}*[\"']?)"
        rf"(?!(?:(?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256){_SP}+)?\[REDACTED)"
        rf"((?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256){_SP}+)?([^\s\"',;]+)",
        lambda m: m.group(1) + (m.group(2) or "") + _tag("auth"), "authorization")
    add(r"(?im)^([^\S\n]*(?:set-)?cookie[^\S\n]*:[^\S\n]*)\S.*$", lambda m: m.group(1) + REDACTED, "cookie")
    add(r"(?i)([\"'](?:set-)?cookie[\"']\s*:\s*[\"'])[^\"']+", lambda m: m.group(1) + REDACTED, "cookie")
    # Command-line flags: --password hunter2, --token=abc.
    add(rf"(--{_KEY})(=|{_SP}+)(?!-)([^\s\"']+)", lambda m: m.group(1) + m.group(2) + REDACTED, "--")
    # "key": "value" (JSON) and key="value" / key='value' (logfmt, Prometheus labels).
    ctx = {"gate": _ASSIGNED}
    add(rf"(\"{_STRUCTURED_KEY}\"{_SP}*:{_SP}*)\"((?:[^\"\\]|\\.)*)\"", _keep_key_quoted, *_SECRET_NEEDLES, **ctx)
    add(rf"(?<![\w.-])({_KEY}[\"']?{_SP}*[:=]{_SP}*)\"((?:[^\"\\]|\\.)*)\"", _keep_key_quoted, *_SECRET_NEEDLES,
        **ctx)
    add(rf"(?<![\w.-])({_KEY}[\"']?{_SP}*[:=]{_SP}*)'([^']*)'", _keep_key_single, *_SECRET_NEEDLES, **ctx)
    # key=value / key: value unquoted, up to a separator (ADO ';', URL '&', JSON ',' '}}').
    add(rf"(?<![\w.-])({_KEY}{_SP}*[:=]{_SP}*)(?![\"'\s])([^\s,;&}}\]\)]+)", _keep_key_plain, *_SECRET_NEEDLES,
        **ctx)
    # Generic *key=<random-looking value>: encryption_key, license_key, AccountKey...
    add(rf"(?<![\w.-])((?:[A-Za-z0-9]+[_.-])*[A-Za-z0-9]*(?:key|Key|KEY)[\"']?{_SP}*[:=]{_SP}*[\"']?)"
        r"([A-Za-z0-9+/=_.-]{16,})", _keep_key_if_random, "key", **ctx)
    return r


def _tail_rules() -> list[Rule]:
    """After every named shape, so those keep their own tags: lines of bare key material, then a
    random-looking token on its own (an AWS secret key, a Twilio secret, a token in a sentence)."""
    # Line-oriented sources (pod logs, templates) hand us a PEM body one line at a time, cut off
    # from its BEGIN marker: base64 with both cases and a digit, 32+ chars, alone on its line. Pure
    # hex (digests, ids) is left alone: it is common, non-secret content in logs.
    key_material = re.compile(rf"(?m)^{_SP}*(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*\d)"
                              rf"[A-Za-z0-9+/]{{32,}}={{0,2}}{_SP}*$")
    token = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/_=-])")
    return [rule(key_material, lambda m: _tag("key_material") if looks_random(m.group(0).strip()) else m.group(0),
                 gate=_LONG_RUN),
            rule(token, _mask_if_token, gate=_LONG_RUN)]


# A vendor match made only of hex, dashes and colons is a hash, UUID or hardware id (Telegram's
# pattern matches "01000010:6005-08b4-0001-..." in BGL), not a credential.
_HEXLIKE = re.compile(r"[0-9a-fA-F:-]+")
_DELIMITERS = " \t=:\"'"


def _vendor_repl(kind: str) -> Callable[[re.Match[str]], str]:
    tag = _tag(kind)

    def repl(m: re.Match[str]) -> str:
        text, base = m.group(0), m.start()
        if _HEXLIKE.fullmatch(text):
            return text
        # The secret is the longest group of 16+ characters (AWS, npm), else the whole match less
        # the delimiters some patterns include ((?:\s|=|:|"|^)AKC...).
        spans = [m.span(i) for i in range(1, m.re.groups + 1) if m.end(i) - m.start(i) >= 16]
        start, end = max(spans, key=lambda sp: sp[1] - sp[0]) if spans else m.span()
        if not spans:
            while start < end and text[start - base] in _DELIMITERS:
                start += 1
            while end > start and text[end - 1 - base] in _DELIMITERS:
                end -= 1
        return text[:start - base] + tag + text[end - base:]

    return repl


def _masked_already(value: str) -> bool:
    return value.startswith("[REDACTED") or value.split(" ", 1)[0].lower() in _AUTH_SCHEMES


def _keep_key_quoted(m: re.Match[str]) -> str:
    value = m.group(2)
    if not value or _masked_already(value):
        return m.group(0)
    return f'{m.group(1)}"{REDACTED}"'


def _keep_key_single(m: re.Match[str]) -> str:
    value = m.group(2)
    if not value or _masked_already(value):
        return m.group(0)
    return f"{m.group(1)}'{REDACTED}'"


def _keep_key_plain(m: re.Match[str]) -> str:
    value = m.group(2)
    if _masked_already(value) or value.lower() in _NOT_SECRET_VALUES:
        return m.group(0)
    return m.group(1) + REDACTED


def _keep_key_if_random(m: re.Match[str]) -> str:
    return m.group(1) + REDACTED if looks_random(m.group(2)) else m.group(0)


def looks_random(value: str) -> bool:
    """High-entropy token: long, mixes character classes, few repeats (keys, not words)."""
    if len(value) < _HIGH_ENTROPY_MIN_LEN or value.startswith("[REDACTED"):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[+/=_-]"))
    if classes < 2 or not re.search(r"\d", value):
        return False
    counts = Counter(value)
    entropy = -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())
    return entropy >= 3.0


def looks_like_token(value: str) -> bool:
    """A credential with no name in front of it (an AWS secret key, a Twilio secret, a token pasted
    into a sentence): 20+ characters mixing upper case, lower case and digits that switch class
    the way random text does. Names, paths and words rarely switch lower->upper or letter<->digit
    (GeneratedMethodAccessor12, /home/HPCC_IBM/64K/vnm: at most 0.16 of adjacent pairs in Loghub);
    random tokens of 20+ characters do so at 0.2 or more in 99% of cases. Hashes and UUIDs have
    one case and are evidence, so they stay."""
    core = value.rstrip("=")
    if len(core) < _TOKEN_MIN_LEN or not (_LOWER.search(core) and _UPPER.search(core)) or not looks_random(core):
        return False
    switches = sum(1 for a, b in zip(core, core[1:])
                   if (a.islower() and b.isupper()) or (a.isalnum() and b.isalnum() and a.isdigit() != b.isdigit()))
    return switches >= _TOKEN_MIN_SWITCHES * (len(core) - 1)


def _mask_if_token(m: re.Match[str]) -> str:
    return _tag("token") if looks_like_token(m.group(0)) else m.group(0)


@functools.lru_cache(maxsize=4096)  # object keys repeat (every pod has env, name, value...)
def is_secret_name(name: str) -> bool:
    """True for names like password, DB_PASSWORD, dbPassword, x-api-key, client_secret."""
    return bool(_NAME_RE.match(name.strip()))


_CACHED_MAX = 1000
_BOUNDARY_WINDOW = 4096
_NAMED_RULES = _rules() + [rule(p.regex, _vendor_repl(p.kind), p.needles, _LONG_RUN if p.long_token else None)
                           for p in vendor_patterns()]
_TAIL_RULES = _tail_rules()


class Redactor:
    def __init__(self, extra_patterns: Iterable[str] = ()):
        extra = []
        for pattern in extra_patterns:
            regex = re.compile(pattern)
            extra.append(rule(regex, _custom_repl if "secret" in regex.groupindex else _tag("custom")))
        # Custom patterns go before the generic token rule, so their matches keep the custom tag.
        self.rules: list[Rule] = [*_NAMED_RULES, *extra, *_TAIL_RULES]
        # Which rules each needle lets run, so a line costs one substring test per distinct needle
        # plus the rules it can actually match, not a test per rule.
        self._always = [i for i, r in enumerate(self.rules) if not (r.low_needles or r.exact_needles)]
        self._low_needles: dict[str, list[int]] = {}
        self._exact_needles: dict[str, list[int]] = {}
        for i, r in enumerate(self.rules):
            for n in r.low_needles:
                self._low_needles.setdefault(n, []).append(i)
            for n in r.exact_needles:
                self._exact_needles.setdefault(n, []).append(i)
        # Log lines and object fields repeat (a crash loop prints one line thousands of times).
        self._cached = functools.lru_cache(maxsize=8192)(self._redact)

    def redact(self, text: str) -> str:
        if not text:
            return text
        return self._cached(text) if len(text) <= _CACHED_MAX else self._redact(text)

    def redact_lines(self, text: str) -> str:
        """A line-oriented text (a pod log) line by line, so each line gets its own needles, gates and
        cache entry; PEM blocks, the one shape that spans lines, are masked across lines first."""
        if "PRIVATE KEY" in text:
            text = _PEM.sub(_tag("private_key"), text)
        return "\n".join(self.redact(line) for line in text.split("\n"))

    def _redact(self, text: str) -> str:
        # Needles and gates look at the text as it came: replacements add no secrets.
        original, low = text, text.lower()
        hits = [i for n, rules in self._low_needles.items() if n in low for i in rules]
        hits += [i for n, rules in self._exact_needles.items() if n in original for i in rules]
        gates: dict[re.Pattern[str], bool] = {}
        for i in sorted({*self._always, *hits}) if hits else self._always:
            regex, repl, _, _, gate = self.rules[i]
            if gate is not None:
                hit = gates.get(gate)
                if hit is None:
                    hit = gates[gate] = gate.search(low) is not None
                if not hit:
                    continue
            text = regex.sub(repl, text)
        return text

    def redact_obj(self, obj: Any, clip: int | None = None) -> Any:
        """Redact strings inside dicts/lists. A secret-named key masks its whole value, and
        so does a {"name": "DB_PASSWORD", "value": ...} pair (Kubernetes env, HTTP headers).
        With `clip`, longer strings are first cut to that length (clip_at_boundary), which bounds
        the work on a hostile payload for readers that never look further."""
        if isinstance(obj, str):
            return self.redact(obj if clip is None else clip_at_boundary(obj, clip))
        if isinstance(obj, dict):
            return self._redact_dict(obj, clip)
        if isinstance(obj, (list, tuple)):
            out = [self.redact_obj(v, clip) for v in obj]
            return out if isinstance(obj, list) else tuple(out)
        return obj

    def _redact_dict(self, obj: dict, clip: int | None) -> dict:
        # "label" covers Prometheus label-value listings: {"label": "token", "values": [...]}.
        named = next((obj[k] for k in ("name", "key", "Name", "Key", "label") if isinstance(obj.get(k), str)), None)
        pair_secret = named is not None and is_secret_name(named)
        secret_kind = str(obj.get("kind", "")).lower() == "secret"
        out: dict = {}
        for k, v in obj.items():
            if isinstance(k, str) and is_secret_name(k) and v not in (None, "", [], {}):
                out[k] = REDACTED
            elif pair_secret and k in ("value", "Value", "values") and v not in (None, "", []):
                out[k] = [REDACTED] * len(v) if isinstance(v, list) else REDACTED
            elif secret_kind and k in ("data", "stringData") and isinstance(v, dict):
                out[k] = {dk: REDACTED for dk in v}
            else:
                out[k] = self.redact_obj(v, clip)
        return out


def clip_at_boundary(text: str, limit: int) -> str:
    """At most `limit` characters, cut at the last whitespace before the limit: half a secret no
    longer looks like one, so a cut must not fall inside a word (hard only when the last
    _BOUNDARY_WINDOW characters hold no whitespace: no secret shape is that long)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind(c, max(0, limit - _BOUNDARY_WINDOW)) for c in " \n\t")
    return head[:cut] if cut > 0 else head


def _custom_repl(m: re.Match[str]) -> str:
    start, end = m.span("secret")
    s0 = m.start()
    text = m.group(0)
    return text[: start - s0] + _tag("custom") + text[end - s0:]


_default = Redactor()


def configure(extra_patterns: Iterable[str] = ()) -> Redactor:
    """Set the process-wide redactor (alert intake, chat text, tools given no other) and return it."""
    global _default
    _default = Redactor(extra_patterns)
    return _default


def default_redactor() -> Redactor:
    return _default


def redact(text: str) -> str:
    return _default.redact(text)


def redact_obj(obj: Any) -> Any:
    return _default.redact_obj(obj)
