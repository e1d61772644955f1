"""Turn Settings into the objects the lower layers take (they never read settings themselves)."""
from __future__ import annotations

import logging
from typing import Any

from agents.llm import DEFAULT_MODEL
from agents.session import EngineSettings
from bot.settings import Settings
from tools.base import Tool, ToolContext
from tools.redact import configure as configure_redaction
from tools.sources import SourceConfig

log = logging.getLogger(__name__)


def engine_settings(s: Settings, engine: str | None = None) -> EngineSettings:
    engine = engine or s.agent_engine
    provider = engine if engine in ("anthropic", "openai") else s.llm_provider  # an explicit engine names its API
    key = s.anthropic_api_key if provider == "anthropic" else s.openai_api_key
    return EngineSettings(
        engine=engine, provider=provider,  # type: ignore[arg-type]
        api_key=key.get_secret_value() if key else None,
        model=s.llm_model or (DEFAULT_MODEL if provider == "anthropic" else ""),
        base_url=s.llm_base_url or (s.anthropic_base_url if provider == "anthropic" else None),
        max_tokens=s.agent_max_tokens, max_steps=s.agent_max_steps, max_seconds=s.agent_max_seconds,
        max_total_tokens=s.agent_max_total_tokens, max_retries=s.anthropic_max_retries,
        context_window=s.llm_context_window, max_tool_calls_per_turn=s.agent_max_tool_calls_per_turn,
        max_cost_usd=s.agent_max_cost_usd)


def intake_rules(s: Settings) -> dict[str, Any]:
    """Workflow keyword arguments for intake: the ageing rule and the per-group cap of new incidents."""
    from bot.workflow.ageing import AgeingRule

    return {"ageing": AgeingRule.of(s.incident_stale_minutes, s.incident_max_age_hours),
            "group_max_new": s.alert_group_max_new}


def tool_context(s: Settings) -> ToolContext:
    # Every process builds its tool context first: REDACT_EXTRA_PATTERNS then also apply to alert
    # intake and chat text, which use the process-wide redactor.
    return ToolContext(timeout=s.tool_timeout_seconds, namespace_allowlist=s.kube_namespace_allowlist,
                       redactor=configure_redaction(s.redact_extra_patterns))


def source_config(s: Settings) -> SourceConfig:
    return SourceConfig(
        prometheus_url=s.prometheus_url, opensearch_url=s.opensearch_url, opensearch_username=s.opensearch_username,
        opensearch_password=s.opensearch_password.get_secret_value() if s.opensearch_password else None,
        opensearch_index_pattern=s.opensearch_index_pattern, kubeconfig=s.kubeconfig, kube_context=s.kube_context,
        redact_extra_patterns=s.redact_extra_patterns, mcp_servers=mcp_servers(s), mcp_tool_allowlist=s.mcp_tool_allowlist)


def mcp_servers(s: Settings) -> tuple[Any, ...]:
    """MCP_SERVERS as tools.mcp_source specs (validated when the settings were read)."""
    from tools.mcp_source import parse_servers

    return parse_servers(s.mcp_servers.get_secret_value() if s.mcp_servers else None)


def knowledge_tools_for(s: Settings, ctx: ToolContext, ingest_if_empty: bool = True) -> tuple[list[Tool], str | None]:
    tools, reason, _ = open_knowledge(s, ctx, ingest_if_empty)
    return tools, reason


def open_knowledge(s: Settings, ctx: ToolContext, ingest_if_empty: bool = True) -> tuple[list[Tool], str | None, Any]:
    """(search_knowledge tools, why unavailable or None, the KnowledgeBase or None).

    An empty embedded knowledge base gets the bundled runbooks, so a fresh machine has them.
    The KnowledgeBase itself is what the workflow writes resolved incidents into.
    """
    try:
        from knowledge import BUNDLED_RUNBOOKS, KnowledgeBase
        from knowledge.tool import knowledge_tools

        kb = KnowledgeBase(s.data_dir, chroma_url=s.chroma_url, embed_backend=s.embed_backend, embed_model=s.embed_model)
        if ingest_if_empty and kb.status().get("documents", 0) == 0:
            kb.ingest(s.knowledge_dir or BUNDLED_RUNBOOKS)
        return knowledge_tools(kb, ctx), None, kb
    except Exception as exc:  # the bot diagnoses without knowledge rather than not at all
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.warning("knowledge base unavailable: %s", reason)
        from knowledge.tool import knowledge_tools

        return knowledge_tools(None, ctx, unavailable_reason=reason), reason, None
