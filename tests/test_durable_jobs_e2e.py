"""Durable work as real processes: kill -9 at the worst moments, and nothing is lost or done twice.

PostgreSQL: one `chatops serve` and two `chatops worker`s (Procrastinate). SQLite: `chatops serve`
alone, running its jobs in-process. Backends: the loopback Slack fake and a scenario bundle's
Kubernetes and OpenSearch fakes, all in this test process.
"""
from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from bot.jobs.rerun import INTERRUPTED
from tests.deployment_support import CHANNEL, Deployment, alert_group, click, post_alerts, wait_for
from tests.fake_slack import FakeSlack
from tests.support import REPO
from tools.scenario.backends import ScenarioBackends
from tools.scenario.bundle import load_scenario

pytestmark = pytest.mark.slow
BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"
FAST = {"JOB_STALLED_SECONDS": "3", "PERIODIC_SECONDS": "2", "SESSION_CONCURRENCY": "4"}


@pytest.fixture
def deployment(tmp_path):
    def make(database_url: str, **env: str) -> Deployment:
        scenario = load_scenario(BUNDLE)
        slack = FakeSlack()
        slack.start()
        slack.add_channel(CHANNEL)
        backends = ScenarioBackends(scenario, use_prometheus=False).__enter__()
        dep = Deployment(tmp_path, database_url, slack, backends.config.kube_host, backends.config.opensearch_url,
                         extra_env={**FAST, **env})
        dep.scenario, dep.backends = scenario, backends
        made.append(dep)
        migrate = dep.start("migrate", "db", "upgrade")
        assert migrate.popen.wait(120) == 0, migrate.text()
        return dep

    made: list[Deployment] = []
    yield make
    for dep in made:
        dep.stop()
        dep.backends.stop()
        dep.slack.stop()


def _db(url: str):  # noqa: ANN202
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://")
                         else url)


def _scalar(engine, sql: str, **params):  # noqa: ANN001, ANN202
    with engine.connect() as c:
        return c.execute(text(sql), params).scalar()


def _diagnosis_posts(slack: FakeSlack) -> Counter:
    """Diagnosis messages per thread in the alert channel."""
    return Counter(m.get("thread_ts") for m in _all(slack) if m.get("blocks") and m["blocks"][0].get("type") == "header"
                   and "Diagnosis" in json.dumps(m["blocks"][0]))


def _all(slack: FakeSlack) -> list[dict]:
    return slack.messages(CHANNEL)  # top-level messages and replies


@pytest.mark.postgres
def test_two_workers_diagnose_200_alerts_once_and_survive_a_kill(deployment, pg_url):
    dep = deployment(pg_url)
    engine = _db(pg_url)
    web = dep.web()
    a, b = dep.worker("worker-a"), dep.worker("worker-b")
    # serve answers /readyz before its warm-up (knowledge base, engines); this test is about the
    # workers, so the 200 alerts arrive once that start-up work no longer competes with intake.
    wait_for(lambda: "warmed up" in web.text(), 120, web)
    answer = post_alerts(web, alert_group(dep.scenario.alert, 200))
    assert answer["alerts"] == 200
    if answer["status"] == "ok":  # intake finished within the webhook's wait: every alert's status
        assert all(r.endswith(":queued") for r in answer["results"])
    else:  # a loaded machine: 202 accepted, intake goes on (never resent, never lost)
        assert answer["status"] == "accepted", answer
        wait_for(lambda: _scalar(engine, "SELECT count(*) FROM incidents") == 200, 120, web)

    # Kill worker A while it is inside sessions: both workers are saturated (4 jobs each) once more
    # than four sessions run at once; the assertion on interrupted sessions below proves it was.
    wait_for(lambda: _scalar(engine, "SELECT count(*) FROM agent_sessions WHERE status = 'running'") > 4, 120, a)
    a.kill9()
    wait_for(lambda: _scalar(engine, "SELECT count(DISTINCT incident_id) FROM diagnoses WHERE posted_at IS NOT NULL") >= 200, 600, b)
    wait_for(lambda: _scalar(engine, "SELECT count(*) FROM agent_sessions WHERE status = 'running'") == 0, 60, b)

    assert _scalar(engine, "SELECT count(*) FROM incidents") == 200
    # Exactly once: one diagnosis per incident in the database, and one posted per thread.
    assert _scalar(engine, "SELECT max(n) FROM (SELECT count(*) AS n FROM diagnoses GROUP BY incident_id) q") == 1
    posts = _diagnosis_posts(dep.slack)
    assert len(posts) == 200 and set(posts.values()) == {1}
    # The killed worker's sessions were failed as interrupted and finished by the other worker.
    interrupted = _scalar(engine, "SELECT count(*) FROM agent_sessions WHERE status = 'failed' AND error = :e",
                          e=INTERRUPTED)
    assert interrupted >= 1
    assert _scalar(engine, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'diagnose' "
                           "AND status <> 'succeeded'") == 0
    notes = [m["text"] for m in _all(dep.slack) if "stopped with its process" in (m.get("text") or "")]
    assert len(notes) == interrupted
    engine.dispose()


@pytest.mark.postgres
def test_each_periodic_task_runs_once_per_period_across_two_workers(deployment, pg_url):
    dep = deployment(pg_url, AUDIT_VERIFY_SECONDS="10")
    engine = _db(pg_url)
    started = time.monotonic()
    dep.worker("worker-a")
    dep.worker("worker-b")
    time.sleep(12)
    elapsed = time.monotonic() - started  # worker start-up under CI load widens the window
    with engine.connect() as c:
        rows = c.execute(text("SELECT payload FROM audit_log WHERE event = 'periodic.ran'")).scalars().all()
    runs = Counter((p["task"], p["period"]) for p in map(json.loads, rows))
    assert runs and set(runs.values()) == {1}, runs  # never twice for one task and period
    per_task = Counter(task for task, _ in runs)
    assert set(per_task) == {"expire", "reconcile", "age_incidents", "health", "audit_verify", "outcomes"}
    assert min(n for t, n in per_task.items() if t != "audit_verify") >= 3  # every 2 s over ~12 s
    # Every 10 s: a window of `elapsed` seconds touches at most elapsed // 10 + 2 ten-second periods.
    assert 1 <= per_task["audit_verify"] <= int(elapsed // 10) + 2, (per_task, elapsed)
    engine.dispose()


def test_sqlite_serve_killed_with_20_alerts_queued_diagnoses_all_after_restart(deployment, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    dep = deployment(url, SESSION_CONCURRENCY="1")
    engine = _db(url)
    web = dep.web()
    answer = post_alerts(web, alert_group(dep.scenario.alert, 20))
    assert len(answer["results"]) == 20
    web.kill9()  # at most one job was running; the rest were waiting in the jobs table
    queued = _scalar(engine, "SELECT count(*) FROM jobs WHERE task = 'diagnose' AND status IN ('todo', 'doing')")
    assert queued >= 19
    restarted = dep.web("web")
    wait_for(lambda: _scalar(engine, "SELECT count(DISTINCT incident_id) FROM diagnoses WHERE posted_at IS NOT NULL") >= 20, 300, restarted)
    assert _scalar(engine, "SELECT max(n) FROM (SELECT count(*) AS n FROM diagnoses GROUP BY incident_id) q") == 1
    assert _scalar(engine, "SELECT count(*) FROM agent_sessions WHERE status = 'running'") == 0
    posts = _diagnosis_posts(dep.slack)
    with engine.connect() as c:
        threads = c.execute(text("SELECT thread_ref FROM incidents")).scalars().all()
    assert set(posts) == set(threads) and set(posts.values()) == {1}, (
        posts, threads, [(m.get("ts"), m.get("thread_ts"), (m.get("text") or "")[:50]) for m in _all(dep.slack)])
    engine.dispose()


@pytest.mark.postgres
def test_kill_during_an_execution_is_reconciled_against_the_cluster(deployment, pg_url):
    """The web process is killed -9 after its PATCH reached the cluster, while it waits for the
    rollout; a worker's reconciliation reads the cluster, records what happened and audits it,
    without executing again."""
    dep = deployment(pg_url, APPROVERS_MEDIUM="slack:U0BOB", RECONCILE_EXECUTING_AFTER_SECONDS="8")
    engine = _db(pg_url)
    web = dep.web(ACTION_VERIFY_TIMEOUT_SECONDS="600")  # still verifying when it dies
    dep.worker("worker-a", ACTION_VERIFY_TIMEOUT_SECONDS="20")
    post_alerts(web, alert_group(dep.scenario.alert, 1, prefix=None))  # the real pod: its deployment is in scope
    wait_for(lambda: _scalar(engine, "SELECT count(*) FROM diagnoses WHERE posted_at IS NOT NULL") == 1, 120)
    post = next(m for m in _all(dep.slack) if m.get("blocks") and m["blocks"][0].get("type") == "header")
    approve = next(e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "proposal_approve")
    proposal_id = approve["value"].split("|")[0]
    kube = dep.backends.kube

    def patched() -> list[dict]:
        return [r for r in kube.requests if r["method"] == "PATCH" and r["query"].get("dryRun") != "All"]

    assert click(web, post, "proposal_approve", approve["value"], "U0BOB") == 200
    wait_for(lambda: len(patched()) == 1, 60, web)
    assert _scalar(engine, "SELECT state FROM remediation_proposals WHERE id = :p", p=proposal_id) == "executing"
    web.kill9()
    # The cluster finishes the rollout the dead process had started.
    kube.simulate_controllers(0).after_write("PATCH", "Deployment", "shop", "cart", None)
    wait_for(lambda: _scalar(engine, "SELECT state FROM remediation_proposals WHERE id = :p", p=proposal_id)
             != "executing", 90)
    with engine.connect() as c:
        state, result = c.execute(text("SELECT state, result FROM remediation_proposals WHERE id = :p"),
                                  {"p": proposal_id}).one()
    assert state == "succeeded", json.dumps(result)[:3000]
    assert len(patched()) == 1  # reconciled by reading, never executed again
    with engine.connect() as c:
        rows = c.execute(text("SELECT event, actor, payload FROM audit_log WHERE subject = :s ORDER BY seq"),
                         {"s": f"proposal/{proposal_id}"}).all()
    last = rows[-1]
    assert last.actor == "system:reconciler" and '"reconciled": true' in last.payload.replace('":true', '": true')
    assert _scalar(engine, "SELECT count(*) FROM remediation_proposals WHERE state = 'executing'") == 0
    assert _scalar(engine, "SELECT count(*) FROM agent_sessions WHERE status = 'running'") == 0
    engine.dispose()
