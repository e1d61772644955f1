"""Diagnoses per second of the worker pool (offline engine, PostgreSQL + Procrastinate), one and two
workers, measured in one run; and the time to recover after a worker is killed with kill -9.

    .venv/bin/python bench/worker_throughput.py [--alerts 40] [--concurrency 4]

Real processes: one `chatops serve` (enqueues only) and N `chatops worker`s on a throwaway
PostgreSQL, over the loopback Slack fake and the shop-cart-crashloop bundle's Kubernetes and
OpenSearch fakes. Needs PostgreSQL installed (apt-get install postgresql). Prints a table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from tests.deployment_support import Deployment, alert_group, post_alerts, wait_for  # noqa: E402
from tests.fake_slack import FakeSlack  # noqa: E402
from tests.pgserver import PostgresServer, pg_bin_dir  # noqa: E402
from tools.scenario.backends import ScenarioBackends  # noqa: E402
from tools.scenario.bundle import load_scenario  # noqa: E402

BUNDLE = REPO / "scenarios" / "shop-cart-crashloop"


def diagnosed(engine) -> int:  # noqa: ANN001
    with engine.connect() as c:
        return c.execute(text("SELECT count(DISTINCT incident_id) FROM diagnoses")).scalar_one()


def run(pg: PostgresServer, workers: int, alerts: int, concurrency: int, kill_one: bool = False) -> dict:
    url = pg.create_database()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    scenario = load_scenario(BUNDLE)
    with FakeSlack() as slack, ScenarioBackends(scenario, use_prometheus=False) as backends:
        slack.add_channel("C0DEPLOY")
        root = Path(tempfile.mkdtemp(prefix="chatops-workers-"))
        dep = Deployment(root, url, slack, backends.config.kube_host, backends.config.opensearch_url,
                         extra_env={"SESSION_CONCURRENCY": str(concurrency), "JOB_STALLED_SECONDS": "4",
                                    "PERIODIC_SECONDS": "2", "LOG_LEVEL": "WARNING"})
        try:
            dep.start("migrate", "db", "upgrade").popen.wait(120)
            web = dep.web()
            pool = [dep.worker(f"worker{i}") for i in range(workers)]
            started = time.monotonic()
            post_alerts(web, alert_group(scenario.alert, alerts))
            recovery = None
            if kill_one:  # kill -9 a worker once both are busy; time until every job in flight then is done
                wait_for(lambda: len(_doing(engine)) >= 2 * concurrency, 120)
                in_flight = _doing(engine)
                pool[0].kill9()
                killed_at = time.monotonic()
                wait_for(lambda: not (_doing(engine) | _todo(engine)) & in_flight, 600)
                recovery = time.monotonic() - killed_at
            wait_for(lambda: diagnosed(engine) >= alerts, 1800)
            elapsed = time.monotonic() - started
        finally:
            dep.stop()
    engine.dispose()
    return {"workers": workers, "alerts": alerts, "seconds": elapsed, "per_second": alerts / elapsed,
            "recovery": recovery}


def _doing(engine) -> set[int]:  # noqa: ANN001
    return _jobs(engine, "doing")


def _todo(engine) -> set[int]:  # noqa: ANN001
    return _jobs(engine, "todo")


def _jobs(engine, status: str) -> set[int]:  # noqa: ANN001
    with engine.connect() as c:
        return set(c.execute(text("SELECT id FROM procrastinate_jobs WHERE status = :s AND task_name = 'diagnose'"),
                             {"s": status}).scalars())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    if pg_bin_dir() is None:
        print("PostgreSQL is not installed (apt-get install postgresql): nothing measured.")
        return 2
    pg = PostgresServer().start()
    try:
        rows = [run(pg, n, args.alerts, args.concurrency) for n in (1, 2)]
        killed = run(pg, 2, args.alerts, args.concurrency, kill_one=True)
    finally:
        pg.stop()
    print("| workers | concurrency each | alerts | seconds | diagnoses/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['workers']} | {args.concurrency} | {r['alerts']} | {r['seconds']:.1f} | {r['per_second']:.2f} |")
    print(f"\nspeed-up with two workers: {rows[1]['per_second'] / rows[0]['per_second']:.2f}x")
    print(f"kill -9 of one of two busy workers (JOB_STALLED_SECONDS=4, PERIODIC_SECONDS=2): every job it was "
          f"running finished elsewhere {killed['recovery']:.1f} s after the kill; all {args.alerts} alerts in "
          f"{killed['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
