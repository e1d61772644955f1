"""`chatops diagnose` (scenario, alert file or text) and `chatops session show|list`."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.cli_util import UserError, engine_for_cli, ensure_schema


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="run one diagnosis session and record it")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenario", type=Path, help="replay an incident scenario bundle")
    src.add_argument("--alert", type=Path, help="an alert JSON file (Alertmanager, Grafana, Slack/Teams message)")
    src.add_argument("--text", help="a service, namespace/pod or alert text, as /diagnose takes")
    p.add_argument("--engine", choices=("auto", "offline", "anthropic", "openai"), default=None)
    p.add_argument("--json", action="store_true", help="print only the Diagnosis JSON on stdout")
    p.add_argument("--no-knowledge", action="store_true", help="do not use the knowledge base")
    p.set_defaults(func=cmd_diagnose)

    s = sub.add_parser("session", help="inspect recorded agent sessions")
    ssub = s.add_subparsers(dest="session_command", metavar="ACTION")
    ssub.required = True
    show = ssub.add_parser("show", help="print a session's steps, tool calls, usage and diagnosis")
    show.add_argument("id")
    show.set_defaults(func=cmd_show)
    ls = ssub.add_parser("list", help="recent sessions")
    ls.add_argument("--limit", type=int, default=20)
    ls.set_defaults(func=cmd_list)


def _trigger_from_alert_file(path: Path):
    from agents.trigger import Trigger
    from tools.intake import parse_any
    from tools.intake.model import AlertGroup

    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError:
        payload = raw
    parsed = parse_any(payload)
    if not isinstance(parsed, AlertGroup) or not parsed.alerts:
        raise UserError(f"{path} is not an alert: {getattr(parsed, 'reason', 'no alerts in it')}")
    firing = [a for a in parsed.alerts if a.status == "firing"] or parsed.alerts
    return Trigger.from_alert(firing[0])


def cmd_diagnose(args: argparse.Namespace) -> int:
    from agents.trigger import Trigger
    from bot.context import get_engine, get_sessionmaker
    from bot.render_text import render_diagnosis
    from bot.settings import get_settings
    from bot.sessions import diagnose_and_record
    from bot.wiring import knowledge_tools_for, source_config, tool_context
    from tools.sources import build_sources

    settings = get_settings()
    ensure_schema(get_engine())
    factory = get_sessionmaker()
    eng = engine_for_cli(settings, args.engine)

    async def run(trigger, sources):
        try:
            return await diagnose_and_record(factory, trigger, sources.registry, sources.unavailable, eng,
                                             namespace_allowlist=settings.kube_namespace_allowlist)
        finally:
            sources.close()

    if args.scenario:
        from tools.scenario.backends import ScenarioBackends
        from tools.scenario.bundle import ScenarioError, load_scenario

        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
        trigger = _scenario_trigger(scenario)
        with ScenarioBackends(scenario, timeout=settings.tool_timeout_seconds,
                              namespace_allowlist=settings.kube_namespace_allowlist) as backends:
            extra, _ = ([], None) if args.no_knowledge else knowledge_tools_for(settings, backends.ctx)
            rec = asyncio.run(run(trigger, backends.sources(extra_tools=extra)))
    else:
        trigger = _trigger_from_alert_file(args.alert) if args.alert else Trigger.from_text(args.text)
        ctx = tool_context(settings)
        extra, _ = ([], None) if args.no_knowledge else knowledge_tools_for(settings, ctx)
        rec = asyncio.run(run(trigger, build_sources(source_config(settings), ctx, extra_tools=extra)))

    d = rec.result.diagnosis
    if args.json:
        sys.stdout.write(d.model_dump_json(indent=2) + "\n")
        return 0
    print(render_diagnosis(d))
    fb = f" (fallback: {rec.result.fallback_reason})" if rec.result.fallback_reason else ""
    print(f"\nsession {rec.session_id} · engine {rec.result.engine}{fb} · {rec.result.tool_calls} tool calls · "
          f"{rec.result.elapsed:.1f}s  (chatops session show {rec.session_id})")
    return 0


def _scenario_trigger(scenario):
    from agents.trigger import Trigger
    from tools.intake import parse_any
    from tools.intake.model import AlertGroup

    if scenario.alert:
        parsed = parse_any({"version": "4", "status": scenario.alert.get("status", "firing"), "alerts": [scenario.alert]})
        if isinstance(parsed, AlertGroup) and parsed.alerts:
            return Trigger.from_alert(parsed.alerts[0], at=scenario.now)
    return Trigger.from_text(scenario.message or scenario.title, at=scenario.now)


def cmd_show(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.context import get_engine, get_sessionmaker
    from bot.models import AgentSession, Diagnosis, ToolCall

    ensure_schema(get_engine())
    with get_sessionmaker()() as s:
        row = s.get(AgentSession, args.id)
        if row is None:
            raise UserError(f"no session {args.id}")
        print(f"session {row.id}  status {row.status}  engine {row.engine}  trigger {row.trigger}")
        print(f"  incident {row.incident_id or '-'}  started {row.started_at}  finished {row.finished_at or '-'}")
        print(f"  text: {(row.trigger_text or '')[:200]}")
        print(f"  tokens in {row.input_tokens} out {row.output_tokens} cache read {row.cache_read_tokens} "
              f"write {row.cache_write_tokens}  cost ${row.cost_usd:.4f}")
        if row.error:
            print(f"  note: {row.error}")
        calls = s.execute(select(ToolCall).where(ToolCall.session_id == row.id).order_by(ToolCall.id)).scalars().all()
        print(f"tool calls ({len(calls)}):")
        for c in calls:
            flags = "".join(f for f, on in ((" reduced", c.reduced), (" truncated", c.truncated), (" cached", c.cached)) if on)
            print(f"  [{c.step:>2}] {c.tool:<18} {c.status:<8} {c.duration_ms:>8.1f} ms {c.bytes_returned:>7} B{flags}  "
                  f"{json.dumps(c.arguments, sort_keys=True)[:120]}")
            if c.error:
                print(f"        error: {c.error[:200]}")
        for step in row.trace or []:
            print(f"  trace: {json.dumps(step)[:200]}")
        d = s.execute(select(Diagnosis).where(Diagnosis.session_id == row.id)).scalars().first()
        if d:
            print(f"diagnosis {d.id}: {d.category} component {d.component} confidence {d.confidence:.2f}")
            print(f"  {d.summary}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.context import get_engine, get_sessionmaker
    from bot.models import AgentSession

    ensure_schema(get_engine())
    with get_sessionmaker()() as s:
        rows = s.execute(select(AgentSession).order_by(AgentSession.started_at.desc()).limit(args.limit)).scalars()
        for r in rows:
            print(f"{r.id}  {r.started_at:%Y-%m-%d %H:%M:%S}  {r.status:<9} {r.engine:<9} {(r.trigger_text or '')[:60]}")
    return 0
