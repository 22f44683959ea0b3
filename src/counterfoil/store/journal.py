"""The journal in the database: appending entries to a merchant's chain, and look-ups.

``ChainWriter`` is the only code that writes ``journal_entries``. Inside one database
transaction it locks the chain's head (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already holds the write lock), gives each new entry the next
sequence number and the previous hash, signs it, and writes the entries and the new
head together, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from counterfoil.core.errors import NotFound
from counterfoil.core.rules import Standing
from counterfoil.core.times import iso_z, sqlite_text
from counterfoil.i18n import _
from counterfoil.journal.entries import GENESIS_PREV, make_body, seal, signing_message
from counterfoil.journal.keys import KeyStore
from counterfoil.store.schema import chain_heads, entry_state, journal_entries

#: Journal columns copied out of an entry's ``data``; ``verify`` checks them against it.
COPIED = (
    "terminal_id",
    "batch_no",
    "trace_no",
    "type",
    "channel",
    "amount",
    "fee",
    "net",
    "currency",
    "rrn",
    "auth_code",
    "order_no",
    "original_seq",
    "offline",
)


def utc_from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def columns_from_data(data: dict[str, Any]) -> dict[str, Any]:
    """The look-up columns of an entry, derived from its body's ``data`` alone."""
    columns = {name: data.get(name) for name in COPIED}
    card = data.get("card")
    columns["card_bin"] = card[:6] if card else None
    columns["card_last4"] = card[-4:] if card else None
    when = data.get("terminal_time")
    columns["terminal_time"] = utc_from_iso(when) if when else None
    return columns


@dataclass(slots=True)
class Head:
    seq: int
    hash: str
    key_id: str | None


def read_head(conn: Connection, chain: str, *, lock: bool = True) -> Head | None:
    query = select(chain_heads.c.seq, chain_heads.c.head_hash, chain_heads.c.key_id).where(
        chain_heads.c.chain == chain
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Head(row.seq, row.head_hash, row.key_id) if row else None


def write_head(conn: Connection, chain: str, head: Head, *, new: bool) -> None:
    values = {"seq": head.seq, "head_hash": head.hash, "key_id": head.key_id}
    if new:
        conn.execute(chain_heads.insert().values(chain=chain, **values))
    else:
        conn.execute(update(chain_heads).where(chain_heads.c.chain == chain).values(**values))


#: Column order of a journal row as ``ChainWriter`` inserts it.
ROW_COLUMNS = (
    "merchant_no",
    "seq",
    "kind",
    "body",
    "entry_hash",
    "prev_hash",
    "key_id",
    "signature",
    "recorded_at",
    "idem_key",
    "payload_hash",
    "card_hmac",
    "terminal_time",
    "card_bin",
    "card_last4",
    *COPIED,
)
_INSERT = (
    f"INSERT INTO journal_entries ({', '.join(ROW_COLUMNS)}) VALUES "  # noqa: S608
    f"({', '.join(['?'] * len(ROW_COLUMNS))})"
)
_INSERT_PG = (
    f"INSERT INTO journal_entries ({', '.join(ROW_COLUMNS)}) VALUES "  # noqa: S608
    f"({', '.join(['%s'] * len(ROW_COLUMNS))})"
)
#: Ed25519 signing releases the GIL: a chunk's signatures are made on every core.
_SIGNING_THREADS = max(2, os.cpu_count() or 2)
_SIGNERS = ThreadPoolExecutor(max_workers=_SIGNING_THREADS, thread_name_prefix="counterfoil-sign")
_PARALLEL_FROM = 64


def _sqlite_time(moment: datetime | None) -> str | None:
    """SQLite keeps times as text in SQLAlchemy's format (UTC, microseconds)."""
    return sqlite_text(moment) if moment is not None else None


class ChainWriter:
    """Appends entries to one merchant's chain within the caller's transaction.

    ``append`` seals an entry at once (sequence, previous hash, entry hash: the chain
    is sequential by nature); ``flush`` signs the pending entries — in parallel, since
    each signature depends only on its own hash — and writes them with the new head.
    """

    def __init__(
        self, conn: Connection, keys: KeyStore, merchant_no: str, *, create: bool = False
    ) -> None:
        self.conn = conn
        self.keys = keys
        self.merchant_no = merchant_no
        head = read_head(conn, merchant_no)
        if head is None and not create:
            raise NotFound(_("merchant {merchant_no} has no journal"), merchant_no=merchant_no)
        self._new = head is None
        self.head = head or Head(0, GENESIS_PREV, None)
        self._rows: list[dict[str, Any]] = []

    @property
    def next_seq(self) -> int:
        return self.head.seq + 1

    def append(
        self,
        kind: str,
        data: dict[str, Any],
        *,
        key_id: str | None = None,
        extra: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Seal an entry after the head; it is signed and written by ``flush``."""
        signer = key_id or self.head.key_id
        if signer is None:
            raise NotFound(
                _("merchant {merchant_no} has no signing key"), merchant_no=self.merchant_no
            )
        recorded_at = (now or datetime.now(UTC)).astimezone(UTC)
        sealed = seal(
            make_body(
                merchant_no=self.merchant_no,
                seq=self.next_seq,
                prev_hash=self.head.hash,
                kind=kind,
                recorded_at=recorded_at,
                key_id=signer,
                data=data,
            ),
            trusted=kind == "transaction",
        )
        row = {
            "merchant_no": self.merchant_no,
            "seq": sealed.seq,
            "kind": kind,
            "body": sealed.body_bytes.decode(),
            "entry_hash": sealed.entry_hash,
            "prev_hash": self.head.hash,
            "key_id": signer,
            "signature": None,
            "recorded_at": recorded_at,
            "idem_key": None,
            "payload_hash": None,
            "card_hmac": None,
            **columns_from_data(data),
        }
        if extra:
            row.update(extra)
        self._rows.append(row)
        self.head = Head(sealed.seq, sealed.entry_hash, self.head.key_id)
        return row

    def rotate_to(self, key_id: str) -> None:
        self.head.key_id = key_id

    def _sign(self, rows: list[dict[str, Any]]) -> None:
        def sign(part: list[dict[str, Any]]) -> None:
            for row in part:
                row["signature"] = self.keys.sign(
                    self.merchant_no, row["key_id"], signing_message(row["entry_hash"])
                )

        if len(rows) < _PARALLEL_FROM:
            sign(rows)
            return
        for key_id in {row["key_id"] for row in rows}:  # load each key once, up front
            self.keys.signer(self.merchant_no, key_id)
        step = -(-len(rows) // _SIGNING_THREADS)
        list(_SIGNERS.map(sign, [rows[i : i + step] for i in range(0, len(rows), step)]))

    def flush(self) -> list[dict[str, Any]]:
        rows, self._rows = self._rows, []
        if not rows:
            return rows
        self._sign(rows)
        sqlite = self.conn.dialect.name == "sqlite"
        values = [tuple(row[c] for c in ROW_COLUMNS) for row in rows]
        if sqlite:  # times as SQLAlchemy's SQLite DateTime stores them
            at, tt = ROW_COLUMNS.index("recorded_at"), ROW_COLUMNS.index("terminal_time")
            values = [
                (*v[:at], _sqlite_time(v[at]), *v[at + 1 : tt], _sqlite_time(v[tt]), *v[tt + 1 :])
                for v in values
            ]
        self.conn.exec_driver_sql(_INSERT if sqlite else _INSERT_PG, values)
        write_head(self.conn, self.merchant_no, self.head, new=self._new)
        self._new = False
        return rows


# --- look-ups --------------------------------------------------------------------------


def find_keys(conn: Connection, merchant_no: str, keys: Sequence[str]) -> dict[str, Any]:
    """Entries already recorded under these idempotency keys."""
    found: dict[str, Any] = {}
    j = journal_entries.c
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows = conn.execute(
            select(j.idem_key, j.seq, j.payload_hash, j.body).where(
                and_(j.merchant_no == merchant_no, j.idem_key.in_(chunk))
            )
        )
        for row in rows:
            found[row.idem_key] = row
    return found


def standing(conn: Connection, merchant_no: str, seq: int) -> Standing | None:
    j, s = journal_entries.c, entry_state.c
    row = conn.execute(
        select(
            j.seq,
            j.type,
            j.channel,
            j.amount,
            j.fee,
            j.net,
            j.terminal_time,
            j.original_seq,
            s.status,
            s.refunded,
            s.completed,
        )
        .select_from(
            journal_entries.outerjoin(
                entry_state, and_(s.merchant_no == j.merchant_no, s.seq == j.seq)
            )
        )
        .where(and_(j.merchant_no == merchant_no, j.seq == seq))
    ).first()
    if row is None or row.type is None:
        return None
    when = row.terminal_time if row.terminal_time.tzinfo else row.terminal_time.replace(tzinfo=UTC)
    return Standing(
        seq=row.seq,
        type=row.type,
        channel=row.channel,
        amount=row.amount,
        fee=row.fee,
        net=row.net,
        terminal_time_utc=iso_z(when),
        status=row.status or "approved",
        refunded=row.refunded or 0,
        completed=row.completed or 0,
        original_seq=row.original_seq,
    )


def find_seq(
    conn: Connection,
    merchant_no: str,
    *,
    idem_keys: Iterable[str] = (),
    rrn: str | None = None,
    order_no: str | None = None,
) -> int | None:
    """The sequence number of the transaction these keys name, tried in order."""
    j = journal_entries.c
    mine = j.merchant_no == merchant_no
    for key in idem_keys:
        seq = conn.execute(select(j.seq).where(and_(mine, j.idem_key == key))).scalar()
        if seq is not None:
            return int(seq)
    for column, value in ((j.rrn, rrn), (j.order_no, order_no)):
        if value:
            seq = conn.execute(
                select(j.seq).where(and_(mine, column == value)).order_by(j.seq).limit(1)
            ).scalar()
            if seq is not None:
                return int(seq)
    return None


def save_standing(conn: Connection, merchant_no: str, states: Iterable[Standing]) -> None:
    """Write the standings that moved (the projection is sparse: 'approved' has no row)."""
    rows = [
        {
            "merchant_no": merchant_no,
            "seq": st.seq,
            "status": st.status,
            "refunded": st.refunded,
            "completed": st.completed,
        }
        for st in states
    ]
    if not rows:
        return
    seqs = [r["seq"] for r in rows]
    s = entry_state.c
    existing = set(
        conn.execute(
            select(s.seq).where(and_(s.merchant_no == merchant_no, s.seq.in_(seqs)))
        ).scalars()
    )
    new = [r for r in rows if r["seq"] not in existing]
    if new:
        conn.execute(entry_state.insert(), new)
    for r in rows:
        if r["seq"] in existing:
            conn.execute(
                update(entry_state)
                .where(and_(s.merchant_no == merchant_no, s.seq == r["seq"]))
                .values(status=r["status"], refunded=r["refunded"], completed=r["completed"])
            )
