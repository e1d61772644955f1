"""`chatops proposals list`, `chatops approve`, `chatops reject` against a fake cluster reached
through a real kubeconfig file."""
from __future__ import annotations

import asyncio

import pytest
import yaml

from bot import migrate
from bot.cli import main as cli_main
from bot.db import make_engine, session_factory
from bot.remediation import get_view, propose
from tests.actions_support import NS, executor, objects
from tests.remediation_support import SIGNER, Controller, audit_events, policy, real_writes, seed
from tools.k8s import FakeKubeAPI
from tools.k8s.fake_store import resource_for_kind


def _kubeconfig(path, server: str):
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "bot", "user": {"token": "test-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "bot"}}]}))
    return path


@pytest.fixture
def setup(db_url, cli_env, monkeypatch, tmp_path):
    cli_env(db_url)
    monkeypatch.setenv("APPROVERS_MEDIUM", "console:alice,slack:UOPS1")
    monkeypatch.setenv("ACTION_VERIFY_TIMEOUT_SECONDS", "10")
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    factory = session_factory(engine)
    with FakeKubeAPI(objects()) as fake, Controller(fake):
        monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "kubeconfig", fake.url)))

        def make(*actions):
            inc, diag = seed(factory)
            return asyncio.run(propose(factory, executor(fake), inc, diag, list(actions), "slack:UREQ", (NS,), None,
                                       policy=policy(), signer=SIGNER))

        yield factory, fake, make
    engine.dispose()


def _scale(replicas):
    return {"action_type": "scale_deployment", "target": "cart", "namespace": NS, "parameters": {"replicas": replicas}}


def test_list_approve_and_undo(setup, capsys):
    factory, fake, make = setup
    [v] = make(_scale(6))
    assert cli_main(["proposals", "list"]) == 0
    out = capsys.readouterr().out
    assert v.proposal_id in out and "proposed" in out and "MEDIUM" in out and "0/1 approvals" in out
    assert "scale deployment shop/cart from 3 to 6 replicas" in out
    assert cli_main(["proposals", "list", "--state", "succeeded"]) == 0
    assert capsys.readouterr().out.strip() == "no proposals in state succeeded"

    assert cli_main(["approve", v.proposal_id, "--as", "bob"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("denied: console:bob is not an allowed approver") and real_writes(fake) == []

    assert cli_main(["approve", v.proposal_id, "--as", "alice"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("executed: done: scale deployment shop/cart from 3 to 6 replicas"), out
    assert fake.store.get(resource_for_kind("Deployment"), NS, "cart")["spec"]["replicas"] == 6
    assert "undo offered as proposal" in out and "scale deployment shop/cart from 6 to 3 replicas" in out
    assert get_view(factory, v.proposal_id, SIGNER).state == "succeeded"
    [approval] = audit_events(factory, "approval.recorded")
    assert (approval["actor"], approval["payload"]["received"]) == ("console:alice", 1)

    assert cli_main(["approve", v.proposal_id, "--as", "alice"]) == 1  # replay after the decision
    assert capsys.readouterr().out.startswith("already_decided:")
    assert cli_main(["proposals", "list", "--state", "succeeded"]) == 0
    assert "result: done: scale deployment" in capsys.readouterr().out
    assert cli_main(["audit", "verify"]) == 0


def test_reject_and_unknown_id(setup, capsys):
    factory, fake, make = setup
    [v] = make(_scale(5))
    assert cli_main(["reject", v.proposal_id, "--as", "slack:UOPS1"]) == 0
    assert capsys.readouterr().out.startswith("rejected: rejected by slack:UOPS1")
    assert get_view(factory, v.proposal_id, SIGNER).state == "rejected"
    assert cli_main(["approve", "0" * 32, "--as", "alice"]) == 2
    assert "no proposal" in capsys.readouterr().err
    assert real_writes(fake) == []


def test_unusable_kubeconfig_records_the_approval_and_fails_cleanly(setup, capsys, monkeypatch, tmp_path):
    factory, fake, make = setup
    [v] = make(_scale(4))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    from bot.settings import get_settings

    get_settings.cache_clear()
    assert cli_main(["approve", v.proposal_id, "--as", "alice"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("failed: Kubernetes unavailable: no usable Kubernetes configuration"), out
    view = get_view(factory, v.proposal_id, SIGNER)
    assert view.state == "failed" and view.approvers == ("console:alice",)
    [failed] = audit_events(factory, "proposal.failed")
    assert "Kubernetes unavailable" in failed["payload"]["result"]["execute"]["message"]
    assert real_writes(fake) == []
