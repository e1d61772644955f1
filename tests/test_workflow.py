"""The platform-neutral incident workflow on a replayed scenario: alert → thread → diagnosis →
proposal → approval → execution on the fake cluster → audit, plus dedup, resolve and storms."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from agents.session import EngineSettings
from bot import audit
from bot.models import AgentSession, Incident
from bot.remediation import ApprovalPolicy, Identity, Signer
from bot.workflow.service import Workflow
from tests.support import REPO, need
from tests.workflow_support import RecordingSurface
from tools.actions import ActionExecutor
from tools.intake import parse_alertmanager
from tools.k8s import make_api_client
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"


@pytest.fixture
def stack(migrated):
    from tools.prometheus.server import prometheus_binaries

    need(prometheus_binaries() is not None, "Prometheus not installed (apt-get install prometheus)")
    _, factory = migrated
    scenario = load_scenario(BUNDLE)
    with ScenarioBackends(scenario) as backends:
        backends.kube.simulate_controllers(0)
        surface = RecordingSurface()

        async def sources():
            return backends.sources()

        executor = ActionExecutor(make_api_client(host=backends.config.kube_host), backends.ctx, verify_timeout=10,
                                  poll_interval=0.2)
        wf = Workflow(factory, {"test": surface}, sources, EngineSettings(engine="offline"), executor,
                      concurrency=2,
                      policy=ApprovalPolicy.build(medium=["console:alice", "console:bob"]),
                      signer=Signer(b"0123456789abcdef0123456789abcdef"))
        yield wf, surface, factory, scenario, backends


def _group(scenario, status="firing", **label_changes):
    alert = copy.deepcopy(scenario.alert)
    alert["status"] = status
    alert["labels"].update(label_changes)
    if label_changes:
        alert.pop("fingerprint", None)
    return parse_alertmanager({"version": "4", "status": status, "receiver": "chatops", "alerts": [alert]})


async def test_alert_thread_diagnosis_repeat_and_resolve(stack):
    wf, surface, factory, scenario, _ = stack
    [status] = await wf.on_alert_group(_group(scenario), platform="test", channel="C-ALERTS", thread=None,
                                       source="alertmanager")
    assert status.startswith("new:")
    await wf.drain(60)
    root_channel, root_thread, headline = surface.posts[0]
    assert root_thread is None and "KubePodCrashLooping" in headline
    [post] = surface.diagnoses
    thread = [t for c, t, p in surface.posts if p is post][0]
    assert thread is not None  # answered in the alert's thread
    assert post.diagnosis.category == "oom_killed" and post.diagnosis.component == "cart"
    [prop] = [v for v in post.proposals if v.action_type == "set_resources"]
    assert prop.offerable and prop.token and "memory" in prop.action_text, (prop.reason, prop.state)
    assert surface.progress_updates and surface.progress_updates[-1].done
    assert surface.charts and surface.charts[0][1][:8] == b"\x89PNG\r\n\x1a\n"

    [again] = await wf.on_alert_group(_group(scenario), platform="test", channel="C-ALERTS", thread=None,
                                      source="alertmanager")
    assert again.startswith("repeat:")
    await wf.drain(30)
    assert any("Still firing" in t for t in surface.texts(thread))
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(AgentSession)) == 1

    [res] = await wf.on_alert_group(_group(scenario, "resolved"), platform="test", channel="C-ALERTS", thread=None,
                                    source="alertmanager")
    assert res.startswith("resolved:")
    assert any("Resolved" in t for t in surface.texts(thread))
    with factory() as s:
        assert s.execute(select(Incident.status)).scalar_one() == "resolved"
        assert audit.verify(s).ok


async def test_click_executes_on_cluster_and_is_audited(stack):
    wf, surface, factory, scenario, backends = stack
    await wf.on_alert_group(_group(scenario), platform="test", channel="C", thread=None, source="alertmanager")
    await wf.drain(60)
    prop = next(v for v in surface.diagnoses[0].proposals if v.action_type == "set_resources")
    from bot.workflow.surface import MessageRef
    msg = MessageRef("C", "1.1", "thread-1")

    denied = await wf.on_click(platform="test", channel="C", message=msg, proposal_id=prop.proposal_id,
                               token=prop.token, identity=Identity("console", "mallory", frozenset(), "mallory"),
                               decision="approve")
    assert denied.status == "denied" and surface.ephemerals and not surface.proposal_updates

    before = len(backends.kube.requests)
    done = await wf.on_click(platform="test", channel="C", message=msg, proposal_id=prop.proposal_id,
                             token=prop.token, identity=Identity("console", "alice", frozenset(), "alice"),
                             decision="approve")
    assert done.executed and done.status == "executed", done.message
    patches = [r for r in backends.kube.requests[before:] if r["method"] == "PATCH" and "deployments/cart" in r["path"]]
    assert patches, "the fake Kubernetes API received no patch"
    ref, view, note = surface.proposal_updates[-1]
    assert ref == msg and "alice" in note and view.state == "succeeded"
    assert surface.proposal_posts and surface.proposal_posts[-1][1].undo_of == prop.proposal_id

    replay = await wf.on_click(platform="test", channel="C", message=msg, proposal_id=prop.proposal_id,
                               token=prop.token, identity=Identity("console", "bob", frozenset(), "bob"),
                               decision="approve")
    assert not replay.executed and replay.status in ("already_decided", "invalid_token")
    with factory() as s:
        assert audit.verify(s).ok


async def test_bad_commands_get_help(stack):
    wf, surface, *_ = stack
    assert "Usage" in await wf.on_command("", platform="test", channel="C", user="U1")
    assert "at most 500" in await wf.on_command("x" * 600, platform="test", channel="C", user="U1")
    assert "could not find" in await wf.on_command("???", platform="test", channel="C", user="U1")
    assert surface.posts == []


async def test_storm_is_bounded_and_every_alert_diagnosed(stack):
    """Seven new alerts at once: at most `concurrency` (2) diagnoses run at a time, and every one is
    diagnosed from the durable queue; nothing is rejected or dropped."""
    wf, surface, factory, scenario, _ = stack
    running, peak = 0, 0
    inner = wf.runner.handlers["diagnose"]

    async def counted(args):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await inner(args)
        finally:
            running -= 1

    wf.runner.handlers["diagnose"] = counted
    groups = [_group(scenario, pod=f"cart-h28nlk7vcb-s{i:04d}") for i in range(7)]
    statuses = []
    for g in groups:
        statuses += await wf.on_alert_group(g, platform="test", channel="C", thread=None, source="alertmanager")
    assert len(statuses) == 7 and len({s.split(":")[1] for s in statuses}) == 7  # one incident per fingerprint
    assert all(s.endswith(":queued") for s in statuses), statuses
    await wf.drain(180)
    assert peak == 2
    assert len(surface.diagnoses) == 7 and {p.incident_id for p in surface.diagnoses} == \
        {s.split(":")[1] for s in statuses}


async def test_resolved_incident_becomes_knowledge(stack, tmp_path):
    from knowledge import KnowledgeBase

    wf, surface, factory, scenario, _ = stack
    wf.knowledge = KnowledgeBase(tmp_path / "kb")
    [status] = await wf.on_alert_group(_group(scenario), platform="test", channel="C", thread=None,
                                       source="alertmanager")
    incident_id = status.split(":")[1]
    await wf.drain(60)
    assert wf.knowledge.search("cart OOMKilled memory limit", doc_type="incident") == []
    await wf.on_alert_group(_group(scenario, "resolved"), platform="test", channel="C", thread=None,
                            source="alertmanager")
    hits = wf.knowledge.search("cart containers OOMKilled exit 137 memory limit", service="cart")
    incident_hits = [h for h in hits if h.doc_type == "incident"]
    assert incident_hits and incident_id in incident_hits[0].id
    assert wf.knowledge.status()["incidents"] == 1


async def test_expiry_sweep_edits_the_diagnosis_message(stack):
    """The periodic expiry job marks overdue proposals expired and edits the message that showed
    their buttons (recorded when the diagnosis was posted), and leaves a periodic.ran audit row."""
    from sqlalchemy import select, update

    from bot.models import AuditEntry, RemediationProposal

    wf, surface, factory, scenario, _ = stack
    await wf.on_alert_group(_group(scenario), platform="test", channel="C-ALERTS", thread=None,
                            source="alertmanager")
    await wf.drain(60)
    [post] = surface.diagnoses
    offered = [v.proposal_id for v in post.proposals if v.offerable]
    assert offered
    with factory() as s, s.begin():
        s.execute(update(RemediationProposal).values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    await wf.job_handlers()["expire"]({"period": 7})
    edited = {view.proposal_id: (view.state, note) for _, view, note in surface.proposal_updates}
    assert set(edited) == set(offered) and all(state == "expired" for state, _ in edited.values())
    with factory() as s:
        rows = s.execute(select(RemediationProposal.state).where(RemediationProposal.id.in_(offered))).scalars().all()
        ran = s.execute(select(AuditEntry).where(AuditEntry.event == "periodic.ran")).scalars().all()
    assert set(rows) == {"expired"}
    assert [(r.subject, '"period":7' in r.payload, '"expired":' in r.payload) for r in ran] == [("task/expire", True, True)]
