"""Approval policy rules, identity parsing, signed tokens and the signing key file."""
from __future__ import annotations

import os
import stat
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from bot.remediation.policy import ApprovalPolicy, ApproverSet, Identity
from bot.remediation.tokens import Signer, load_or_create_key, new_nonce, signer_from_settings
from bot.remediation.views import confirm_text
from bot.settings import Settings
from tests.remediation_support import ALICE, LEAD, OPS, OPS2, STRANGER, policy


def test_identity_parse():
    assert Identity.parse("slack:U123") == Identity("slack", "U123")
    assert Identity.parse("teams:8f1c-aad") == Identity("teams", "8f1c-aad")
    assert Identity.parse("alice") == Identity("console", "alice")
    assert Identity.parse("bob", default_platform="slack").key == "slack:bob"
    # An unknown prefix is part of a console name, not a platform.
    assert Identity.parse("ops:carol") == Identity("console", "ops:carol")
    with pytest.raises(ValueError):
        Identity.parse("  ")


def test_approver_entries_and_groups():
    s = ApproverSet.parse(["slack:U1", "slack-group:S9", "teams:oid-1", "teams-group:g-2", "console:alice"])
    assert s.allows(Identity("slack", "U1"))
    assert s.allows(Identity("slack", "U7", frozenset({"S9"})))
    assert not s.allows(Identity("teams", "U7", frozenset({"S9"})))  # a Slack group says nothing on Teams
    assert s.allows(Identity("teams", "x", frozenset({"g-2"})))
    assert s.allows(ALICE) and not s.allows(Identity("slack", "alice"))
    with pytest.raises(ValueError):
        ApproverSet.parse(["email:a@b"])


def test_levels_are_cumulative_upwards():
    p = ApprovalPolicy.build(medium=["slack:UM"], high=["slack:UH"], critical=["slack:UC"])
    assert [p.allowed_at("MEDIUM").allows(Identity("slack", u)) for u in ("UM", "UH", "UC")] == [True, True, True]
    assert [p.allowed_at("HIGH").allows(Identity("slack", u)) for u in ("UM", "UH", "UC")] == [False, True, True]
    assert [p.allowed_at("CRITICAL").allows(Identity("slack", u)) for u in ("UM", "UH", "UC")] == [False, False, True]
    assert p.allowed_at("LOW").allows(Identity("slack", "UM"))
    # Empty higher levels mean nobody.
    q = ApprovalPolicy.build(medium=["slack:UM"])
    assert "nobody is configured" in q.denial(Identity("slack", "UM"), "HIGH", None, "approve")


def test_denials():
    p = policy()
    assert p.denial(STRANGER, "MEDIUM", None, "approve") == "someone is not an allowed approver for MEDIUM actions"
    assert p.denial(OPS, "MEDIUM", OPS.key, "approve") is None          # MEDIUM: self-approval allowed
    assert "cannot approve it yourself" in p.denial(LEAD, "HIGH", LEAD.key, "approve")
    assert "cannot approve it yourself" in p.denial(OPS, "CRITICAL", OPS.key, "approve")
    assert p.denial(LEAD, "HIGH", LEAD.key, "reject") is None           # a requester may withdraw
    member = Identity("slack", "UOPS3", frozenset({"SOPS"}))
    assert p.denial(member, "MEDIUM", None, "approve") is None
    assert p.denial(member, "HIGH", None, "approve") is not None        # group SOPS is MEDIUM only
    assert p.denial(OPS2, "HIGH", None, "approve") is None              # a CRITICAL approver covers HIGH
    assert p.approvals_required("CRITICAL") == 2 and p.approvals_required("HIGH") == 1


def test_risk_overrides_only_raise():
    p = policy(risk_overrides=["prod=HIGH", "kube-system=CRITICAL", "dev=LOW"])
    assert p.risk_for("MEDIUM", "prod") == "HIGH"
    assert p.risk_for("HIGH", "kube-system") == "CRITICAL"
    assert p.risk_for("MEDIUM", "dev") == "MEDIUM"
    assert p.risk_for("MEDIUM", "shop", {"shop": "CRITICAL"}) == "CRITICAL"
    assert p.risk_for("MEDIUM", None) == "MEDIUM"


def test_from_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPROVERS_MEDIUM", "slack:U123,slack-group:S456,teams:oid-9,console:alice")
    monkeypatch.setenv("APPROVERS_CRITICAL", "teams-group:g-1")
    monkeypatch.setenv("RISK_OVERRIDES", "prod=high, kube-system=CRITICAL")
    monkeypatch.setenv("PROPOSAL_TTL_MINUTES", "5")
    monkeypatch.setenv("AUTO_APPROVE_LOW", "true")
    p = ApprovalPolicy.from_settings(Settings())
    assert p.allowed_at("MEDIUM").allows(Identity("slack", "x", frozenset({"S456"})))
    assert p.allowed_at("HIGH").allows(Identity("teams", "y", frozenset({"g-1"})))  # CRITICAL group covers HIGH
    assert not p.allowed_at("HIGH").allows(Identity("slack", "U123"))
    assert p.risk_overrides == {"prod": "HIGH", "kube-system": "CRITICAL"}
    assert p.ttl == timedelta(minutes=5) and p.auto_approves("LOW") and not p.auto_approves("MEDIUM")


@pytest.mark.parametrize("name,value", [("APPROVERS_HIGH", "U123"), ("APPROVERS_HIGH", "email:x@y"),
                                        ("RISK_OVERRIDES", "prod=URGENT"), ("RISK_OVERRIDES", "prod")])
def test_bad_settings_are_refused(monkeypatch, tmp_path, name, value):
    from pydantic import ValidationError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def _row(**kw):
    base = dict(id="p1", action_type="scale_deployment", namespace="shop", target="cart",
                parameters={"replicas": 6}, expires_at=datetime(2030, 1, 1, tzinfo=timezone.utc), nonce=new_nonce())
    base.update(kw)
    return SimpleNamespace(**base)


def test_token_binds_every_field():
    s = Signer(b"k" * 32)
    row = _row()
    token = s.sign(row)
    assert s.verify(row, token)
    for change in ({"id": "p2"}, {"action_type": "delete_pod"}, {"target": "checkout"}, {"namespace": "prod"},
                   {"parameters": {"replicas": 60}}, {"nonce": new_nonce()},
                   {"expires_at": datetime(2030, 1, 2, tzinfo=timezone.utc)}):
        assert not s.verify(_row(**{**row.__dict__, **change}), token), change
    assert not Signer(b"x" * 32).verify(row, token)          # another key
    assert not s.verify(row, token[:-2] + "AA") and not s.verify(row, "") and not s.verify(row, None)
    # SQLite hands back naive UTC datetimes: same token.
    assert s.verify(_row(**{**row.__dict__, "expires_at": row.expires_at.replace(tzinfo=None)}), token)
    assert "k" * 32 not in repr(s)


def test_key_file_created_once_with_0600(tmp_path):
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_or_create_key(tmp_path / "d"))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    path = tmp_path / "d" / "action_signing.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["action_signing.key"]  # no temp files left
    assert load_or_create_key(tmp_path / "d") == keys[0]


def test_signer_from_settings_prefers_the_secret(tmp_path):
    row = _row()
    a = signer_from_settings(SimpleNamespace(action_signing_secret=None, data_dir=tmp_path))
    b = signer_from_settings(SimpleNamespace(action_signing_secret=None, data_dir=tmp_path))
    assert b.verify(row, a.sign(row))  # two processes on one data dir agree

    from pydantic import SecretStr

    c = signer_from_settings(SimpleNamespace(action_signing_secret=SecretStr("a-configured-secret-value"),
                                             data_dir=tmp_path))
    assert not c.verify(row, a.sign(row))


def test_confirm_text():
    assert confirm_text("scale deployment shop/cart from 3 to 6 replicas", "HIGH", 1) == (
        "This will scale deployment shop/cart from 3 to 6 replicas. Risk HIGH. Needs 1 approval from an allowed "
        "approver; you cannot approve your own request.")
    assert confirm_text("delete pod shop/x", "MEDIUM", 1).endswith("Needs 1 approval from an allowed approver.")
    assert "Needs 2 approvals from 2 different allowed approvers" in confirm_text("x", "CRITICAL", 2)
    assert "Needs 1 more approval from a different allowed approver" in confirm_text("x", "CRITICAL", 2, 1)
