"""The values the models' string columns take, importable without SQLAlchemy (the CLI parser offers
them as choices, and `chatops --help` must not load the ORM). bot.models re-exports them."""

INCIDENT_SOURCES = ("alertmanager", "grafana", "slack", "teams", "console", "command")
# expired: closed by the ageing rule (bot/workflow/ageing.py), not by a resolve; resolved_at stays empty.
INCIDENT_STATUSES = ("open", "acknowledged", "resolved", "expired")
INCIDENT_OPEN = ("open", "acknowledged")
SESSION_STATUSES = ("queued", "running", "succeeded", "failed")
PROPOSAL_STATES = ("proposed", "approved", "rejected", "expired", "executing", "succeeded", "failed")
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
