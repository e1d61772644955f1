"""The one typed settings object, read from the environment and an optional `.env`.

Secrets are SecretStr so that repr(), logs and error messages never show them.
`chatops config` prints every setting (secrets masked); the README table is
checked against this class by a test, so the two cannot drift apart.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing import Annotated

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
    log_level: str = Field("INFO", description="Python logging level.")

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

    # Knowledge base
    chroma_url: str | None = Field(None, description="Chroma server URL (e.g. http://127.0.0.1:8000); unset uses an embedded PersistentClient in DATA_DIR/chroma.")
    embed_backend: str = Field("none", description="Dense embedder: none (BM25 only), fastembed, sentence-transformers or hash (testing only). A backend that cannot load falls back to BM25 with a warning.")
    embed_model: str | None = Field(None, description="Model name or local path for EMBED_BACKEND.")
    knowledge_dir: Path | None = Field(None, description="Runbook/postmortem folder ingested by default; unset uses the bundled knowledge/runbooks.")
    incident_effective_minutes: int = Field(30, ge=1, description="An action counts as effective when its alert resolves within this many minutes.")

    @field_validator("kube_namespace_allowlist", "redact_extra_patterns", mode="before")
    @classmethod
    def _csv(cls, v: object) -> object:
        return _split_csv(v)

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
