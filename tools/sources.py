"""Build the read-only tool registry from backend endpoints.

A source that is not configured or cannot be set up still registers its tools: they answer
with status "error" naming the reason, and `unavailable` lists it, so a diagnosis can say
which sources it could not use instead of silently knowing less.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from tools.base import Tool, ToolContext, ToolRegistry
from tools.redact import Redactor

log = logging.getLogger(__name__)


@dataclass
class SourceConfig:
    prometheus_url: str | None = None
    prometheus_headers: dict[str, str] | None = None
    opensearch_url: str | None = None
    opensearch_username: str | None = None
    opensearch_password: str | None = None
    opensearch_index_pattern: str = "logs-*"
    kube_host: str | None = None
    kubeconfig: str | None = None
    kube_context: str | None = None
    kube_enabled: bool = True
    redact_extra_patterns: tuple[str, ...] = ()
    # MCP servers whose read-only (or allowlisted "server:tool") tools join the registry (tools.mcp_source).
    mcp_servers: tuple[Any, ...] = ()
    mcp_tool_allowlist: tuple[str, ...] = ()
    # Set by scenario replays: why a source does not exist at all (e.g. "bundle has no logs").
    absent: dict[str, str] = field(default_factory=dict)


@dataclass
class Sources:
    registry: ToolRegistry
    ctx: ToolContext
    unavailable: dict[str, str]
    closers: list[Any] = field(default_factory=list)
    config: SourceConfig | None = None

    def close(self) -> None:
        for c in self.closers:
            try:
                c()
            except Exception:  # closing is best effort
                log.debug("closing source failed", exc_info=True)


def build_sources(cfg: SourceConfig, ctx: ToolContext, extra_tools: list[Tool] | tuple[Tool, ...] = ()) -> Sources:
    from tools.k8s import kubernetes_tools, make_api_client
    from tools.opensearch import make_client, opensearch_tools
    from tools.prometheus import prometheus_tools

    unavailable: dict[str, str] = dict(cfg.absent)
    closers: list[Any] = []
    # One redactor for the tools (on raw backend text) and the registry (on their results).
    redactor = Redactor(cfg.redact_extra_patterns) if cfg.redact_extra_patterns else ctx.scrub
    ctx = replace(ctx, redactor=redactor)
    registry = ToolRegistry(redactor=redactor)

    prom_url = None if "prometheus" in cfg.absent else cfg.prometheus_url
    if prom_url is None:
        unavailable.setdefault("prometheus", "PROMETHEUS_URL is not set")
    registry.register(*prometheus_tools(prom_url, ctx, headers=cfg.prometheus_headers))

    os_client = None
    if "opensearch" not in cfg.absent:
        if cfg.opensearch_url:
            try:
                os_client = make_client(cfg.opensearch_url, username=cfg.opensearch_username,
                                        password=cfg.opensearch_password, timeout=ctx.timeout)
                closers.append(os_client.close)
            except Exception as exc:
                unavailable["opensearch"] = f"cannot create OpenSearch client: {exc}"
        else:
            unavailable["opensearch"] = "OPENSEARCH_URL is not set"
    registry.register(*opensearch_tools(os_client, ctx, index_pattern=cfg.opensearch_index_pattern))

    api_client = None
    if "kubernetes" not in cfg.absent:
        if cfg.kube_enabled:
            try:
                api_client = make_api_client(host=cfg.kube_host, kubeconfig=cfg.kubeconfig, context=cfg.kube_context)
                closers.append(api_client.close)
            except Exception as exc:
                unavailable["kubernetes"] = f"no Kubernetes configuration: {exc}"
        else:
            unavailable["kubernetes"] = "Kubernetes source disabled"
    registry.register(*kubernetes_tools(api_client, ctx))

    if cfg.mcp_servers:
        from tools.mcp_source import mcp_tools

        remote, down = mcp_tools(cfg.mcp_servers, cfg.mcp_tool_allowlist, ctx)
        registry.register(*remote)
        unavailable.update(down)
    registry.register(*extra_tools)
    return Sources(registry=registry, ctx=ctx, unavailable=unavailable, closers=closers, config=cfg)
