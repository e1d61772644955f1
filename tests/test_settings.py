"""Settings: environment and .env, secrets never shown, README documents every setting."""
from __future__ import annotations

import re

from bot.settings import Settings
from tests.support import REPO


def test_env_and_secrets(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("OPENSEARCH_PASSWORD=s3cr3t-from-dotenv\nKUBE_NAMESPACE_ALLOWLIST=prod, staging\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw-in-url@db/x")
    monkeypatch.setenv("TOOL_TIMEOUT_SECONDS", "3.5")
    s = Settings()
    assert s.kube_namespace_allowlist == ("prod", "staging")
    assert s.tool_timeout_seconds == 3.5
    assert s.opensearch_password.get_secret_value() == "s3cr3t-from-dotenv"
    shown = repr(s) + str(s.describe()) + s.model_dump_json()
    assert "s3cr3t" not in shown and "pw-in-url" not in shown


def test_default_database_is_sqlite_in_data_dir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    assert Settings().sqlalchemy_url() == f"sqlite:///{tmp_path / 'd' / 'chatops.db'}"


def test_readme_table_lists_every_setting():
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, re.M))
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set(), f"missing from README: {expected - documented}"
    assert documented - expected == set(), f"README documents unknown settings: {documented - expected}"
