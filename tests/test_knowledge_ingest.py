"""Ingestion: chunk metadata, idempotent re-ingest, edits replace chunks, deletions remove them."""
from __future__ import annotations

import hashlib

import pytest

from knowledge import KnowledgeBase
from knowledge.tokenize import tokenize
from tests.knowledge_support import RUNBOOKS, write_runbooks


@pytest.fixture
def kb(tmp_path):
    kb = KnowledgeBase(tmp_path / "data")
    yield kb
    kb.close()


@pytest.fixture
def folder(tmp_path):
    return write_runbooks(tmp_path / "rb")


def chunks_by_doc(kb):
    chunks, _ = kb.store.read()
    out: dict[str, list] = {}
    for c in chunks:
        out.setdefault(c.doc_id, []).append(c)
    return out


def test_tokenizer_keeps_and_splits_technical_tokens():
    toks = tokenize("Pod OOMKilled in CrashLoopBackOff; x509 errors, p99 and 5xx up; java.lang.OutOfMemoryError "
                    "db_pool_size throttled")
    for t in ("oomkil", "oom", "kill", "crashloopbackoff", "crash", "loop", "x509", "p99", "5xx",
              "java.lang.outofmemoryerror", "outofmemoryerror", "memori", "db_pool_size", "pool", "size"):
        assert t in toks, t
    assert tokenize("throttling")[0] == tokenize("throttled")[0]  # stemming
    assert "the" not in tokenize("the pod")


def test_ingest_writes_chunks_with_metadata(kb, folder):
    report = kb.ingest(folder)
    assert sorted(report.added) == sorted(f"rb/{n}" for n in RUNBOOKS)
    assert report.chunks_written == kb.store.count() > len(RUNBOOKS)
    docs = chunks_by_doc(kb)
    oom = docs["rb/oom.md"]
    assert {c.title for c in oom} == {"Pod OOMKilled"}
    assert {c.section for c in oom} >= {"Symptoms", "Diagnosis", "Remediation"}
    c = next(c for c in oom if c.section == "Symptoms")
    assert "exit code 137" in c.text and c.doc_type == "runbook"
    assert c.services == ("any",) and c.categories == ("oom_killed",) and c.severity == ("critical", "warning")
    assert c.source == "rb/oom.md"
    assert c.content_hash == hashlib.sha256((folder / "oom.md").read_bytes()).hexdigest()
    assert c.updated.startswith("20")
    # plain text without front matter: title from the file name, no categories
    cert = docs["rb/cert.txt"]
    assert cert[0].title == "cert" and cert[0].categories == () and "x509" in cert[0].text
    assert docs["rb/sub/dns.md"][0].categories == ("dns_failure",)
    assert kb.store.was_built()


def test_reingesting_unchanged_folder_writes_nothing(kb, folder):
    kb.ingest(folder)
    ids_before = sorted(c.id for c in kb.store.read()[0])
    version = kb.store.state()["version"]
    report = kb.ingest(folder)
    assert report.chunks_written == 0 and report.chunks_deleted == 0
    assert not report.added and not report.updated and not report.deleted
    assert len(report.unchanged) == len(RUNBOOKS)
    assert sorted(c.id for c in kb.store.read()[0]) == ids_before
    assert kb.store.state()["version"] == version  # nothing recorded as changed


def test_editing_a_runbook_replaces_its_chunks(kb, folder):
    kb.ingest(folder)
    before = chunks_by_doc(kb)
    assert kb.search("leak")[0].id == "rb/oom.md"
    (folder / "oom.md").write_text(RUNBOOKS["oom.md"].split("## Diagnosis")[0]
                                   + "## Remediation\nBump the heap with JAVA_OPTS -Xmx and redeploy.\n")
    report = kb.ingest(folder)
    assert report.updated == ["rb/oom.md"] and len(report.unchanged) == len(RUNBOOKS) - 1
    after = chunks_by_doc(kb)
    assert len(after["rb/oom.md"]) == report.chunks_written
    assert report.chunks_deleted == len(before["rb/oom.md"])
    text = " ".join(c.text for c in after["rb/oom.md"])
    assert "JAVA_OPTS" in text and "working_set" not in text and "leak" not in text
    for doc in before:
        if doc != "rb/oom.md":
            assert [c.id for c in after[doc]] == [c.id for c in before[doc]]
    assert kb.search("JAVA_OPTS Xmx")[0].id == "rb/oom.md"
    assert all(h.id != "rb/oom.md" for h in kb.search("leak"))


def test_deleting_a_runbook_removes_its_chunks(kb, folder):
    kb.ingest(folder)
    n_pay = len(chunks_by_doc(kb)["rb/pool-payments.md"])
    total = kb.store.count()
    (folder / "pool-payments.md").unlink()
    report = kb.ingest(folder)
    assert report.deleted == ["rb/pool-payments.md"] and report.chunks_deleted == n_pay
    assert kb.store.count() == total - n_pay
    assert "rb/pool-payments.md" not in chunks_by_doc(kb)
    assert all(h.id != "rb/pool-payments.md" for h in kb.search("pgbouncer payments pool"))


def test_single_file_ingest_does_not_delete_siblings(kb, folder, tmp_path):
    kb.ingest(folder)
    total = kb.store.count()
    report = kb.ingest(folder / "disk.md")
    assert report.unchanged == ["rb/disk.md"] and not report.deleted
    assert kb.store.count() == total


def test_malformed_front_matter_warns_and_still_ingests(kb, tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "bad.md").write_text("---\ntitle: [unclosed\n---\n# Broken front matter\nSome CrashLoopBackOff notes.\n")
    report = kb.ingest(d)
    assert report.added == ["notes/bad.md"]
    assert any("not valid YAML" in w for w in report.warnings)
    assert kb.search("CrashLoopBackOff")[0].title == "Broken front matter"
