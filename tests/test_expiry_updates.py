"""Expiry the chat sees (bot/workflow/expiry.py), on SQLite and PostgreSQL: proposals posted in a
Slack thread (the loopback fake, real slack_sdk client) or on the console expire by the sweep, and
their messages lose their buttons and say so, edited by a surface that kept no copy of them (as
after a restart). A failed edit does not stop the others and is retried by the next sweep."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from agents.diagnosis import Diagnosis, ProposedAction
from bot.console.surface import ConsoleSurface
from bot.models import RemediationProposal
from bot.remediation import click, expire_due, propose
from bot.slack.surface import SlackSurface, make_client
from bot.workflow import expiry
from bot.workflow.expiry import expire_and_update, remember_messages
from bot.workflow.surface import DiagnosisPost
from tests.actions_support import NS, executor, objects
from tests.fake_slack import DEFAULT_TOKEN, FakeSlack
from tests.remediation_support import OPS, SIGNER, audit_events, policy, real_writes, seed
from tools.k8s import FakeKubeAPI

CHANNEL = "C0INCIDENT"
T0 = datetime.now(timezone.utc) - timedelta(hours=2)
DUE = T0 + timedelta(minutes=31)  # the first proposals (TTL 30 min) are due, the later one is not


@pytest.fixture
def env(migrated):
    _, factory = migrated
    with FakeKubeAPI(objects()) as cluster:
        yield factory, cluster, executor(cluster)


@pytest.fixture
def fake():
    with FakeSlack() as f:
        f.add_channel(CHANNEL)
        yield f


def slack(fake):
    return SlackSurface(make_client(DEFAULT_TOKEN, fake.url))


async def _proposals(factory, ex):
    """a, b and d proposed at T0 (due at DUE); c proposed 20 minutes later (still open at DUE)."""
    inc, diag = seed(factory)

    async def at(now, *actions):
        return await propose(factory, ex, inc, diag, [ProposedAction(action_type=t, target="cart", namespace=NS,
                                                                     parameters=p) for t, p in actions],
                             OPS, (NS,), policy=policy(ttl_minutes=30), signer=SIGNER, now=now)

    a, b, d = await at(T0, ("restart_deployment", {}), ("scale_deployment", {"replicas": 4}),
                       ("scale_deployment", {"replicas": 6}))
    [c] = await at(T0 + timedelta(minutes=20), ("scale_deployment", {"replicas": 5}))
    assert all(v.offerable for v in (a, b, c, d))
    return inc, a, b, c, d


def _post(inc, *views):
    d = Diagnosis.model_validate({"category": "traffic_spike", "component": "cart", "confidence": 0.8,
                                  "summary": "cart saturates under load"})
    return DiagnosisPost(incident_id=inc, session_id="s1", diagnosis=d, proposals=list(views))


def _message(fake, ts):
    return next(m for m in fake.messages(CHANNEL) if m["ts"] == ts)


def _actions(msg) -> dict[str, list[dict]]:
    """proposal id -> its buttons, from the message's actions blocks."""
    return {b["block_id"].split(":", 1)[1]: b["elements"] for b in msg.get("blocks") or []
            if b.get("type") == "actions"}


def _proposal_text(msg, pid) -> str:
    return " ".join(str(b) for b in msg["blocks"] if str(b.get("block_id", "")).endswith(":" + pid))


def _rows(factory, *ids):
    with factory() as s:
        return {r.id: (r.state, r.message_ref) for r in s.query(RemediationProposal)
                .filter(RemediationProposal.id.in_(ids))}


async def test_slack_messages_lose_expired_buttons_after_a_restart(env, fake):
    factory, cluster, ex = env
    inc, a, b, c, d = await _proposals(factory, ex)
    poster = slack(fake)
    root = await poster.post_text(CHANNEL, "KubeDeploymentReplicasMismatch shop/cart")
    diag_ref = await poster.post_diagnosis(CHANNEL, root.ts, _post(inc, a, b, c))
    assert remember_messages(factory, [a.proposal_id, b.proposal_id, c.proposal_id, ""], "slack", diag_ref) == 3
    undo_ref = await poster.post_proposal(CHANNEL, root.ts, d, "Undo available for restart")
    remember_messages(factory, [d.proposal_id], "slack", undo_ref)
    assert set(_actions(_message(fake, diag_ref.ts))) == {a.proposal_id, b.proposal_id, c.proposal_id}
    assert set(_actions(_message(fake, undo_ref.ts))) == {d.proposal_id}

    # The first edit (one of a, b: the diagnosis message is edited first) fails at Slack.
    first, second = sorted([a.proposal_id, b.proposal_id])
    fake.fail("chat.update", "internal_error", status=200, times=1)
    fake.reset_calls()
    expired = await expire_and_update(factory, {"slack": slack(fake)}, SIGNER, now=DUE)
    assert sorted(expired) == sorted([a.proposal_id, b.proposal_id, d.proposal_id])
    rows = _rows(factory, a.proposal_id, b.proposal_id, c.proposal_id, d.proposal_id)
    assert {pid: state for pid, (state, _) in rows.items()} == {
        a.proposal_id: "expired", b.proposal_id: "expired", c.proposal_id: "proposed", d.proposal_id: "expired"}
    clock = {e["subject"] for e in audit_events(factory, "proposal.expired") if e["actor"] == "system:clock"}
    assert clock == {f"proposal/{p}" for p in (a.proposal_id, b.proposal_id, d.proposal_id)}
    assert fake.calls("conversations.replies")  # no copy in memory: the messages were read back from Slack
    assert [call.response["ok"] for call in fake.calls("chat.update")] == [False, True, True]

    # The failure did not stop the other edits: the second proposal and the undo message are done.
    diag = _message(fake, diag_ref.ts)
    assert set(_actions(diag)) == {first, c.proposal_id}  # c is still open and keeps its buttons
    assert _actions(diag)[c.proposal_id][0]["value"] == f"{c.proposal_id}|{c.token}"
    assert "Expired without a decision" in _proposal_text(diag, second)
    assert "expired after 30 min without approval" in _proposal_text(diag, second)
    undo = _message(fake, undo_ref.ts)
    assert _actions(undo) == {} and "Expired without a decision" in _proposal_text(undo, d.proposal_id)
    assert rows[first][1]["pending"] == "expired" and rows[first][1]["tries"] == 1
    assert "pending" not in rows[second][1] and "pending" not in rows[d.proposal_id][1]
    assert rows[c.proposal_id][1] == {"platform": "slack", "channel": CHANNEL, "ts": diag_ref.ts,
                                      "thread": root.ts}

    # The next sweep (another fresh process) retries only the failed edit.
    fake.reset_calls()
    assert await expire_and_update(factory, {"slack": slack(fake)}, SIGNER, now=DUE + timedelta(minutes=1)) == []
    assert len(fake.calls("chat.update")) == 1
    diag = _message(fake, diag_ref.ts)
    assert set(_actions(diag)) == {c.proposal_id}
    assert "Expired without a decision" in _proposal_text(diag, first)
    assert "pending" not in _rows(factory, first)[first][1]
    fake.reset_calls()
    assert await expire_and_update(factory, {"slack": slack(fake)}, SIGNER, now=DUE + timedelta(minutes=2)) == []
    assert fake.calls() == []  # nothing owed, nothing sent

    # The old button of an expired proposal is still refused, and nothing ran.
    r = await click(factory, ex, a.proposal_id, a.token, OPS, "approve", policy=policy(), signer=SIGNER)
    assert (r.ok, r.status, r.executed) == (False, "already_decided", False)
    assert real_writes(cluster) == []


async def test_console_shows_expiry_without_choices(env):
    factory, _, ex = env
    inc, a, b, c, _ = await _proposals(factory, ex)
    before = ConsoleSurface(io.StringIO(), policy=policy())
    ref = await before.post_diagnosis("#incidents", None, _post(inc, a, b, c))
    remember_messages(factory, [a.proposal_id, b.proposal_id, c.proposal_id], "console", ref)
    out = io.StringIO()
    await expire_and_update(factory, {"console": ConsoleSurface(out, policy=policy())}, SIGNER, now=DUE)
    text = out.getvalue()
    assert text.count("expired after 30 min without approval") == 2
    assert f"✗ {a.action_text} (MEDIUM): expired" in text and f"✗ {b.action_text} (MEDIUM): expired" in text
    assert "Approve" not in text and c.action_text not in text
    assert all(line.startswith(f"  ↳ [{ref.ts}]") for line in text.splitlines() if "expired after" in line)


async def test_proposal_expired_by_a_click_is_not_edited_again(env, fake):
    factory, _, ex = env
    inc, a, b, _, d = await _proposals(factory, ex)
    surface = slack(fake)
    ref = await surface.post_diagnosis(CHANNEL, None, _post(inc, a, b))
    remember_messages(factory, [a.proposal_id, b.proposal_id], "slack", ref)  # d was never posted
    # A late click expires `a` itself; the workflow's on_click edits the message with its own note.
    r = await click(factory, ex, a.proposal_id, a.token, OPS, "approve", policy=policy(), signer=SIGNER, now=DUE)
    assert r.status == "expired"
    await surface.update_proposal(ref, r.view, "ops one tried; expired: this proposal has expired")
    fake.reset_calls()
    expired = await expire_and_update(factory, {"slack": slack(fake)}, SIGNER, now=DUE)
    assert sorted(expired) == sorted([b.proposal_id, d.proposal_id])
    assert len(fake.calls("chat.update")) == 1  # b's edit only: not a's again, and d has no message
    msg = _message(fake, ref.ts)
    assert _actions(msg) == {} and "expired after 30 min" in _proposal_text(msg, b.proposal_id)
    assert "ops one tried" in _proposal_text(msg, a.proposal_id)  # the click's note stays


async def test_expired_before_remembered_and_giving_up(env, fake):
    factory, _, ex = env
    inc, a, b, _, d = await _proposals(factory, ex)
    surface = slack(fake)
    ref = await surface.post_diagnosis(CHANNEL, None, _post(inc, a, b))
    # The sweep ran between posting and recording: the message still owes both proposals an edit.
    assert sorted(expire_due(factory, DUE)) == sorted([a.proposal_id, b.proposal_id, d.proposal_id])
    remember_messages(factory, [a.proposal_id, b.proposal_id], "slack", ref)
    fake.fail("chat.update", "cant_update_message", status=200, times=None)
    for sweep in range(expiry.MAX_TRIES + 2):
        fake.reset_calls()
        await expire_and_update(factory, {"slack": slack(fake)}, SIGNER, now=DUE + timedelta(minutes=sweep))
        assert len(fake.calls("chat.update")) == (2 if sweep < expiry.MAX_TRIES else 0)
    rows = _rows(factory, a.proposal_id, b.proposal_id)
    assert all("pending" not in ref and "cant_update_message" in ref["edit_failed"] for _, ref in rows.values())
