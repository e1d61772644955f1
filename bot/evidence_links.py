"""Which evidence links a chat message may carry: http(s) URLs on the configured backends' hosts.

A model writes `Diagnosis.evidence[].link`, and a prompt-injected log line can make it a phishing
page or a `javascript:` URL that a chat client shows as a trusted "open" link under the bot's
name. So a link survives only when it is a plain http(s) URL without credentials whose host is
PROMETHEUS_URL's, OPENSEARCH_URL's or one listed in EVIDENCE_LINK_HOSTS (Grafana, Kibana...);
any other link is dropped and its evidence shown without it. The workflow applies this before any
surface renders a diagnosis, so every chat platform gets the same links.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Iterable
from urllib.parse import urlsplit

from agents.diagnosis import Diagnosis

log = logging.getLogger(__name__)

MAX_URL = 1500  # longer URLs (huge PromQL graphs) are not worth a link
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def _host(entry: str) -> str | None:
    """The lower-case host of a URL, `host:port` or bare host; None if there is none."""
    entry = entry.strip()
    if not entry:
        return None
    try:
        return urlsplit(entry if "://" in entry else f"//{entry}").hostname
    except ValueError:
        return None


def link_hosts(*urls: str | None, extra: Iterable[str] = ()) -> frozenset[str]:
    """Hosts evidence links may point to: those of the backend URLs plus `extra` entries."""
    return frozenset(h for h in map(_host, [u for u in urls if u] + list(extra)) if h)


def hosts_from_settings(settings: Any) -> frozenset[str]:
    return link_hosts(settings.prometheus_url, settings.opensearch_url, extra=settings.evidence_link_hosts)


def safe_url(url: Any, hosts: Iterable[str] | None = None) -> bool:
    """A plain http(s) URL of sane length, without credentials or control characters, and (when
    `hosts` is given) on one of those hosts. Ports are not compared: a backend's UI often listens
    on another port of the same host."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc \
            or "\\" in parts.netloc:  # browsers read `\` as `/`: `https://evil\.prom/` is evil
        return False
    return hosts is None or parts.hostname in hosts


def with_safe_links(d: Diagnosis, hosts: Iterable[str]) -> Diagnosis:
    """`d` with every evidence link that is not safe_url on `hosts` removed (the evidence stays)."""
    hosts = frozenset(hosts)
    bad = [i for i, e in enumerate(d.evidence) if e.link and not safe_url(e.link, hosts)]
    if not bad:
        return d
    log.info("dropped %d evidence link(s) not on an allowed host (%s)", len(bad), ", ".join(sorted(hosts)) or "none")
    evidence = [e.model_copy(update={"link": None}) if i in bad else e for i, e in enumerate(d.evidence)]
    return d.model_copy(update={"evidence": evidence})
