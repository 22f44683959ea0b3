"""Verification and checkpoints of merchants' journals, from the database.

``verify`` streams each merchant's entries through ``journal.verify.verify_chain``.
``make_checkpoint`` signs the Merkle root of the journal as it stands; it carries on
from the previous checkpoint's compact range, so it reads only the entries since.
``export_checkpoint`` gives a document a third party can keep and later check against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select

from counterfoil.journal.entries import checkpoint_message, iso_utc
from counterfoil.journal.merkle import CompactRange, leaf_hash
from counterfoil.journal.verify import Checkpoint, Report, verify_chain
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant, list_merchants, public_keys
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.journal import read_head
from counterfoil.store.schema import checkpoints, journal_entries

_VERIFY_COLUMNS = ("seq", "kind", "body", "entry_hash", "prev_hash", "key_id", "signature",
                   "terminal_id", "batch_no", "trace_no", "type", "channel", "amount", "fee",
                   "net", "currency", "rrn", "auth_code", "order_no", "original_seq", "offline",
                   "card_bin", "card_last4", "terminal_time")


def _rows(conn: Connection, merchant_no: str, chunk: int = 20_000) -> Iterator[dict[str, Any]]:
    """Entries in sequence order, read in chunks by key range (no long-lived cursor)."""
    cols = ", ".join(_VERIFY_COLUMNS)
    offline_is_int = conn.dialect.name == "sqlite"
    after = 0
    while True:
        result = conn.exec_driver_sql(
            f"SELECT {cols} FROM journal_entries WHERE merchant_no = "  # noqa: S608 - fixed names
            f"{'?' if offline_is_int else '%(m)s'} AND seq > "
            f"{'?' if offline_is_int else '%(a)s'} ORDER BY seq LIMIT {chunk}",
            (merchant_no, after) if offline_is_int else {"m": merchant_no, "a": after})
        batch = result.fetchall()
        if not batch:
            return
        for values in batch:
            row = dict(zip(_VERIFY_COLUMNS, values, strict=True))
            if offline_is_int and row["offline"] is not None:
                row["offline"] = bool(row["offline"])
            yield row
        after = batch[-1][0]


def load_checkpoints(conn: Connection, merchant_no: str) -> list[Checkpoint]:
    c = checkpoints.c
    return [Checkpoint(merchant_no, r.tree_size, r.root_hash, r.key_id, r.signature,
                       iso_utc(r.created_at if r.created_at.tzinfo else
                               r.created_at.replace(tzinfo=UTC)))
            for r in conn.execute(select(checkpoints).where(c.merchant_no == merchant_no)
                                  .order_by(c.tree_size))]


def verify(cf: Counterfoil, merchant_no: str | None = None, *, full: bool = False,
           actor: Actor = audit.SYSTEM, progress: Callable[[str, int], None] | None = None,
           ) -> list[Report]:
    reports: list[Report] = []
    with cf.engine.connect() as conn:
        merchants = [get_merchant(conn, merchant_no)] if merchant_no else list_merchants(conn)
        for merchant in merchants:
            m = merchant.merchant_no
            keys = {k["key_id"]: k["public_key"] for k in public_keys(conn, m)}
            head = read_head(conn, m, lock=False)
            tick = (lambda n, m=m: progress(m, n)) if progress else None
            reports.append(verify_chain(
                m, _rows(conn, m), load_checkpoints(conn, m), keys,
                head=(head.seq, head.hash) if head else (0, ""), full=full, progress=tick))
    cf.write(lambda conn: audit.record(
        conn, actor, "journal.verify", "success" if all(r.ok for r in reports) else "failed",
        object_type="journal", object_id=merchant_no or "*",
        details={"full": full, "problems": [r.problem for r in reports if r.problem]}))
    return reports


def make_checkpoint(cf: Counterfoil, merchant_no: str, *, actor: Actor = audit.SYSTEM,
                    ) -> Checkpoint | None:
    """Sign the journal's current Merkle root; None when nothing new since the last one."""

    def job(conn: Connection) -> Checkpoint | None:
        get_merchant(conn, merchant_no)
        head = read_head(conn, merchant_no)
        if head is None or head.key_id is None:
            return None
        c = checkpoints.c
        last = conn.execute(select(checkpoints).where(c.merchant_no == merchant_no)
                            .order_by(c.tree_size.desc()).limit(1)).first()
        if last is not None and last.tree_size >= head.seq:
            return None
        tree = CompactRange()
        if last is not None:
            tree = CompactRange.resume(last.tree_size, [bytes.fromhex(h) for h in
                                                        orjson.loads(last.compact_range)])
        j = journal_entries.c
        for (entry_hash,) in conn.execute(
                select(j.entry_hash).where(and_(j.merchant_no == merchant_no,
                                                j.seq > tree.size, j.seq <= head.seq))
                .order_by(j.seq)):
            tree.append(leaf_hash(bytes.fromhex(entry_hash)))
        root, now = tree.root().hex(), datetime.now(UTC).replace(microsecond=0)
        created = iso_utc(now)
        signature = cf.keys.sign(merchant_no, head.key_id, checkpoint_message(
            merchant_no, tree.size, root, created, head.key_id))
        conn.execute(checkpoints.insert().values(
            merchant_no=merchant_no, tree_size=tree.size, root_hash=root,
            compact_range=orjson.dumps([h.hex() for h in tree.hashes]).decode(),
            key_id=head.key_id, signature=signature, created_at=now))
        audit.record(conn, actor, "checkpoint.create", object_type="checkpoint",
                     object_id=f"{merchant_no}@{tree.size}", merchant_no=merchant_no)
        return Checkpoint(merchant_no, tree.size, root, head.key_id, signature, created)

    return cf.write(job)


def export_checkpoint(cf: Counterfoil, merchant_no: str) -> dict[str, Any]:
    """The newest signed checkpoint (made now if the journal moved), with its public key."""
    make_checkpoint(cf, merchant_no)
    with cf.engine.connect() as conn:
        marks = load_checkpoints(conn, merchant_no)
        keys = {k["key_id"]: k["public_key"] for k in public_keys(conn, merchant_no)}
    mark = marks[-1]
    return {"format": "counterfoil-checkpoint/v1", "merchant_no": merchant_no,
            "tree_size": mark.tree_size, "root_hash": mark.root_hash,
            "created_at": mark.created_at, "key_id": mark.key_id,
            "public_key": keys[mark.key_id], "signature": mark.signature,
            "hashing": "RFC 9162 (SHA-256); leaf = SHA-256 entry hash of the RFC 8785 body",
            "signed_message": "'counterfoil/checkpoint/v1\\n' + RFC 8785 JSON of merchant_no, "
                              "tree_size, root_hash, created_at, key_id"}
