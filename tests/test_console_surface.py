"""ConsoleSurface rendering and the console's command routing, in-process with a stub workflow."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from agents.diagnosis import Diagnosis
from bot.console.repl import Console
from bot.console.surface import ConsoleSurface
from bot.remediation import ApprovalPolicy, ClickResult, Identity, ProposalView
from bot.workflow.surface import DiagnosisPost, ProgressView

DEMO = ("console:alice", "console:bob")


def _policy() -> ApprovalPolicy:
    return ApprovalPolicy.build(medium=DEMO, high=DEMO, critical=DEMO)


def _view(pid: str = "p1", risk: str = "MEDIUM", state: str = "proposed", offerable: bool = True,
          reason: str | None = None, received: int = 0, requested_by: str = "bot") -> ProposalView:
    required = 2 if risk == "CRITICAL" else 1
    return ProposalView(
        proposal_id=pid, token=f"tok-{pid}" if offerable else "", incident_id="inc1", action_type="set_resources",
        target="cart", namespace="shop", parameters={"memory_limit": "768Mi"},
        action_text=f"set memory of shop/cart ({pid})", risk=risk, state=state, approvals_required=required,
        approvals_received=received, approvers=("console:alice",) * received,
        expires_at=datetime.now(timezone.utc) + timedelta(minutes=30), offerable=offerable, reason=reason,
        confirm_text="", requested_by=requested_by)


def _diagnosis() -> Diagnosis:
    return Diagnosis.model_validate({"category": "oom_killed", "component": "cart", "confidence": 0.8,
                                     "summary": "cart is OOMKilled at its 512Mi limit"})


def _surface(live: bool = False) -> tuple[ConsoleSurface, io.StringIO]:
    out = io.StringIO()
    return ConsoleSurface(out, live=live, color=False, policy=_policy()), out


async def test_threads_are_indented_under_their_root_and_proposals_become_numbered_choices():
    surface, out = _surface()
    root = surface.post_as("#alerts", "alertmanager", "[FIRING] KubePodCrashLooping\n  Pod is crash looping.")
    blocked = _view("p3", offerable=False, reason="dry run failed: forbidden")
    post = DiagnosisPost("inc1", "sess1", _diagnosis(), [_view("p1"), _view("p2", risk="HIGH"), blocked])
    ref = await surface.post_diagnosis("#alerts", root.ts, post)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "[1] #alerts · alertmanager: [FIRING] KubePodCrashLooping"
    assert lines[1] == "    Pod is crash looping."
    assert lines[2].startswith("  ↳ [1] Diagnosis: oom_killed  component: cart")
    assert all(ln.startswith("      ") for ln in lines[3:]), "thread continuation lines are indented"
    assert "[1] Approve set memory of shop/cart (p1) (MEDIUM, needs 1 approval)  [2] Reject" in text
    assert "[3] Approve set memory of shop/cart (p2) (HIGH, needs 1 approval)  [4] Reject" in text
    assert "requested by bot (may not approve it)" in text  # HIGH: the requester may not self-approve
    assert "allowed: console:alice, console:bob" in text
    assert "not offered: dry run failed: forbidden" in text and "[5]" not in text
    assert "\033[" not in text  # no colour codes when not a terminal
    assert {n: (c.proposal_id, c.decision) for n, c in surface.choices.items()} == {
        1: ("p1", "approve"), 2: ("p1", "reject"), 3: ("p2", "approve"), 4: ("p2", "reject")}
    assert surface.choices[1].ref == ref and ref.thread == root.ts

    # A vote re-renders the same proposal under the same numbers; a new proposal gets the next ones.
    await surface.update_proposal(ref, _view("p2", risk="CRITICAL", received=1), "alice approved")
    assert "[3] Approve set memory of shop/cart (p2) (CRITICAL, 1/2 approvals, 1 more needed)" in out.getvalue()
    undo = await surface.post_proposal("#alerts", root.ts, _view("p9"), "Undo available")
    assert surface.choices[5].proposal_id == "p9" and surface.choices[5].ref == undo
    done = _view("p1", state="succeeded", offerable=False, reason="already succeeded")
    await surface.update_proposal(ref, done, "bob approved; executed: patched")
    assert out.getvalue().splitlines()[-1].strip() == "• set memory of shop/cart (p1) (MEDIUM): succeeded"


async def test_progress_in_a_transcript_shows_first_and_final_state_only():
    surface, out = _surface(live=False)
    ref = await surface.post_progress("#ops", "7", ProgressView("inc", 0, None, "starting"))
    for n in range(1, 6):
        await surface.update_progress(ref, ProgressView("inc", n, 12, f"tool{n}: ok"))
    await surface.update_progress(ref, ProgressView("inc", 5, 12, "done: 5 tool calls", done=True))
    assert out.getvalue().splitlines() == ["  ↳ [7] step 0 · starting", "  ↳ [7] ✓ done: 5 tool calls"]


async def test_progress_on_a_terminal_is_rewritten_in_place_until_something_else_prints():
    surface, out = _surface(live=True)
    ref = await surface.post_progress("#ops", "7", ProgressView("inc", 0, None, "starting"))
    await surface.update_progress(ref, ProgressView("inc", 2, 9, "k8s_pods: ok"))
    assert out.getvalue().endswith("\033[1A\r\033[K  ↳ [7] step 2 of 9 · k8s_pods: ok\n")
    await surface.post_text("#ops", "something else")
    await surface.update_progress(ref, ProgressView("inc", 3, 9, "search_logs: ok"))
    tail = out.getvalue().split("something else\n", 1)[1]
    assert tail == "  ↳ [7] step 3 of 9 · search_logs: ok\n"  # a new line: the old one is no longer last


class StubWorkflow:
    def __init__(self):
        self.clicks, self.commands, self.drained = [], [], 0

    async def on_command(self, text, *, platform, channel, user):
        self.commands.append((text, platform, channel, user))
        return "Usage: /diagnose <service>" if not text else None

    async def on_click(self, **kw):
        self.clicks.append(kw)
        return ClickResult(False, "denied", "no")

    async def on_alert_group(self, group, **kw):
        return []

    async def drain(self, timeout=None):
        self.drained += 1


async def test_console_routes_commands_and_choices_as_the_current_identity():
    surface, out = _surface()
    wf = StubWorkflow()
    console = Console(wf, surface, factory=None, signer=None, policy=_policy(), identity=Identity("console", "you"))
    ref = await surface.post_diagnosis("#alerts", "1", DiagnosisPost("inc1", "s", _diagnosis(), [_view("p1")]))
    script = ["# a comment", "", "/as alice", "2", "/click 1", "/click x", "7", "/diagnose", "/diagnose shop/cart",
              "/nope", "free text", "/whoami", "/quit", "/as bob"]
    await console.run_script(script)
    text = out.getvalue()
    assert "> # a comment" not in text and "> /as alice" in text and "> /as bob" not in text  # stops at /quit
    assert [(c["proposal_id"], c["token"], c["decision"], c["identity"].key, c["message"]) for c in wf.clicks] == [
        ("p1", "tok-p1", "reject", "console:alice", ref), ("p1", "tok-p1", "approve", "console:alice", ref)]
    assert "Usage: /click N" in text and "No choice [7] (choices are 1–2)" in text
    assert wf.commands == [("", "console", "#ops", "alice"), ("shop/cart", "console", "#ops", "alice")]
    assert "(only visible to alice) Usage: /diagnose <service>" in text
    assert "Unknown command /nope." in text and text.count("Commands:") == 2  # unknown command and free text
    assert "You are console:alice: may approve MEDIUM, HIGH, CRITICAL actions" in text
    assert "CRITICAL: console:alice, console:bob (2 different approvers, not the requester)" in text
    assert wf.drained == 1  # the end of a script waits for queued sessions


def test_console_policy_demo_approvers_only_when_none_configured(monkeypatch, tmp_path):
    from bot.console.wiring import console_policy
    from bot.settings import Settings

    for name in ("APPROVERS_MEDIUM", "APPROVERS_HIGH", "APPROVERS_CRITICAL", "RISK_OVERRIDES"):
        monkeypatch.delenv(name, raising=False)
    plain = Settings(data_dir=tmp_path)
    policy, note = console_policy(plain)
    alice = Identity("console", "alice")
    assert note and "console:alice" in note and "console:bob" in note
    assert all(policy.allowed_at(r).allows(alice) for r in ("MEDIUM", "HIGH", "CRITICAL"))
    assert not policy.allowed_at("MEDIUM").allows(Identity("console", "you"))
    # The server's policy from the same settings is untouched: nobody may approve.
    assert not ApprovalPolicy.from_settings(plain).allowed_at("MEDIUM")

    configured = Settings(data_dir=tmp_path, approvers_medium="console:carol")
    policy, note = console_policy(configured)
    assert note is None and not policy.allowed_at("MEDIUM").allows(alice)
    assert policy.allowed_at("MEDIUM").allows(Identity("console", "carol"))
