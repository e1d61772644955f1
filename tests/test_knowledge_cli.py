"""`chatops knowledge ingest | status | search | rebuild` end to end, in process."""
from __future__ import annotations

from datetime import timedelta

from bot.cli import main
from bot.context import get_sessionmaker
from bot.db import transaction
from bot.models import AgentSession, Diagnosis, Incident, RemediationProposal, utcnow
from tests.knowledge_support import RUNBOOKS, write_runbooks


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_ingest_status_search_rebuild(cli_env, monkeypatch, tmp_path, capsys):
    folder = write_runbooks(tmp_path / "rb")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(folder))
    cli_env(None)

    code, out, _ = run(capsys, "knowledge", "ingest")
    assert code == 0 and f"{len(RUNBOOKS)} added" in out
    code, out, _ = run(capsys, "knowledge", "ingest", str(folder))
    assert code == 0 and "0 chunks written" in out and f"{len(RUNBOOKS)} unchanged" in out

    code, out, _ = run(capsys, "knowledge", "status")
    assert code == 0 and "mode       bm25" in out and f"documents  {len(RUNBOOKS)}" in out
    assert str(tmp_path / "data" / "chroma") in out

    code, out, _ = run(capsys, "knowledge", "search", "exit code 137", "--category", "oom_killed")
    assert code == 0 and out.startswith("1. [") and "rb/oom.md" in out
    code, out, _ = run(capsys, "knowledge", "search", "exit code 137", "--category", "disk_full")
    assert code == 0 and "no matches" in out

    # an incident in the database that rebuild must restore
    assert run(capsys, "db", "upgrade")[0] == 0
    with transaction(get_sessionmaker()) as s:
        now = utcnow()
        inc = Incident(source="console", title="ledger disk full", service="ledger", status="resolved",
                       resolved_at=now + timedelta(minutes=3))
        s.add(inc)
        s.flush()
        sess = AgentSession(incident_id=inc.id, trigger="command", engine="offline")
        s.add(sess)
        s.flush()
        d = Diagnosis(session_id=sess.id, incident_id=inc.id, category="disk_full", confidence=0.8,
                      summary="journald filled /var on worker-3")
        s.add(d)
        s.flush()
        s.add(RemediationProposal(diagnosis_id=d.id, incident_id=inc.id, action_type="cordon",
                                  target="node/worker-3", risk="LOW", state="succeeded", executed_at=now))

    (tmp_path / "data" / "chroma" / "chroma.sqlite3").write_bytes(b"not sqlite" * 500)
    code, _, err = run(capsys, "knowledge", "search", "OOMKilled")
    assert code == 2 and "chatops knowledge rebuild" in err and "Traceback" not in err
    code, out, _ = run(capsys, "knowledge", "status")
    assert code == 1 and "chatops knowledge rebuild" in out

    code, out, _ = run(capsys, "knowledge", "rebuild")
    assert code == 0 and "1 incidents restored" in out and f"{len(RUNBOOKS)} added" in out
    code, out, _ = run(capsys, "knowledge", "search", "journald filled var", "--service", "ledger")
    assert code == 0 and "incident:" in out and "action: cordon node/worker-3 (succeeded; effective=True)" in out


def test_cli_ingest_of_missing_path_is_one_line(cli_env, tmp_path, capsys):
    cli_env(None)
    code, _, err = run(capsys, "knowledge", "ingest", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("chatops: error: nothing to ingest")
