"""`chatops proposals list`, `chatops approve ID --as WHO`, `chatops reject ID --as WHO`.

The CLI is trusted (whoever runs it can reach the database): it mints the approval token itself
from the stored proposal. The identity still has to pass the approval policy like a chat click,
and every click is audited. Exit codes: 0 the click did what was asked (vote recorded,
rejected, executed), 1 it did not (denied, expired, already decided, execution failed).
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timezone

from bot.cli_util import UserError, ensure_schema
from bot.vocab import PROPOSAL_STATES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proposals", help="list remediation proposals")
    psub = p.add_subparsers(dest="proposals_command", metavar="ACTION")
    psub.required = True
    ls = psub.add_parser("list", help="recent proposals with state, risk, approvals and expiry")
    ls.add_argument("--state", choices=PROPOSAL_STATES)
    ls.add_argument("--incident", help="only this incident's proposals")
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=cmd_list)
    for name, decision in (("approve", "approve"), ("reject", "reject")):
        c = sub.add_parser(name, help=f"{decision} a remediation proposal (runs it once enough approvals exist)"
                           if decision == "approve" else "reject a remediation proposal (ends it)")
        c.add_argument("id", help="proposal id (see `chatops proposals list`)")
        c.add_argument("--as", dest="identity", required=True,
                       help="who decides: platform:user (slack:U123, teams:<aad-oid>, console:alice) or a plain name")
        c.add_argument("--platform", default="console", choices=("console", "slack", "teams"),
                       help="platform of a plain name (default console)")
        c.add_argument("--group", action="append", default=[], help="a group the identity belongs to (repeatable)")
        c.set_defaults(func=cmd_decide, decision=decision)


def _when(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    left = (ts - datetime.now(timezone.utc)).total_seconds()
    stamp = ts.strftime("%Y-%m-%d %H:%M")
    return f"{stamp} ({int(left // 60)}m left)" if left > 0 else stamp


def cmd_list(args: argparse.Namespace) -> int:
    from bot.context import get_engine, get_sessionmaker
    from bot.remediation import list_proposals, signer_from_settings
    from bot.settings import get_settings

    ensure_schema(get_engine())
    views = list_proposals(get_sessionmaker(), signer_from_settings(get_settings()), state=args.state,
                           limit=args.limit, incident_id=args.incident)
    if not views:
        print("no proposals" + (f" in state {args.state}" if args.state else ""))
        return 0
    for v in views:
        print(f"{v.proposal_id}  {v.state:<9} {v.risk:<8} {v.approvals_received}/{v.approvals_required} approvals  "
              f"expires {_when(v.expires_at)}")
        print(f"    {v.action_text}  · requested by {v.requested_by or '-'}"
              + (f"  (undo of {v.undo_of})" if v.undo_of else ""))
        if v.reason and v.state == "proposed":
            print(f"    not offerable: {v.reason}")
        outcome = (v.result or {}).get("execute") or {}
        if outcome:
            verify = (v.result or {}).get("verify") or {}
            print(f"    result: {outcome.get('message', '')}" + (f" / verify: {verify.get('message')}" if verify else ""))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from bot.context import get_engine, get_sessionmaker
    from bot.models import RemediationProposal
    from bot.remediation import ApprovalPolicy, Identity, click, signer_from_settings
    from bot.remediation.execute import executor_from_settings
    from bot.settings import get_settings

    settings = get_settings()
    ensure_schema(get_engine())
    factory = get_sessionmaker()
    try:
        who = Identity.parse(args.identity, default_platform=args.platform)
    except ValueError as exc:
        raise UserError(f"--as: {exc}") from None
    if args.group:
        who = Identity(who.platform, who.user_id, frozenset(args.group), who.display)
    signer = signer_from_settings(settings)
    with factory() as s:
        row = s.get(RemediationProposal, args.id)
        if row is None:
            raise UserError(f"no proposal {args.id}; see `chatops proposals list`")
        token = signer.sign(row)  # trusted console: mint the token from the stored proposal
    executor = executor_from_settings(settings) if args.decision == "approve" else None
    result = asyncio.run(click(factory, executor, args.id, token, who, args.decision,
                               policy=ApprovalPolicy.from_settings(settings), signer=signer))
    print(f"{result.status}: {result.message}")
    if result.view is not None:
        v = result.view
        print(f"proposal {v.proposal_id}: {v.state} · {v.action_text} · risk {v.risk} · "
              f"{v.approvals_received}/{v.approvals_required} approvals")
    if result.undo is not None:
        u = result.undo
        offer = f"approve with `chatops approve {u.proposal_id} --as ...`" if u.offerable else f"not offerable: {u.reason}"
        print(f"undo offered as proposal {u.proposal_id}: {u.action_text} ({offer})")
    return 0 if result.ok else 1
