"""Feedback in the console, scripted (SQLite and PostgreSQL): each diagnosis ends with the numbered
choices "[n] Right cause  [m] Wrong cause"; "Wrong cause" asks for the real cause (a number or a
name) and a line, under the same identity rules as approvals (console approvers and the person who
asked), refusals shown only to the clicker and audited; /cancel leaves the questions."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from agents.session import EngineSettings
from bot.console.repl import Console
from bot.console.surface import ConsoleSurface
from bot.models import Feedback
from bot.remediation import ApprovalPolicy, Identity, Signer
from bot.workflow.service import Workflow
from tests.remediation_support import audit_events
from tests.teams_support import no_sources

DEMO = ("console:alice", "console:bob")


@pytest.fixture
async def console(migrated):
    _, factory = migrated
    out = io.StringIO()
    policy = ApprovalPolicy.build(medium=DEMO, high=DEMO, critical=DEMO)
    surface = ConsoleSurface(out, policy=policy)
    wf = Workflow(factory, {"console": surface}, no_sources(), EngineSettings(engine="offline"), None,
                  concurrency=1, policy=policy, signer=Signer(b"0123456789abcdef0123456789abcdef"))
    yield Console(wf, surface, factory, wf.signer, policy, identity=Identity("console", "you")), out
    await wf.stop(0)


def after(out: str, line: str, nth: int = 1) -> str:
    """The transcript after the nth echo of `line`, up to the next echoed line."""
    return out.split(f"\n> {line}\n")[nth].split("\n> ", 1)[0]


def stored(factory) -> list[tuple]:
    with factory() as s:
        return [(r.actor, r.verdict, r.category, r.note) for r in s.execute(select(Feedback).order_by(Feedback.id))
                .scalars()]


async def test_right_and_wrong_cause_from_the_console(console):
    c, buf = console
    await c.run_script(["/diagnose shop/cart", "/wait", "/as eve", "1", "/as alice", "2", "/help", "zzz",
                        "dns_failure", "coredns ConfigMap edited", "/as you", "1", "2", "/cancel", "/cancel"])
    out = "\n" + buf.getvalue()
    thread = re.search(r"^\[(\d+)\] #ops · chatops: Investigating `shop/cart`", out, re.M).group(1)
    assert re.search(rf"^  ↳ \[{thread}\] Diagnosis: ", out, re.M)
    waited = after(out, "/wait")
    assert "Was this the right cause?" in waited and "[1] Right cause  [2] Wrong cause" in waited

    assert "(only visible to eve) console:eve may not give feedback on this diagnosis" in after(out, "1")
    asked = after(out, "2")
    assert "Wrong cause: the diagnosis said Cause unknown. What was the real cause?" in asked
    assert "DNS failure (dns_failure)" in asked and "Cause unknown (unknown)" not in asked
    assert "/cancel" in after(out, "/help")  # other commands still work while the form waits
    assert "'zzz' is not one of the causes" in after(out, "zzz")
    assert "Real cause: DNS failure. One line about what happened" in after(out, "dns_failure")
    assert (f"  ↳ [{thread}] ✗ Wrong cause — alice (console): real cause DNS failure: 'coredns ConfigMap edited'"
            in after(out, "coredns ConfigMap edited"))
    # console:you asked for the diagnosis, so may answer too; then leaves a second answer unfinished
    right = after(out, "1", 2)
    assert "✓ Right cause — you (console)" in right and "[1] Right cause  [2] Wrong cause" in right
    assert "Feedback cancelled; nothing was recorded." in after(out, "/cancel")
    assert "Nothing to cancel." in after(out, "/cancel", 2)
    assert stored(c.factory) == [("console:alice", "wrong", "dns_failure", "coredns ConfigMap edited"),
                                 ("console:you", "right", None, None)]
    assert [e["actor"] for e in audit_events(c.factory, "feedback.denied")] == ["console:eve"]
    assert [e["actor"] for e in audit_events(c.factory, "feedback.recorded")] == ["console:alice", "console:you"]


async def test_a_number_picks_the_cause_and_a_dash_means_no_line(console):
    c, buf = console
    await c.run_script(["/diagnose shop/cart", "/wait", "/as bob", "2", "4", "-"])
    out = buf.getvalue()
    menu = out.split("What was the real cause?", 1)[1]
    fourth = re.search(r"^  4\. .* \((\w+)\)$", menu, re.M).group(1)
    assert stored(c.factory) == [("console:bob", "wrong", fourth, None)]
