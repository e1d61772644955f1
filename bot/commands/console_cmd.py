"""`chatops console [--scenario DIR] [--script FILE]`: the chat workflow in a terminal.

The same Workflow as Slack and Teams, on the embedded defaults, with nothing installed: an
alert arrives in #alerts (the scenario's, or one you post with /alert), the diagnosis answers in
its thread, proposals are numbered choices, and /as switches identity to try the approval rules.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bot.cli_util import UserError, engine_for_cli, ensure_schema


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("console", help="chat with the bot in this terminal (alerts, /diagnose, approvals)")
    p.add_argument("--scenario", type=Path, help="replay an incident scenario bundle: its alert arrives in #alerts "
                   "and approved actions change its fake Kubernetes API")
    p.add_argument("--script", type=Path, help="read commands from FILE instead of the terminal (as with a pipe)")
    p.add_argument("--as", dest="identity", default=None, help="start as this identity (default console:you)")
    p.add_argument("--engine", choices=("auto", "offline", "anthropic", "openai"), default=None)
    p.add_argument("--no-knowledge", action="store_true", help="do not use the knowledge base")
    p.set_defaults(func=cmd_console)


def cmd_console(args: argparse.Namespace) -> int:
    from bot.console.repl import DEFAULT_IDENTITY
    from bot.remediation import Identity

    try:
        identity = Identity.parse(args.identity or DEFAULT_IDENTITY, default_platform="console")
    except ValueError as exc:
        raise UserError(f"--as: {exc}") from None
    script = None
    if args.script is not None:
        try:
            script = args.script.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"cannot read {args.script}: {exc.strerror}") from None
    scenario = None
    if args.scenario is not None:
        from tools.scenario.bundle import ScenarioError, load_scenario

        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
    interactive = script is None and sys.stdin.isatty()
    if script is None and not interactive:
        script = sys.stdin  # a script of inputs on stdin, read line by line as it arrives
    return asyncio.run(_run(args, identity, scenario, script, interactive))


async def _run(args: argparse.Namespace, identity, scenario, script, interactive: bool) -> int:  # noqa: ANN001
    from bot.console.repl import Console
    from bot.console.surface import ConsoleSurface
    from bot.console.wiring import console_policy, scenario_runtime, settings_runtime
    from bot.context import get_engine, get_sessionmaker
    from bot.remediation import signer_from_settings
    from bot.settings import get_settings
    from bot.jobs.setup import periodic_schedule
    from bot.wiring import intake_rules
    from bot.workflow.service import Workflow

    if not getattr(args, "verbose", False):  # library INFO lines would bury the conversation
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    settings = get_settings()
    ensure_schema(get_engine())
    factory = get_sessionmaker()
    eng = engine_for_cli(settings, args.engine)
    policy, policy_note = console_policy(settings)
    color = interactive and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    surface = ConsoleSurface(color=color, live=interactive and sys.stdout.isatty(),
                             chart_dir=settings.data_dir / "charts", policy=policy)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")  # a non-UTF-8 pipe must not crash on ↳ or ✓

    surface.say(f"chatops console · data in {settings.data_dir} ({get_engine().dialect.name})")
    runtime = await asyncio.to_thread(scenario_runtime if scenario else settings_runtime, settings,
                                      *((scenario,) if scenario else ()), use_knowledge=not args.no_knowledge)
    workflow = None
    try:
        engine_note = (f"engine: {eng.chosen()}" + ("" if eng.chosen() != "offline"
                                                    else " (set ANTHROPIC_API_KEY, or LLM_PROVIDER=openai with "
                                                         "LLM_BASE_URL, to use a model)"))
        notes = [engine_note, *runtime.notes, *_unavailable_notes(runtime.provider)]
        if policy_note:
            notes.append(f"approvals: {policy_note}")
        surface.say("\n".join(notes))
        # The console runs its jobs in-process on its own database, whatever JOB_BACKEND says.
        workflow = Workflow(factory, {"console": surface}, runtime.provider, eng, runtime.executor,
                            concurrency=2, periodic=periodic_schedule(settings), policy=policy,
                            signer=signer_from_settings(settings),
                            namespace_allowlist=settings.kube_namespace_allowlist,
                            knowledge=runtime.knowledge, effective_minutes=settings.incident_effective_minutes,
                        risk_overrides=dict(policy.risk_overrides), alert_channel={"console": "#alerts"},
                        **intake_rules(settings))
        console = Console(workflow, surface, factory, workflow.signer, policy, identity=identity)
        surface.say(f"You are {identity.key}: {console.abilities()}. /as NAME switches identity; /help lists commands.")
        if scenario is not None:
            await _scenario_arrives(console, scenario)
        if interactive:
            await console.run_interactive()
        else:
            await console.run_script(script)
    finally:
        # Leaving a terminal session does not wait for investigations still running (a script
        # has drained already): stop them before their backends go away under them.
        if workflow is not None:
            await workflow.stop(grace=0)
        await asyncio.to_thread(runtime.close)
    return 0


def _unavailable_notes(provider) -> list[str]:  # noqa: ANN001
    """What the sessions will not be able to use, said once up front (each diagnosis says it too)."""
    from bot.console.render import unavailable_line

    probe = provider.build()
    try:
        return [unavailable_line(src, why) for src, why in sorted(probe.unavailable.items())]
    finally:
        probe.close()


async def _scenario_arrives(console, scenario) -> None:  # noqa: ANN001
    """The bundle's alert (or message) arrives in #alerts as Alertmanager (or a person) posted it."""
    from tools.intake import parse_any
    from tools.intake.model import AlertGroup

    if scenario.alert:
        group = parse_any({"version": "4", "status": scenario.alert.get("status", "firing"),
                           "alerts": [scenario.alert]})
        if isinstance(group, AlertGroup) and group.alerts:
            await console.post_alert_group(group, author="alertmanager", source="alertmanager")
            return
    text = (scenario.message or scenario.title or "").strip()
    group = parse_any(text)
    if isinstance(group, AlertGroup) and group.alerts:
        await console.post_alert_group(group, author="alertmanager", source="alertmanager", text=text)
        return
    # A person's question, not an alert: it is posted, then investigated as /diagnose would.
    console.surface.post_as(console.alert_channel, "on-call", text)
    error = await console.workflow.on_command(text[:500], platform="console", channel=console.alert_channel,
                                              user="on-call")
    if error:
        console.surface.say(error)
