"""Write calls through the official client, and the plan an action builds before writing.

`Kube` (tools/k8s/client.py) labels every request as a GET; an action's audit trail must say
PATCH or DELETE and show `?dryRun=All`, so writes go through `ActionKube.send`, which shares the
error mapping (403/404/409/timeouts/unreachable) with the read tools.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

import urllib3
from kubernetes.client.exceptions import ApiException

from tools.k8s.client import ApiFailure, Kube

DRY_RUN = "All"


class Refusal(Exception):
    """The current state makes the action wrong or impossible; nothing is written."""


@dataclass
class Plan:
    """The exact write an action will send, built from the state just read."""

    method: str
    path: str
    call: Callable[..., Any]
    kwargs: dict[str, Any]
    content_type: str | None = None
    body: Any = None
    # Written into req.parameters: what the executor saw (previous replicas, revision, ...).
    observed: dict[str, Any] = field(default_factory=dict)
    # Set only if absent: choices made on the proposer's behalf (container, target revision).
    pinned: dict[str, Any] = field(default_factory=dict)
    # Desired state already holds: nothing to send.
    noop: str | None = None
    before: Any = None
    warnings: list[str] = field(default_factory=list)
    # Observations only the real write's answer gives (e.g. the server's deletionTimestamp).
    observe_result: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Picks the interesting part of the API's answer (the would-be object on a dry run).
    after: Callable[[dict[str, Any]], Any] | None = None


class ActionKube(Kube):
    async def send(self, method: str, path: str, fn: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        params = {"dryRun": kwargs["dry_run"]} if kwargs.get("dry_run") else {}
        raw, query = await self._call(path, fn, kwargs, method=method, params=params)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            raise ApiFailure(200, "BadBody", f"Kubernetes API returned a non-JSON body for {query}: "
                             f"{raw[:200].decode(errors='replace')!r}", query) from None
        return data if isinstance(data, dict) else {"body": data}
