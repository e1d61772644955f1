"""Append-only, hash-chained audit log.

hash = SHA-256(canonical JSON of the row's fields + prev_hash). Any altered, deleted or
re-ordered row breaks the chain at a seq that `verify` names. Appends happen inside the
caller's transaction, so a state change and its audit row commit or fail together.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import take_write_lock
from bot.models import AuditEntry

GENESIS = "0" * 64
FIELDS = ("seq", "ts", "actor", "platform", "event", "subject", "payload", "prev_hash", "hash")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def ts_text(ts: datetime) -> str:
    # SQLite hands back naive datetimes; both backends store UTC, so normalise before hashing.
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(seq: int, ts: datetime, actor: str, platform: str, event: str, subject: str,
                 payload: str, prev_hash: str) -> str:
    body = canonical_json({"seq": seq, "ts": ts_text(ts), "actor": actor, "platform": platform,
                           "event": event, "subject": subject, "payload": payload})
    return hashlib.sha256((body + prev_hash).encode()).hexdigest()


def append(session: Session, *, actor: str, platform: str, event: str, subject: str,
           payload: dict[str, Any] | None = None, ts: datetime | None = None) -> AuditEntry:
    """Append one row in the caller's transaction (the caller commits)."""
    take_write_lock(session, "audit_log")
    head = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    ts = ts or datetime.now(timezone.utc)
    body = canonical_json(payload or {})
    entry = AuditEntry(seq=seq, ts=ts, actor=actor[:200], platform=platform[:20], event=event[:100],
                       subject=subject[:300], payload=body, prev_hash=prev,
                       hash=compute_hash(seq, ts, actor[:200], platform[:20], event[:100], subject[:300], body, prev))
    session.add(entry)
    session.flush()
    return entry


@dataclass
class VerifyResult:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify(session: Session, batch: int = 1000) -> VerifyResult:
    expected_seq, prev, count = 1, GENESIS, 0
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)).scalars()
    for row in rows:
        count += 1
        if row.seq != expected_seq:
            return VerifyResult(False, count, expected_seq,
                                f"seq {expected_seq} is missing (next row found is seq {row.seq})")
        if row.prev_hash != prev:
            return VerifyResult(False, count, row.seq, f"seq {row.seq}: prev_hash does not match the hash of seq {row.seq - 1}")
        want = compute_hash(row.seq, row.ts, row.actor, row.platform, row.event, row.subject, row.payload, row.prev_hash)
        if row.hash != want:
            return VerifyResult(False, count, row.seq, f"seq {row.seq}: content does not match its hash (row altered)")
        prev, expected_seq = row.hash, expected_seq + 1
    return VerifyResult(True, count)


def iter_rows(session: Session) -> Iterator[dict[str, Any]]:
    for row in session.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)).scalars():
        yield {"seq": row.seq, "ts": ts_text(row.ts), "actor": row.actor, "platform": row.platform,
               "event": row.event, "subject": row.subject, "payload": json.loads(row.payload),
               "prev_hash": row.prev_hash, "hash": row.hash}


def export(session: Session, fmt: str, out: TextIO) -> int:
    n = 0
    if fmt == "jsonl":
        for r in iter_rows(session):
            out.write(canonical_json(r) + "\n")
            n += 1
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for r in iter_rows(session):
            r["payload"] = canonical_json(r["payload"])
            writer.writerow(r)
            n += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}; use jsonl or csv")
    return n
