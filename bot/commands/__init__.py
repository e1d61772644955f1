"""CLI command groups; each module exposes register(subparsers)."""
from bot.commands import (audit_cmd, config_cmd, console_cmd, db_cmd, diagnose_cmd, digest_cmd, knowledge_cmd,
                          mcp_cmd, proposals_cmd, scenario_cmd, serve_cmd, worker_cmd)

COMMAND_MODULES = [db_cmd, audit_cmd, config_cmd, scenario_cmd, knowledge_cmd, diagnose_cmd, proposals_cmd,
                   console_cmd, serve_cmd, worker_cmd, mcp_cmd, digest_cmd]
