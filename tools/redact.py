"""Mask secrets before any text leaves toward a model.

Two kinds of rules, applied in order:
* shape rules for credentials recognisable on their own (PEM keys, JWTs, cloud and SaaS
  tokens, webhook URLs, passwords inside URLs, Authorization headers);
* context rules for values that are secret because of the name in front of them
  (``password=...``, ``"api_key": "..."``, ``{token="..."}``, ``--password x``).

Replacements keep the key and say what was masked (``password=[REDACTED]``,
``Bearer [REDACTED:bearer]``) so a reader still understands the line. Ordinary log
content (IPs, durations, pod names, "Failed password for root") is left alone.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Callable, Iterable

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

# Unquoted values that say something about a secret without being one ("auth: disabled").
_NOT_SECRET_VALUES = frozenset({"null", "none", "nil", "<nil>", "true", "false", "ok", "success", "failed",
                                "required", "optional", "disabled", "enabled", "missing", "invalid",
                                "expired", "empty", "set", "unset", "yes", "no"})
_AUTH_SCHEMES = ("bearer", "basic", "token", "digest", "negotiate", "aws4-hmac-sha256")

Rule = tuple[re.Pattern[str], "str | Callable[[re.Match[str]], str]"]


def _rules() -> list[Rule]:
    r: list[Rule] = []

    def add(pattern: str, repl: Any, flags: int = 0) -> None:
        r.append((re.compile(pattern, flags), repl))

    # PEM private keys, possibly inside JSON with literal \n, possibly cut off before END.
    add(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----(?:.*?-----END \1-----|[A-Za-z0-9+/=\s\\]*)",
        _tag("private_key"), re.S)
    add(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", _tag("jwt"))
    # Webhook URLs carry their secret in the path.
    add(r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
        "https://hooks.slack.com/" + _tag("slack_webhook"))
    add(r"https?://[\w.-]*\.webhook\.office\.com/[^\s\"'<>]+", _tag("teams_webhook"))
    add(r"https?://outlook\.office(?:365)?\.com/webhook/[^\s\"'<>]+", _tag("teams_webhook"))
    add(r"https?://[\w.-]+\.logic\.azure\.com(?::\d+)?/workflows/[^\s\"'<>]+", _tag("teams_webhook"))
    # Vendor token shapes.
    add(r"\bxox[abposr]-[A-Za-z0-9-]{10,}", _tag("slack_token"))
    add(r"\bxapp-\d-[A-Za-z0-9-]{10,}", _tag("slack_token"))
    add(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", _tag("github_token"))
    add(r"\bgithub_pat_[A-Za-z0-9_]{22,}", _tag("github_token"))
    add(r"\bglpat-[A-Za-z0-9_-]{20,}", _tag("gitlab_token"))
    add(r"\bsk-ant-[A-Za-z0-9_-]{20,}", _tag("anthropic_key"))
    add(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", _tag("openai_key"))
    add(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", _tag("stripe_key"))
    add(r"\bwhsec_[A-Za-z0-9]{20,}", _tag("stripe_key"))
    add(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b", _tag("aws_access_key_id"))
    add(r"\bAIza[0-9A-Za-z_-]{35}\b", _tag("gcp_api_key"))
    add(r"\bya29\.[0-9A-Za-z_-]{20,}", _tag("gcp_oauth_token"))
    add(r"\bnpm_[A-Za-z0-9]{36}\b", _tag("npm_token"))
    # Azure SAS signatures in URLs / connection strings.
    add(r"(?i)([?&;]sig=)[^&\s\"';]+", lambda m: m.group(1) + REDACTED)
    # user:password@ in any URL or DSN (postgres://u:p@h, redis://:p@h, amqp://...).
    add(r"(\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@\"']*):([^\s@/\"']+)@",
        lambda m: m.group(1) + ":" + REDACTED + "@")
    # DSNs (Sentry, database) are credentials when they are URLs; sendmail's dsn=4.0.0 is not.
    add(r"(?i)((?<![A-Za-z0-9])dsn[\"']?\s*[:=]\s*[\"']?)[a-z][a-z0-9+.-]*://[^\s\"']+", lambda m: m.group(1) + _tag("dsn"))
    # Authorization headers: keep the scheme, mask the credential. A bare "Bearer"/"Basic"
    # must be followed by something token-like (digits, symbols or mixed case), so prose
    # such as "basic authentication" survives.
    token_like = r"(?=\S*(?:[a-z][A-Z]|[\d=+/_.~-]))"
    add(rf"\b(Bearer|bearer|BEARER)\s+{token_like}[A-Za-z0-9._~+/=-]{{8,}}", lambda m: m.group(1) + " " + _tag("bearer"))
    add(rf"\b(Basic|basic|BASIC)\s+{token_like}[A-Za-z0-9+/]{{8,}}={{0,2}}", lambda m: m.group(1) + " " + _tag("basic"))
    add(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
        r"(?!(?:(?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256)\s+)?\[REDACTED)"
        r"((?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256)\s+)?([^\s\"',;]+)",
        lambda m: m.group(1) + (m.group(2) or "") + _tag("auth"))
    add(r"(?im)^(\s*(?:set-)?cookie\s*:\s*)\S.*$", lambda m: m.group(1) + REDACTED)
    add(r"(?i)([\"'](?:set-)?cookie[\"']\s*:\s*[\"'])[^\"']+", lambda m: m.group(1) + REDACTED)
    # Command-line flags: --password hunter2, --token=abc.
    add(rf"(--{_KEY})(=|\s+)(?!-)([^\s\"']+)", lambda m: m.group(1) + m.group(2) + REDACTED)
    # "key": "value" (JSON) and key="value" / key='value' (logfmt, Prometheus labels).
    add(rf"(\"{_STRUCTURED_KEY}\"\s*:\s*)\"((?:[^\"\\]|\\.)*)\"", _keep_key_quoted)
    add(rf"(?<![\w.-])({_KEY}[\"']?\s*[:=]\s*)\"((?:[^\"\\]|\\.)*)\"", _keep_key_quoted)
    add(rf"(?<![\w.-])({_KEY}[\"']?\s*[:=]\s*)'([^']*)'", _keep_key_single)
    # key=value / key: value unquoted, up to a separator (ADO ';', URL '&', JSON ',' '}').
    add(rf"(?<![\w.-])({_KEY}\s*[:=]\s*)(?![\"'\s])([^\s,;&}}\]\)]+)", _keep_key_plain)
    # Generic *key=<random-looking value>: encryption_key, license_key, AccountKey...
    add(r"(?<![\w.-])((?:[A-Za-z0-9]+[_.-])*[A-Za-z0-9]*(?:key|Key|KEY)[\"']?\s*[:=]\s*[\"']?)([A-Za-z0-9+/=_.-]{16,})",
        _keep_key_if_random)
    return r


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


def is_secret_name(name: str) -> bool:
    """True for names like password, DB_PASSWORD, dbPassword, x-api-key, client_secret."""
    return bool(_NAME_RE.match(name.strip()))


_DEFAULT_RULES = _rules()
# Base64 with both cases and a digit, 32+ chars, alone on its line. Pure hex (digests, ids) is
# left alone: it is common, non-secret content in logs.
_KEY_MATERIAL_LINE = re.compile(r"^\s*(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*\d)"
                                r"[A-Za-z0-9+/]{32,}={0,2}\s*$")


class Redactor:
    def __init__(self, extra_patterns: Iterable[str] = ()):
        self.rules: list[Rule] = list(_DEFAULT_RULES)
        for pattern in extra_patterns:
            regex = re.compile(pattern)
            self.rules.append((regex, _custom_repl if "secret" in regex.groupindex else _tag("custom")))

    def redact(self, text: str) -> str:
        if not text:
            return text
        for regex, repl in self.rules:
            text = regex.sub(repl, text)
        # Line-oriented sources (pod logs, templates) hand us a PEM body one line at a time,
        # cut off from its BEGIN marker; a line that is nothing but key material goes too.
        if _KEY_MATERIAL_LINE.match(text) and looks_random(text.strip()):
            return _tag("key_material")
        return text

    def redact_obj(self, obj: Any) -> Any:
        """Redact strings inside dicts/lists. A secret-named key masks its whole value, and
        so does a {"name": "DB_PASSWORD", "value": ...} pair (Kubernetes env, HTTP headers)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return self._redact_dict(obj)
        if isinstance(obj, (list, tuple)):
            out = [self.redact_obj(v) for v in obj]
            return out if isinstance(obj, list) else tuple(out)
        return obj

    def _redact_dict(self, obj: dict) -> dict:
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
                out[k] = self.redact_obj(v)
        return out


def _custom_repl(m: re.Match[str]) -> str:
    start, end = m.span("secret")
    s0 = m.start()
    text = m.group(0)
    return text[: start - s0] + _tag("custom") + text[end - s0:]


_default = Redactor()


def redact(text: str) -> str:
    return _default.redact(text)


def redact_obj(obj: Any) -> Any:
    return _default.redact_obj(obj)
