"""The one typed settings object, read from the environment and an optional `.env`.

Secrets are SecretStr so that repr(), logs and error messages never show them.
`chatops config` prints every setting (secrets masked); the README table is
checked against this class by a test, so the two cannot drift apart.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing import Annotated

from agents.llm import DEFAULT_MODEL

CsvList = Annotated[tuple[str, ...], NoDecode]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=False)

    # Core
    data_dir: Path = Field(Path("data"), description="Directory for the embedded SQLite database, Chroma and caches.")
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL; unset means SQLite in DATA_DIR. "
                                           "`postgresql://` URLs use psycopg 3.")
    log_level: str = Field("INFO", description="Python logging level of the bot's own loggers; libraries "
                                                "(alembic, opensearch-py, drain3, …) show below WARNING only at DEBUG.")

    # Data sources
    prometheus_url: str | None = Field(None, description="Prometheus base URL for metric tools.")
    opensearch_url: str | None = Field(None, description="OpenSearch base URL for log tools.")
    opensearch_username: str | None = Field(None, description="OpenSearch basic-auth user.")
    opensearch_password: SecretStr | None = Field(None, description="OpenSearch basic-auth password.")
    opensearch_index_pattern: str = Field("logs-*", description="Index pattern searched for logs.")
    kubeconfig: str | None = Field(None, description="Path to a kubeconfig; unset tries in-cluster config, then ~/.kube/config.")
    kube_context: str | None = Field(None, description="kubeconfig context to use.")
    kube_namespace_allowlist: CsvList = Field((), description="Comma-separated namespaces the bot may read and act on; empty allows all.")
    tool_timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per-call timeout for every backend tool.")
    redact_extra_patterns: CsvList = Field((), description="Comma-separated extra regexes masked before text reaches a model.")
    evidence_link_hosts: CsvList = Field((), description="Comma-separated extra hosts (or URLs) that evidence links in chat may point to, e.g. Grafana or Kibana; PROMETHEUS_URL's and OPENSEARCH_URL's hosts are always allowed, links to any other host are dropped.")

    # Agent sessions
    agent_engine: str = Field("auto", pattern="^(auto|offline|anthropic|openai)$", description="auto uses the LLM_PROVIDER model when it is configured (anthropic: ANTHROPIC_API_KEY; openai: LLM_BASE_URL or OPENAI_API_KEY), else the offline engine; anthropic or openai ask for that provider.")
    llm_provider: str = Field("anthropic", pattern="^(anthropic|openai)$", description="Model API of the agent: anthropic (Messages API) or openai (any OpenAI-compatible Chat Completions endpoint: vLLM, Ollama, LM Studio, Azure OpenAI, OpenRouter, OpenAI; set LLM_BASE_URL and LLM_MODEL).")
    llm_model: str | None = Field(None, validation_alias=AliasChoices("llm_model", "anthropic_model"), description=f"Model name as the provider knows it (a vLLM --served-model-name, an Ollama tag such as qwen2.5:14b-instruct, an Azure deployment name); unset: {DEFAULT_MODEL} with anthropic, required with openai. ANTHROPIC_MODEL is read too.")
    llm_base_url: str | None = Field(None, description="Base URL of the model API: for openai the endpoint root with /v1 (http://vllm:8000/v1, http://ollama:11434/v1, https://RESOURCE.openai.azure.com/openai/v1/); for anthropic it overrides ANTHROPIC_BASE_URL.")
    llm_context_window: int = Field(200_000, ge=4096, description="Context window of the model in tokens (vLLM --max-model-len, Ollama num_ctx): tool output gets a share of it and the history is compacted before a request would not fit.")
    anthropic_api_key: SecretStr | None = Field(None, description="Anthropic API key; unset means the offline engine diagnoses.")
    openai_api_key: SecretStr | None = Field(None, description="API key of the OpenAI-compatible endpoint (OpenAI, Azure, OpenRouter, a vLLM started with --api-key); local servers without auth need none.")
    anthropic_base_url: str | None = Field(None, description="Override the Messages API base URL (proxies, tests).")
    agent_max_tool_calls_per_turn: int = Field(8, ge=1, le=64, description="Tool calls one model turn may make; calls beyond it are answered 'not run' and may be asked again next turn.")
    agent_max_cost_usd: float = Field(0.0, ge=0, description="Dollar budget of one session from the built-in price table; 0 means no dollar limit. A model without a price (self-hosted) is bounded by tokens only.")
    agent_max_tokens: int = Field(4096, ge=256, description="max_tokens per model response.")
    agent_max_steps: int = Field(12, ge=1, le=50, description="Model turns per session before it must conclude.")
    agent_max_seconds: float = Field(120.0, gt=0, description="Wall-time budget of one session.")
    agent_max_total_tokens: int = Field(200_000, ge=1000, description="Token budget of one session: uncached input plus output (cache reads are not counted; they count in dollars).")
    anthropic_max_retries: int = Field(3, ge=0, le=10, description="Retries of 408/429/5xx and connection failures of the model API, either provider (exponential backoff), before falling back to the offline engine.")

    # Knowledge base
    chroma_url: str | None = Field(None, description="Chroma server URL (e.g. http://127.0.0.1:8000); unset uses an embedded PersistentClient in DATA_DIR/chroma.")
    embed_backend: str = Field("none", description="Dense embedder: none (BM25 only), sentence-transformers (offline with the `embed` extra and its packaged all-MiniLM-L6-v2), fastembed (where its model cache can be filled) or hash (testing only). A backend that cannot load falls back to BM25 with a warning.")
    embed_model: str | None = Field(None, description="Model name or local path for EMBED_BACKEND.")
    knowledge_dir: Path | None = Field(None, description="Runbook/postmortem folder ingested by default; unset uses the bundled knowledge/runbooks.")
    incident_effective_minutes: int = Field(30, ge=1, description="An action counts as effective when its alert resolves within this many minutes.")

    # Remediation approvals
    approvers_medium: CsvList = Field((), description="Who may approve MEDIUM (and LOW) actions: comma-separated slack:<user id>, slack-group:<user group id>, teams:<AAD object id>, teams-group:<AAD group id>, console:<name>. Approvers of a higher level may approve lower levels too.")
    approvers_high: CsvList = Field((), description="Who may approve HIGH actions (same syntax as APPROVERS_MEDIUM); empty means nobody. A requester can never approve their own HIGH or CRITICAL action.")
    approvers_critical: CsvList = Field((), description="Who may approve CRITICAL actions (same syntax); empty means nobody. CRITICAL needs two distinct approvers.")
    auto_approve_low: bool = Field(False, description="Run LOW-risk actions without an approval click.")
    proposal_ttl_minutes: int = Field(30, ge=1, le=1440, description="Minutes before an undecided remediation proposal expires.")
    risk_overrides: CsvList = Field((), description="Per-namespace minimum risk, e.g. prod=HIGH,kube-system=CRITICAL.")
    scale_min: int = Field(1, ge=0, description="Lowest replica count scale_deployment may set.")
    scale_max: int = Field(50, ge=1, description="Highest replica count scale_deployment may set.")
    action_verify_timeout_seconds: float = Field(120.0, gt=0, description="How long to wait for an executed action to converge (rollout, pod recreated) before reporting failure.")
    reconcile_executing_after_seconds: float = Field(300.0, gt=0, description="A proposal still `executing` this long after it started is taken to belong to a dead process and is reconciled by reading the cluster (never re-executed). Keep it well above ACTION_VERIFY_TIMEOUT_SECONDS of every process that executes actions.")
    action_signing_secret: SecretStr | None = Field(None, description="HMAC key of approval-button tokens. Unset: generated once into DATA_DIR/action_signing.key (0600), shared by processes on the same data dir; multi-host deployments must set it.")

    # Slack and the HTTP server (`chatops serve`)
    slack_bot_token: SecretStr | None = Field(None, description="Slack bot token (xoxb-...) the bot posts with; required by `chatops serve`.")
    slack_signing_secret: SecretStr | None = Field(None, description="Slack app signing secret; verifies every request to POST /slack/events (HTTP mode).")
    slack_app_token: SecretStr | None = Field(None, description="Slack app-level token (xapp-..., connections:write); when set the bot uses Socket Mode and needs no public URL.")
    slack_api_url: str | None = Field(None, description="Override the Slack Web API base URL (proxies, tests), e.g. http://127.0.0.1:8099/api/.")
    slack_alert_channels: CsvList = Field((), description="Comma-separated Slack channel IDs whose messages from alerting bots (Alertmanager, Grafana, PagerDuty...) are diagnosed automatically in the alert's thread. Human messages there are never treated as alerts.")
    slack_alerts_channel: str | None = Field(None, description="Slack channel ID where alert groups received on POST /alertmanager are posted and diagnosed.")

    # Microsoft Teams (bot/teams): POST /api/messages on the same server
    teams_app_id: str | None = Field(None, description="Microsoft App ID of the Azure Bot (its Entra app registration, or the user-assigned managed identity's client id). Unset: POST /api/messages is off. Set: every request must carry a valid Bot Framework JWT for this app id.")
    teams_app_password: SecretStr | None = Field(None, description="Client secret of the bot's app registration (MultiTenant, SingleTenant); not used with UserAssignedMSI.")
    teams_app_type: str = Field("MultiTenant", pattern="^(MultiTenant|SingleTenant|UserAssignedMSI)$", description="The Azure Bot's app type: MultiTenant, SingleTenant (needs TEAMS_TENANT_ID) or UserAssignedMSI (managed identity; needs TEAMS_TENANT_ID).")
    teams_tenant_id: str | None = Field(None, description="Entra tenant id of the bot (SingleTenant, UserAssignedMSI).")
    teams_alert_channels: CsvList = Field((), description="Comma-separated Teams conversation ids (19:…@thread.tacv2) whose alert posts by other bots, connectors and workflows are diagnosed automatically in the post's reply chain. Human messages there are never treated as alerts.")
    teams_alerts_channel: str | None = Field(None, description="Teams channel conversation id where alert groups received on POST /alertmanager are posted and diagnosed; with SLACK_ALERTS_CHANNEL also set, each platform gets the group as its own incidents.")
    teams_openid_metadata_url: str | None = Field(None, description="Override the Bot Framework OpenID metadata URL that inbound tokens are checked against (proxies, tests); default https://login.botframework.com/v1/.well-known/openidconfiguration.")
    teams_login_url: str | None = Field(None, description="Override the Entra login authority host the bot's own tokens come from (proxies, tests), e.g. https://login.microsoftonline.com; the tenant is appended.")
    teams_graph_url: str | None = Field(None, description="Override the Microsoft Graph base URL used to read approvers' group membership (proxies, tests); default https://graph.microsoft.com.")
    teams_allow_unauthenticated: bool = Field(False, description="Accept POST /api/messages without a Bot Framework token, for the local Bot Framework Emulator only; allowed only while TEAMS_APP_ID is unset, and logged as a warning at start.")
    alertmanager_webhook_token: SecretStr | None = Field(None, description="Bearer token Alertmanager must send to POST /alertmanager (http_config.authorization.credentials).")
    alertmanager_webhook_user: str | None = Field(None, description="Basic-auth user accepted on POST /alertmanager (with ALERTMANAGER_WEBHOOK_PASSWORD).")
    alertmanager_webhook_password: SecretStr | None = Field(None, description="Basic-auth password accepted on POST /alertmanager.")
    alertmanager_webhook_allow_unauthenticated: bool = Field(False, description="Accept POST /alertmanager without credentials (trusted networks only). Without it, `chatops serve` refuses to start when SLACK_ALERTS_CHANNEL is set but no webhook credentials are.")
    session_concurrency: int = Field(4, ge=1, le=64, description="Diagnosis sessions one process runs at the same time (the in-process runner of `chatops serve`/`console`, or each `chatops worker`); further jobs wait in the durable queue.")
    job_backend: str = Field("auto", pattern="^(auto|local|procrastinate)$", description="Where diagnosis jobs run: local (our jobs table, run inside `chatops serve` and `chatops console`), procrastinate (PostgreSQL only; run by `chatops worker` processes), or auto (procrastinate on PostgreSQL, local on SQLite).")
    periodic_seconds: float = Field(60.0, ge=1, le=3600, description="Period of the expiry sweep, the reconciliation (crashed sessions, stalled jobs, proposals left executing) and incident ageing; each runs once per period across all processes.")
    audit_verify_seconds: float = Field(3600.0, ge=10, description="Period of the audit-chain verification that feeds the chatops_audit_chain_ok metric (it walks the whole chain).")
    job_stalled_seconds: float = Field(30.0, ge=2, le=3600, description="A job whose runner has not heartbeated for this long (the process died) is queued again.")
    alert_group_max_new: int = Field(200, ge=1, description="New incidents (each a posted alert and an investigation) one alert group may open; further new alerts of the group are deferred with a visible note and open when Alertmanager sends the group again.")
    incident_stale_minutes: int = Field(480, ge=1, description="An open incident whose alert has not fired for this long closes as expired, and its next firing investigates again. Keep it above Alertmanager's repeat_interval (default 4h).")
    incident_max_age_hours: int = Field(24, ge=1, description="An open incident older than this closes as expired, however often it fires; the next firing investigates again.")
    followup_per_thread: int = Field(5, ge=0, le=100, description="Follow-up questions answered per diagnosis thread within FOLLOWUP_WINDOW_MINUTES; further ones are refused (audited as followup.rate_limited). 0 turns follow-up questions off.")
    followup_window_minutes: int = Field(60, ge=1, le=10080, description="The window FOLLOWUP_PER_THREAD counts questions in.")
    followup_max_steps: int = Field(6, ge=1, le=50, description="Model turns one follow-up answer may take (tool calls included) before it must answer.")
    followup_context_chars: int = Field(24000, ge=2000, le=400000, description="Size bound of what a follow-up hands the model from the incident (the diagnosis, earlier questions and the evidence they fetched): older material is compacted first.")
    host: str = Field("127.0.0.1", description="Address `chatops serve` listens on (0.0.0.0 in containers).")
    port: int = Field(3000, ge=1, le=65535, description="Port `chatops serve` listens on (PaaS platforms set PORT).")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Port of the worker's own Prometheus endpoint (GET /metrics, GET /healthz) on HOST; 0 disables it. Several worker processes on one host need one port each. `chatops serve` serves GET /metrics on PORT.")
    loop_lag_log: str | None = Field(None, description="File `chatops serve` writes its event-loop lag to when it stops (JSON: samples, max_ms, p99_ms, p50_ms: how late a task sleeping 5 ms woke up); unset: not sampled. Used by bench/slack_load.py.")

    # MCP: `chatops mcp` (bot/mcp), and MCP servers as tool sources (tools/mcp_source.py)
    mcp_port: int = Field(3001, ge=1, le=65535, description="Port `chatops mcp --http` listens on (on HOST).")
    mcp_clients: CsvList = Field((), description="Clients of `chatops mcp --http`, comma-separated name:scope:sha256 — scope `read` (diagnose and every read) or `read+propose` (also propose_action), sha256 the hex SHA-256 of the client's bearer token (`printf %s TOKEN | sha256sum`), so no usable token is stored. Empty: `chatops mcp --http` refuses to start.")
    mcp_stdio_scope: str = Field("read+propose", pattern=r"^(read|read\+propose)$", description="Scope of the local client of `chatops mcp --stdio` (identity mcp:stdio:<OS user>): read+propose or read.")
    mcp_chat_channel: str | None = Field(None, description="Where a `diagnose` over MCP that names no channel opens its thread: slack:<channel id> or teams:<conversation id>. Unset: SLACK_ALERTS_CHANNEL, then TEAMS_ALERTS_CHANNEL; with none of them the diagnosis is recorded without a chat thread, and propose_action is refused for it (there is nowhere a person could approve).")
    mcp_servers: SecretStr | None = Field(None, description='MCP servers whose tools the agent may use, as JSON in MCP clients\' own format: {"name": {"command": "…", "args": […], "env": {…}}} (stdio) or {"name": {"url": "https://…/mcp", "headers": {…}}} (streamable HTTP). Secret, since env and headers may hold tokens.')
    mcp_tool_allowlist: CsvList = Field((), description="Comma-separated server:tool names offered to the agent although their MCP server does not mark them read-only (readOnlyHint); every other unmarked tool is refused, and `chatops config` lists it.")

    # Weekly digest (bot/digest)
    digest_slack_channels: CsvList = Field((), description="Comma-separated Slack channel IDs the weekly digest is posted to (Block Kit, with its two charts in the thread). Empty, with DIGEST_TEAMS_CHANNELS empty too: no digest is scheduled (`chatops digest --dry-run` still works).")
    digest_teams_channels: CsvList = Field((), description="Comma-separated Teams conversation ids the weekly digest is posted to (an Adaptive Card, its charts in the reply chain); the bot must be installed there (a stored conversation reference).")
    digest_cron: str = Field("0 9 * * 1", description="When the weekly digest of the previous full ISO week is posted: a 5-field cron line (minute hour day month weekday) in DIGEST_TIMEZONE; checked every PERIODIC_SECONDS, posted once per week and channel (a process down at that time posts when it is back, the same day).")
    digest_timezone: str = Field("UTC", description="IANA timezone (e.g. Europe/Paris) of DIGEST_CRON and of the digest's weeks and days.")

    @field_validator("digest_slack_channels", "digest_teams_channels", mode="before")
    @classmethod
    def _digest_csv(cls, v: object) -> object:
        return _split_csv(v)

    @field_validator("digest_cron")
    @classmethod
    def _digest_cron(cls, v: str) -> str:
        from bot.digest.week import check_cron

        return check_cron(v.strip())

    @field_validator("digest_timezone")
    @classmethod
    def _digest_timezone(cls, v: str) -> str:
        from bot.digest.week import zone

        return zone(v.strip()).key

    @field_validator("kube_namespace_allowlist", "redact_extra_patterns", "approvers_medium", "approvers_high",
                     "approvers_critical", "risk_overrides", "slack_alert_channels", "evidence_link_hosts",
                     "teams_alert_channels", "mcp_clients", "mcp_tool_allowlist",
                     mode="before")
    @classmethod
    def _csv(cls, v: object) -> object:
        return _split_csv(v)

    @field_validator("mcp_clients")
    @classmethod
    def _mcp_clients(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from bot.mcp.clients import parse_clients

        parse_clients(v)  # raises ValueError naming the bad entry
        return v

    @field_validator("mcp_servers")
    @classmethod
    def _mcp_servers(cls, v: SecretStr | None) -> SecretStr | None:
        from tools.mcp_source import parse_servers

        parse_servers(v.get_secret_value() if v is not None else None)
        return v

    @field_validator("risk_overrides")
    @classmethod
    def _risk_overrides(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            ns, sep, risk = item.partition("=")
            if not sep or not ns.strip() or risk.strip().upper() not in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
                raise ValueError(f"{item!r} is not namespace=LOW|MEDIUM|HIGH|CRITICAL")
        return v

    @field_validator("approvers_medium", "approvers_high", "approvers_critical")
    @classmethod
    def _approvers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        kinds = ("slack", "slack-group", "teams", "teams-group", "console", "console-group")
        for item in v:
            kind, sep, ident = item.partition(":")
            if not sep or kind not in kinds or not ident.strip():
                raise ValueError(f"{item!r} is not one of {', '.join(k + ':<id>' for k in kinds)}")
        return v

    def sqlalchemy_url(self) -> str:
        if self.database_url is not None and self.database_url.get_secret_value().strip():
            return self.database_url.get_secret_value().strip()
        return f"sqlite:///{(self.data_dir / 'chatops.db').resolve()}"

    def describe(self) -> list[tuple[str, str, str]]:
        """(ENV_NAME, current value with secrets masked, description) for every setting."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = "**********" if value.get_secret_value() else ""
            elif isinstance(value, tuple):
                shown = ",".join(value)
            else:
                shown = "" if value is None else str(value)
            rows.append((name.upper(), shown, field.description or ""))
        return rows


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
