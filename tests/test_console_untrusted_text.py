"""The console prints model and alert text as text: terminal control sequences in it (screen clears,
cursor moves, OSC 8 hyperlinks, carriage returns, bidi overrides) are removed, the rest stays
readable as is (no Slack-style &lt; escaping), and the console's own colours survive."""
from __future__ import annotations

import io

from agents.diagnosis import Diagnosis, Evidence
from bot.console.render import chat_text
from bot.console.surface import ConsoleSurface
from bot.render_text import render_diagnosis
from bot.workflow.surface import DiagnosisPost

HYPERLINK = "\x1b]8;;https://evil.example\x1b\\Slack SSO\x1b]8;;\x1b\\"
CONTROLS = f"\x1b[2J\x1b[1;1H{HYPERLINK} ok\rFAKE \u202eevil\x9b <!channel> & <b>"


def hostile() -> Diagnosis:
    return Diagnosis(category="oom_killed", component="cart", confidence=0.8, summary=f"cart OOMKilled {CONTROLS}",
                     evidence=[Evidence(tool="search_logs", finding=f"log line {CONTROLS}")])


def test_render_diagnosis_drops_terminal_controls_and_keeps_text_readable():
    out = render_diagnosis(hostile())
    assert not any(c in out for c in "\x1b\r\u202e\x9b")
    assert "]8;;https://evil.example\\Slack SSO" in out  # the text stays visible, inert
    assert "<!channel> & <b>" in out  # a terminal is not Slack: no &lt; entities


def test_console_messages_drop_controls_but_keep_the_consoles_own_colours():
    assert chat_text(f"\x1b[36m[1] Approve\x1b[0m {CONTROLS} :warning:") == (
        "\x1b[36m[1] Approve\x1b[0m [2J[1;1H]8;;https://evil.example\\Slack SSO]8;;\\ okFAKE evil <!channel> & <b> ⚠")


async def test_a_posted_diagnosis_reaches_the_terminal_without_controls():
    out = io.StringIO()
    surface = ConsoleSurface(out, color=True)
    await surface.post_diagnosis("#alerts", None, DiagnosisPost("INC1", "S1", hostile()))
    await surface.post_text("#alerts", f"alert summary {CONTROLS}")
    printed = out.getvalue()
    assert "\x1b[2J" not in printed and "\x1b]8" not in printed and "\r" not in printed and "\u202e" not in printed
    assert "\x1b[1m#alerts\x1b[0m" in printed  # the surface's own styling is intact
