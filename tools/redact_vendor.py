"""Credential shapes maintained upstream: the regex detectors of Yelp's detect-secrets.

We take their patterns, not their scanner: the scanner is built for source files (plugins per
line, keyword heuristics, baseline filters, verification requests) and is far too slow for every
raw log line. tools.redact applies these patterns after its own named rules, so a value those
already masked (keeping its key) is not touched again, and new detectors arrive with upgrades.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

# Detectors left out, and why.
EXCLUDED = {
    "IPPublicDetector": "IP addresses are evidence, not secrets",
    # Keyword assignments (cloudant_password = ..., ibm_cloud_iam_key = ..., sl_api_key = ...): the
    # context rules in tools.redact mask any value assigned to such a name, and these four
    # patterns (which may start anywhere) cost more than all other rules together.
    "CloudantDetector": "keyword assignment, covered by the context rules",
    "IbmCloudIamDetector": "keyword assignment, covered by the context rules",
    "IbmCosHmacDetector": "keyword assignment, covered by the context rules",
    "SoftlayerDetector": "keyword assignment, covered by the context rules",
}
# Where a pattern's own top-level literal is missing or weak: substrings without which the
# detector cannot match (see tools.redact.Rule).
NEEDLES = {
    "AWSKeyDetector": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T", "aws"),
    "GitHubTokenDetector": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    "GitLabTokenDetector": ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-", "glimt-", "glptt-",
                            "glagent-", "gloas-"),
}
# Detectors with no usable literal whose every match holds 20+ token characters in a row: they run
# only on text holding such a run.
LONG_TOKEN = {"TelegramBotTokenDetector", "DiscordBotTokenDetector"}


class VendorPattern(NamedTuple):
    kind: str  # e.g. "sendgrid_api_key", used in the [REDACTED:kind] tag
    regex: re.Pattern[str]
    needles: tuple[str, ...]
    long_token: bool


def vendor_patterns() -> list[VendorPattern]:
    out: list[VendorPattern] = []
    for secret_type, cls in sorted(get_mapping_from_secret_type_to_class().items()):
        if not issubclass(cls, RegexBasedDetector) or cls.__name__ in EXCLUDED:
            continue
        kind = re.sub(r"[^a-z0-9]+", "_", secret_type.lower()).strip("_")
        name = cls.__name__
        out += [VendorPattern(kind, regex, () if name in LONG_TOKEN else NEEDLES.get(name) or _literal(regex),
                              name in LONG_TOKEN) for regex in cls.denylist]
    return out


def _literal(regex: re.Pattern[str]) -> tuple[str, ...]:
    """The longest literal every match must contain ("SG." in SG\\.[a-zA-Z0-9_-]{22}...), as a needle;
    () when there is none or the parser is not there (the rule then runs on every text)."""
    try:
        from re import _parser  # type: ignore[attr-defined]  # Python 3.11+; private, hence the fallback

        items = list(_parser.parse(regex.pattern, regex.flags & ~re.UNICODE))
    except Exception:
        return ()
    runs, run = [], ""
    for op, arg in items:
        if op is _parser.LITERAL:
            run += chr(arg)
        else:
            runs.append(run)
            run = ""
    best = max([*runs, run], key=len)
    if not best:
        return ()
    return (best.lower(),) if regex.flags & re.IGNORECASE else (best,)
