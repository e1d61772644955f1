"""Which of the questions the offline engine can answer a follow-up is, and about what.

"why not X" (also "what about X", "could it be X", "is it X?"), "show the logs of Y", "what changed"
and "which runbook". Anything else needs a model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tools.taxonomy import CATEGORIES, CATEGORY_LABELS

Kind = Literal["why_not", "logs", "changed", "runbook"]
_I = re.I
_WHY_NOT = re.compile(r"\b(?:why (?:not|isn'?t it|is it not|wasn'?t it|not rather)|what about|how about|"
                      r"(?:could|might|can|would) it(?: not)? be|is it(?: not)?|did you (?:rule out|consider|check))\s+"
                      r"(?P<x>[^?!.]+)", _I)
_TARGET = r"(?P<y>[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?)"
_LOGS = (re.compile(r"\blogs?\b\s+(?:of|for|from)\s+(?:the\s+)?(?:pod|deployment|service|app|workload|container)?\s*"
                    + _TARGET, _I),
         re.compile(_TARGET + r"(?:'s)?\s+logs?\b", _I))
_CHANGED = re.compile(r"\bwhat(?:'s| has| have)?\s+changed\b|\bwhat changes\b|\b(?:recent|latest|last)\s+"
                      r"(?:deploy|deployment|change|rollout|release)s?\b|\bany\s+(?:deploys?|changes|rollouts?|releases?)\b|"
                      r"\bchanged recently\b|\brollout history\b", _I)
_ANY_LOGS = re.compile(r"\b(?:show|see|get|give|print|display|read)\b.*\blogs?\b", _I)
_RUNBOOK = re.compile(r"\brun\s?books?\b|\bplaybooks?\b|\bwhich (?:procedure|doc)\b", _I)
_ARTICLE = re.compile(r"^(?:a|an|the|because of|due to|caused by)\s+", _I)
_NOT_LOG_TARGETS = {"the", "these", "those", "its", "their", "some", "any", "more", "all", "error", "recent", "me",
                    "show", "see", "get", "give", "print", "display", "pod", "app"}

# Words people use for a cause; the first category whose words a phrase contains wins.
ALIASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dns_failure", ("dns", "name resolution", "resolv", "coredns", "nxdomain")),
    ("oom_killed", ("oom", "out of memory", "memory")),
    ("image_pull_error", ("image pull", "imagepull", "pull", "registry")),
    ("bad_deploy", ("deploy", "rollout", "release", "new version")),
    ("config_error", ("config", "configuration", "env var", "secret", "configmap")),
    ("cpu_throttling", ("cpu", "throttl")),
    ("connection_pool_exhausted", ("pool", "connection limit", "too many connections")),
    ("slow_query", ("slow quer", "query", "sql", "index")),
    ("dependency_unavailable", ("dependency", "upstream", "downstream", "database", "backend", "network")),
    ("disk_full", ("disk", "volume", "space", "filesystem")),
    ("node_pressure", ("node", "eviction", "evicted")),
    ("unschedulable", ("schedul", "pending")),
    ("certificate_expired", ("certificate", "cert", "tls", "ssl", "x509")),
    ("probe_failure", ("probe", "liveness", "readiness")),
    ("traffic_spike", ("traffic", "load", "spike", "replicas")),
)


@dataclass(frozen=True)
class Intent:
    kind: Kind
    subject: str = ""          # what the question names (a cause, a workload), as typed
    category: str | None = None  # the taxonomy category a "why not" names, if any


def category_of(phrase: str) -> str | None:
    """The taxonomy category a phrase names: its key, its label, or the words people use for it."""
    p = _ARTICLE.sub("", phrase.strip().lower()).strip()
    key = p.replace(" ", "_").replace("-", "_")
    if key in CATEGORIES:
        return key
    for cat, label in CATEGORY_LABELS.items():
        if label.lower() in p:
            return cat
    return next((cat for cat, words in ALIASES if any(w in p for w in words)), None)


def parse(question: str) -> Intent | None:
    q = " ".join(question.split())
    for rx in _LOGS:
        for m in rx.finditer(q):
            target = m.group("y").strip(".")
            if target.lower() not in _NOT_LOG_TARGETS:
                return Intent("logs", target)
    if _ANY_LOGS.search(q):  # "show the logs": of the diagnosed component
        return Intent("logs")
    if _RUNBOOK.search(q):
        return Intent("runbook")
    if _CHANGED.search(q):
        return Intent("changed")
    m = _WHY_NOT.search(q)
    if m:
        phrase = _ARTICLE.sub("", m.group("x").strip()).strip()
        return Intent("why_not", phrase, category_of(phrase))
    return None
