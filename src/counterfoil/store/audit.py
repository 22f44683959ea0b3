"""The audit log (PCI DSS 10.2): who did what to which object, when, from where, outcome.

Append-only (database triggers) and hash-chained like the journal: each record's hash
covers its canonical body and the previous record's hash. Details pass through PAN
redaction before they are written, so no card number reaches the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from counterfoil.core.canonical import canonical_bytes
from counterfoil.core.pan import redact_pans
from counterfoil.journal.entries import GENESIS_PREV, iso_utc
from counterfoil.store.journal import Head, read_head, write_head
from counterfoil.store.schema import audit_log

AUDIT_CHAIN = "audit"
OUTCOMES = ("success", "refused", "failed", "denied")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person, a terminal token or the command line, and from where."""

    name: str
    source: str = "cli"


SYSTEM = Actor("system", "local")


def _body(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (iso_utc(v) if isinstance(v, datetime) else v)
        for k, v in row.items()
        if k != "entry_hash"
    }


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    outcome: str = "success",
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    merchant_no: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Append one audit record within the caller's transaction; return its number."""
    return record_many(
        conn,
        actor,
        action,
        [(object_id, details)],
        outcome,
        object_type=object_type,
        merchant_no=merchant_no,
        now=now,
    )[0]


def record_many(
    conn: Connection,
    actor: Actor,
    action: str,
    objects: Sequence[tuple[str | None, dict[str, Any] | None]],
    outcome: str = "success",
    *,
    object_type: str | None = None,
    merchant_no: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Append one record of ``action`` for each (object id, details) of ``objects``, in
    order, within the caller's transaction (the head read and written once, the rows
    inserted together); their numbers."""
    head = read_head(conn, AUDIT_CHAIN)
    new = head is None
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS_PREV)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    rows: list[dict[str, Any]] = []
    for object_id, details in objects:
        seq += 1
        text = redact_pans(orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS).decode())
        row: dict[str, Any] = {
            "seq": seq,
            "at": at,
            "actor": actor.name[:80],
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "merchant_no": merchant_no,
            "source": actor.source[:80],
            "outcome": outcome,
            "details": text,
            "prev_hash": prev,
        }
        prev = row["entry_hash"] = hashlib.sha256(canonical_bytes(_body(row))).hexdigest()
        rows.append(row)
    if not rows:
        return []
    conn.execute(audit_log.insert(), rows)
    write_head(conn, AUDIT_CHAIN, Head(seq, prev, None), new=new)
    return [int(r["seq"]) for r in rows]


def verify_audit(conn: Connection) -> tuple[int, str | None]:
    """Walk the audit chain; return (records checked, first problem or None)."""
    prev, count = GENESIS_PREV, 0
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings():
        count += 1
        values = {str(k): v for k, v in row.items()}
        if values["at"].tzinfo is None:
            values["at"] = values["at"].replace(tzinfo=UTC)
        if row["seq"] != count:
            return count, f"audit record {count} is missing (found {row['seq']})"
        if row["prev_hash"] != prev:
            return count, f"audit record {count} does not follow record {count - 1}"
        if hashlib.sha256(canonical_bytes(_body(values))).hexdigest() != row["entry_hash"]:
            return count, f"audit record {count} was altered"
        prev = row["entry_hash"]
    head = read_head(conn, AUDIT_CHAIN, lock=False)
    if head and (head.seq != count or head.hash != prev):
        return count, f"the audit log ends at {count} but its head says {head.seq}"
    return count, None


def rows(
    conn: Connection, *, merchant_no: str | None = None, limit: int = 100, before: int | None = None
) -> Iterator[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if merchant_no:
        query = query.where(audit_log.c.merchant_no == merchant_no)
    if before:
        query = query.where(audit_log.c.seq < before)
    for row in conn.execute(query).mappings():
        yield dict(row)
