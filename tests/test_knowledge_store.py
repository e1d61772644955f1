"""Chroma store: embedded and HTTP (real `chroma run` server), corruption and rebuild."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from knowledge import IncidentRecord, KnowledgeBase, KnowledgeBaseError
from tests.knowledge_support import RUNBOOKS, write_runbooks
from tests.support import free_port, need

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    need(CHROMA.exists(), f"chroma CLI not found at {CHROMA} (pip install chromadb)")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = (path / "server.log").open("wb")
    proc = subprocess.Popen([str(CHROMA), "run", "--path", str(path / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"chroma server did not start: {(path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def folder(tmp_path):
    return write_runbooks(tmp_path / "rb")


def rec(i: str) -> IncidentRecord:
    return IncidentRecord(id=i, title=f"disk full on node {i}", service="ledger", category="disk_full",
                          alert="NodeFilesystemAlmostOutOfSpace", diagnosis="journald logs filled /var",
                          action="cordon node/worker-3", outcome="succeeded", effective=True)


def test_embedded_store_lives_in_data_dir_without_telemetry(tmp_path, folder):
    kb = KnowledgeBase(tmp_path / "data")
    kb.ingest(folder)
    assert (tmp_path / "data" / "chroma" / "chroma.sqlite3").is_file()
    assert kb.status()["store"] == str(tmp_path / "data" / "chroma")
    assert kb.store._client.get_settings().anonymized_telemetry is False
    assert kb.store.collection.configuration_json.get("embedding_function") is None
    kb.close()
    again = KnowledgeBase(tmp_path / "data")  # persisted across instances
    assert again.status()["documents"] == len(RUNBOOKS)
    again.close()


def test_http_store_against_a_real_chroma_server(tmp_path, folder, chroma_server):
    name = f"kb-{uuid.uuid4().hex[:8]}"
    kb = KnowledgeBase(tmp_path / "a", chroma_url=chroma_server, collection=name)
    report = kb.ingest(folder)
    assert report.chunks_written > 0
    assert kb.store._client.get_settings().anonymized_telemetry is False
    st = kb.status()
    assert st["store"] == chroma_server and st["documents"] == len(RUNBOOKS)
    assert not (tmp_path / "a" / "chroma").exists()  # nothing embedded when a URL is set
    kb.remember_incident(rec("h1"))
    # another process (other data dir) sees the same server-side collection
    other = KnowledgeBase(tmp_path / "b", chroma_url=chroma_server, collection=name)
    assert other.search("OOMKilled")[0].id == "rb/oom.md"
    assert other.search("journald filled var")[0].action == "cordon node/worker-3"
    assert other.ingest(folder).chunks_written == 0
    (folder / "disk.md").unlink()
    assert other.ingest(folder).deleted == ["rb/disk.md"]
    assert "rb/disk.md" not in [h.id for h in kb.search("No space left on device", limit=10)]
    # rebuild over HTTP drops and restores the collection
    kb.rebuild(folder, [rec("h2")])
    st = kb.status()
    assert st["incidents"] == 1 and st["documents"] == len(RUNBOOKS) - 1
    assert kb.search("journald")[0].id == "incident:h2"
    assert other.search("journald")[0].id == "incident:h2"  # follows the recreated collection
    # a collection lost on the server after a build names the fix
    kb.store._client.delete_collection(name)
    with pytest.raises(KnowledgeBaseError, match="chatops knowledge rebuild"):
        other.search("journald")


def test_unreachable_chroma_server_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    kb = KnowledgeBase(tmp_path / "d", chroma_url=url)
    with pytest.raises(KnowledgeBaseError, match="127.0.0.1"):
        kb.search("anything")
    assert "127.0.0.1" in kb.status()["error"]


def corrupt_sqlite(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.write(b"this is not a sqlite database" * 200)


def test_corrupted_store_names_rebuild_and_rebuild_restores(tmp_path, folder):
    kb = KnowledgeBase(tmp_path / "data")
    kb.ingest(folder)
    kb.remember_incident(rec("c1"))
    kb.close()
    corrupt_sqlite(tmp_path / "data" / "chroma" / "chroma.sqlite3")

    broken = KnowledgeBase(tmp_path / "data")
    with pytest.raises(KnowledgeBaseError, match="chatops knowledge rebuild"):
        broken.search("OOMKilled")
    with pytest.raises(KnowledgeBaseError, match="chatops knowledge rebuild"):
        broken.ingest(folder)
    assert "chatops knowledge rebuild" in broken.status()["error"]

    report = broken.rebuild(folder, [rec("c1")])
    assert report.incidents == 1 and len(report.added) == len(RUNBOOKS)
    assert broken.search("OOMKilled")[0].id == "rb/oom.md"
    assert broken.search("journald")[0].id == "incident:c1"
    assert "error" not in broken.status()
    broken.close()


def test_missing_store_directory_after_a_build_names_rebuild(tmp_path, folder):
    kb = KnowledgeBase(tmp_path / "data")
    kb.ingest(folder)
    kb.close()
    shutil.rmtree(tmp_path / "data" / "chroma")

    kb2 = KnowledgeBase(tmp_path / "data")
    with pytest.raises(KnowledgeBaseError, match=r"missing.*chatops knowledge rebuild"):
        kb2.search("x509")
    kb2.rebuild(folder)
    assert kb2.search("x509")[0].id == "rb/cert.txt"


def test_first_run_without_marker_starts_empty(tmp_path):
    kb = KnowledgeBase(tmp_path / "fresh")
    assert kb.search("anything") == []
    st = kb.status()
    assert "error" not in st and st["chunks"] == 0 and any("empty" in w for w in st["warnings"])
