"""Remediation approvals: policy, signed tokens, the exactly-once state machine, execution.

Platform-neutral: Slack, Teams and the console render `ProposalView`s and call `click`.
"""
from bot.remediation.execute import UnavailableExecutor, executor_from_settings, run_claimed
from bot.remediation.policy import ApprovalPolicy, ApproverSet, Identity
from bot.remediation.service import click, expire_due, get_view, list_proposals, propose
from bot.remediation.tokens import Signer, signer_from_settings
from bot.remediation.views import ClickResult, ProposalView, confirm_text

__all__ = ["ApprovalPolicy", "ApproverSet", "ClickResult", "Identity", "ProposalView", "Signer",
           "UnavailableExecutor", "click", "confirm_text", "executor_from_settings", "expire_due", "get_view",
           "list_proposals", "propose", "run_claimed", "signer_from_settings"]
