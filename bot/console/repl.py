"""The console's input loop: slash commands and numbered choices, fed to the Workflow.

Interactive (a terminal) or a script (stdin not a TTY, or --script): a script's lines are echoed
as `> line` and run one after another; a click waits for its execution and verification, and
`/wait` waits for queued diagnoses. At the end of a script the console drains the queue, so a
transcript always ends with every session's answer.
"""
from __future__ import annotations

import asyncio
import json
import queue
import re
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable, TextIO

from bot.console.render import category_menu
from bot.console.surface import Choice, ConsoleSurface
from bot.remediation import Identity
from tools.taxonomy import category_label

COMMANDS = [
    ("/diagnose TEXT", "investigate a service, namespace/pod or alert text (answered in a thread)"),
    ("/alert TEXT|JSON", "post an alert into #alerts as a monitoring system would (Alertmanager JSON or text)"),
    ("/ask [N|INCIDENT] QUESTION", "a follow-up question in diagnosis thread [N] (or an incident's; default: the "
                                   "newest), answered there: why not X, show the logs of Y, what changed, which runbook"),
    ("N  or  /click N", "pick numbered choice N (approve or reject a proposal, right or wrong cause of a "
                        "diagnosis) as the current identity"),
    ("/cancel", "leave the wrong-cause questions without recording anything"),
    ("/as NAME", "act as someone else (alice, console:bob, slack:U123) to try approvals"),
    ("/whoami", "who you are and what you may approve"),
    ("/proposals", "recent remediation proposals with their state (open ones get choice numbers)"),
    ("/audit", "verify the hash-chained audit log"),
    ("/digest [YYYY-Www]", "the weekly knowledge digest of a week (default: the last full one), as it is posted"),
    ("/wait", "wait until queued diagnoses finish"),
    ("/help", "this list"),
    ("/quit", "leave (at the end of a script the console also waits for queued work)"),
]
DEFAULT_IDENTITY = "console:you"


@dataclass
class _WrongCause:
    """The "Wrong cause" form, asked line by line: the real category, then one line of text."""
    choice: Choice
    identity: Identity  # who clicked: the answer is theirs even if /as switches meanwhile
    choices: list[tuple[str, str]]
    category: str | None = None

    def pick(self, answer: str) -> str | None:
        if answer.isdigit() and 1 <= int(answer) <= len(self.choices):
            return self.choices[int(answer) - 1][0]
        wanted = answer.strip().lower()
        return next((c for c, label in self.choices if wanted in (c, label.lower())), None)


def help_text() -> str:
    width = max(len(c) for c, _ in COMMANDS)
    return "Commands:\n" + "\n".join(f"  {c.ljust(width)}  {d}" for c, d in COMMANDS)


class Console:
    def __init__(self, workflow: Any, surface: ConsoleSurface, factory: Any, signer: Any, policy: Any, *,
                 identity: Identity, channel: str = "#ops", alert_channel: str = "#alerts"):
        self.workflow = workflow
        self.surface = surface
        self.factory = factory
        self.signer = signer
        self.policy = policy
        self.identity = identity
        self.channel = channel
        self.alert_channel = alert_channel
        self.form: _WrongCause | None = None  # a "Wrong cause" being answered: plain lines go to it

    # -- input sources ---------------------------------------------------------------------
    async def run_script(self, lines: Iterable[str] | TextIO) -> None:
        """Run a script's lines. A stream (stdin) is read on a daemon thread, so sessions keep
        running while a slow writer (`cat | chatops console`) has not sent the next line yet."""
        async for raw in _lines(lines):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue  # blank lines and comments in scripts
            self.surface.say(f"> {line}")
            if not await self.handle(line):
                break
        await self.workflow.drain()

    async def run_interactive(self) -> None:
        """input() runs on a daemon thread so background sessions keep printing while you type,
        and an interrupted read cannot keep the process alive. The prompt is requested only after
        the previous line was handled, so it always shows the current identity."""
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        prompts: queue.Queue[str | None] = queue.Queue()

        def reader() -> None:
            while (prompt := prompts.get()) is not None:
                self.surface.show_prompt(prompt)  # as late as possible: input() draws it next
                try:
                    line: str | None = input(prompt)
                except (EOFError, KeyboardInterrupt):
                    line = None
                loop.call_soon_threadsafe(lines.put_nowait, line)
                if line is None:
                    return

        try:
            import readline  # noqa: F401  (line editing and history for input())
        except ImportError:
            pass
        threading.Thread(target=reader, name="console-input", daemon=True).start()
        try:
            while True:
                prompts.put(f"{self.identity.key}> ")
                line = await lines.get()
                self.surface.input_taken()
                if line is None or not await self.handle(line):
                    break
        finally:
            prompts.put(None)

    # -- commands --------------------------------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Run one line; False means quit."""
        line = line.strip()
        if not line:
            return True
        if self.form is not None and (not line.startswith("/") or line.lower() == "/cancel"):
            await self.answer_form(line)
            return True
        if line.isdigit():
            await self.click(int(line))
            return True
        if not line.startswith("/"):
            self.surface.say(f"Messages are not read here; start a command with / ({line[:40]!r}).\n{help_text()}")
            return True
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("/quit", "/exit"):
            return False
        handler = {"/help": self.cmd_help, "/diagnose": self.cmd_diagnose, "/alert": self.cmd_alert,
                   "/as": self.cmd_as, "/whoami": self.cmd_whoami, "/click": self.cmd_click,
                   "/proposals": self.cmd_proposals, "/audit": self.cmd_audit, "/wait": self.cmd_wait,
                   "/cancel": self.cmd_cancel, "/digest": self.cmd_digest, "/ask": self.cmd_ask}.get(name)
        if handler is None:
            self.surface.say(f"Unknown command {name}.\n{help_text()}")
            return True
        await handler(arg)
        return True

    async def cmd_cancel(self, arg: str) -> None:
        self.surface.say("Nothing to cancel.")  # a pending form takes /cancel before this

    async def cmd_help(self, arg: str) -> None:
        self.surface.say(help_text())

    async def cmd_diagnose(self, arg: str) -> None:
        error = await self.workflow.on_command(arg, platform="console", channel=self.channel,
                                               user=self.identity.user_id)
        if error:
            await self.surface.ephemeral(self.channel, self.identity.user_id, error)

    async def cmd_ask(self, arg: str) -> None:
        """A follow-up question, posted in the diagnosis thread as the current identity and answered there."""
        from bot.followup.store import find_thread

        first, _, rest = arg.partition(" ")
        ref = first if rest.strip() and re.fullmatch(r"[0-9]+|[0-9a-f]{8,32}", first.lower()) else None
        question = rest.strip() if ref else arg.strip()
        where = await asyncio.to_thread(find_thread, self.factory, "console", ref)
        if where is None and ref and not ref.isdigit():  # a question that merely starts with a hex-like word
            where, question = await asyncio.to_thread(find_thread, self.factory, "console", None), arg.strip()
        if not question:
            self.surface.say("Usage: /ask [N|INCIDENT] QUESTION, e.g. /ask 3 why not DNS?")
            return
        if where is None:
            self.surface.say(f"No diagnosis thread {ref} here." if ref else "No diagnosis has been posted yet.")
            return
        channel, thread = where
        asked = self.surface.post_as(channel, self.identity.key, question, thread=thread)
        reply = await self.workflow.on_followup(question, platform="console", channel=channel, thread=thread,
                                                user=self.identity.user_id, message_id=asked.ts)
        if reply.message:
            await self.surface.ephemeral(channel, self.identity.user_id, reply.message, thread=thread)

    async def cmd_alert(self, arg: str) -> None:
        from tools.intake import parse_any
        from tools.intake.model import AlertGroup

        if not arg:
            self.surface.say("Usage: /alert <alert text or Alertmanager/Grafana JSON>")
            return
        try:
            payload: Any = json.loads(arg)
        except json.JSONDecodeError:
            payload = arg
        group = parse_any(payload)
        if not isinstance(group, AlertGroup) or not group.alerts:
            self.surface.say(f"Not an alert ({getattr(group, 'reason', 'no alerts in it')}); "
                             "use /diagnose for a question.")
            return
        await self.post_alert_group(group, author=self.identity.key, source="console")

    async def post_alert_group(self, group: Any, *, author: str, source: str, text: str | None = None) -> list[str]:
        """An alert arrives in the alert channel; the workflow answers in its thread."""
        ref = self.surface.post_as(self.alert_channel, author, text or alert_text(group))
        return await self.workflow.on_alert_group(group, platform="console", channel=self.alert_channel,
                                                  thread=ref.ts, source=source, actor=author)

    async def cmd_as(self, arg: str) -> None:
        if not arg:
            self.surface.say("Usage: /as NAME (alice, console:bob, slack:U123)")
            return
        try:
            self.identity = Identity.parse(arg, default_platform="console")
        except ValueError as exc:
            self.surface.say(f"/as: {exc}")
            return
        self.surface.say(f"You are now {self.identity.key}: {self.abilities()}.")

    async def cmd_whoami(self, arg: str) -> None:
        lines = [f"You are {self.identity.key}: {self.abilities()}. Approvers by risk:"]
        for risk in ("MEDIUM", "HIGH", "CRITICAL"):
            who = ", ".join(sorted(self.surface.allowed(risk))) or "nobody"
            rules = []
            if self.policy.approvals_required(risk) > 1:
                rules.append(f"{self.policy.approvals_required(risk)} different approvers")
            if self.policy.self_approval_forbidden(risk):
                rules.append("not the requester")
            lines.append(f"  {risk}: {who}" + (f" ({', '.join(rules)})" if rules else ""))
        self.surface.say("\n".join(lines))

    def abilities(self) -> str:
        levels = [r for r in ("MEDIUM", "HIGH", "CRITICAL") if self.policy.allowed_at(r).allows(self.identity)]
        if not levels:
            return "may approve nothing (not in the approver lists; /whoami shows them)"
        return f"may approve {', '.join(levels)} actions"

    async def cmd_click(self, arg: str) -> None:
        if not arg.isdigit():
            self.surface.say("Usage: /click N (or just N), N being a numbered choice")
            return
        await self.click(int(arg))

    async def click(self, number: int) -> None:
        choice = self.surface.choices.get(number)
        if choice is None:
            have = f"choices are 1–{len(self.surface.choices)}" if self.surface.choices else "no choices offered yet"
            self.surface.say(f"No choice [{number}] ({have}).")
            return
        self.surface.say(f"{self.identity.key} picks [{number}] {choice.label}…")
        if choice.feedback:
            await self.feedback(choice)
            return
        await self.workflow.on_click(platform="console", channel=choice.channel, message=choice.ref,
                                     proposal_id=choice.proposal_id, token=choice.token, identity=self.identity,
                                     decision=choice.decision)

    # -- feedback on a diagnosis ------------------------------------------------------------
    def _feedback_args(self, choice: Choice, identity: Identity) -> dict[str, Any]:
        return dict(platform="console", channel=choice.channel, message=choice.ref, diagnosis_id=choice.proposal_id,
                    token=choice.token, identity=identity)

    async def feedback(self, choice: Choice) -> None:
        if choice.decision == "right":
            await self.workflow.on_feedback(**self._feedback_args(choice, self.identity), verdict="right")
            return
        form = await self.workflow.feedback_form(**self._feedback_args(choice, self.identity))
        if form is None:  # refused: the workflow said why
            return
        self.form = _WrongCause(choice, self.identity, form.choices)
        self.surface.say(f"Wrong cause: the diagnosis said {category_label(form.engine_category)}. What was the real "
                         f"cause? Type its number or name (/cancel to leave it):\n{category_menu(form.choices)}")

    async def answer_form(self, line: str) -> None:
        form = self.form
        if line.lower() == "/cancel":
            self.form = None
            self.surface.say("Feedback cancelled; nothing was recorded.")
            return
        if form.category is None:
            form.category = form.pick(line)
            if form.category is None:
                self.surface.say(f"{line[:60]!r} is not one of the causes: type a number from 1 to "
                                 f"{len(form.choices)} or a name from the list (/cancel to leave it).")
            else:
                self.surface.say(f"Real cause: {category_label(form.category)}. One line about what happened "
                                 "(- for none):")
            return
        self.form = None
        await self.workflow.on_feedback(**self._feedback_args(form.choice, form.identity), verdict="wrong",
                                        category=form.category, note=None if line == "-" else line)

    async def cmd_proposals(self, arg: str) -> None:
        from bot.remediation import list_proposals

        views = await asyncio.to_thread(list_proposals, self.factory, self.signer, None, 20)
        if not views:
            self.surface.say("No proposals yet.")
            return
        self.surface.post_listing(self.channel, f"Recent proposals ({len(views)}):", list(reversed(views)))

    async def cmd_audit(self, arg: str) -> None:
        from bot import audit

        def verify():  # noqa: ANN202
            with self.factory() as s:
                return audit.verify(s)

        result = await asyncio.to_thread(verify)
        if result.ok:
            self.surface.say(f"audit chain OK: {result.count} rows")
        else:
            self.surface.say(f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason}")

    async def cmd_wait(self, arg: str) -> None:
        await self.workflow.drain()

    async def cmd_digest(self, arg: str) -> None:
        from datetime import datetime, timezone

        from bot.digest.render_text import render_text
        from bot.digest.service import DigestConfig, DigestService
        from bot.digest.week import WeekError, parse_week, previous_week
        from bot.settings import get_settings

        config = DigestConfig.from_settings(get_settings())
        try:
            week = parse_week(arg, config.tz) if arg else previous_week(datetime.now(timezone.utc), config.tz)
        except WeekError as exc:
            self.surface.say(f"/digest: {exc}")
            return
        service = DigestService(self.factory, {}, config, getattr(self.workflow, "knowledge", None))
        await self.surface.post_text(self.channel, render_text(await service.build(week)))


async def _lines(source: Iterable[str] | TextIO) -> AsyncIterator[str]:
    if isinstance(source, (list, tuple)):
        for line in source:
            yield line
        return
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        try:
            for line in source:
                loop.call_soon_threadsafe(lines.put_nowait, line)
        finally:
            loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=reader, name="console-script", daemon=True).start()
    while (line := await lines.get()) is not None:
        yield line


def alert_text(group: Any) -> str:
    """How an alert group reads in the channel, as Alertmanager's default chat template shows it."""
    lines = []
    for a in group.alerts:
        where = " ".join(f"{k}={v}" for k, v in (("namespace", a.namespace), ("pod", a.pod),
                                                   ("service", a.service)) if v)
        lines.append(f"[{a.status.upper()}] {a.name} ({a.severity}) {where}".rstrip())
        if a.summary or a.description:
            lines.append(f"  {a.summary or a.description}")
    return "\n".join(lines)
