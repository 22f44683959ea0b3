"""The journal in the database: appending entries to a merchant's chain, and look-ups.

``ChainWriter`` is the only code that writes ``journal_entries``. Inside one database
transaction it locks the chain's head (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already holds the write lock), gives each new entry the next
sequence number and the previous hash, signs it, and writes the entries and the new
head together, so a crash leaves either all of them or none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, select, update

from counterfoil.core.errors import NotFound
from counterfoil.core.pan import card_group
from counterfoil.core.rules import Standing
from counterfoil.core.times import iso_z
from counterfoil.i18n import _
from counterfoil.journal.entries import (
    GENESIS_PREV,
    make_body,
    seal,
    signing_message,
    transaction_body_bytes,
)
from counterfoil.journal.keys import KeyStore
from counterfoil.store.schema import chain_heads, entry_state, journal_entries

#: The look-up columns copied out of a transaction entry's body (``data`` and
#: ``effects``); ``verify`` checks them against the body.
FROM_DATA = (
    "terminal_id",
    "batch_no",
    "trace_no",
    "type",
    "channel",
    "amount",
    "currency",
    "rrn",
    "auth_code",
    "order_no",
    "offline",
)
FROM_EFFECTS = ("fee", "net", "original_seq")
COPIED = FROM_DATA + FROM_EFFECTS

#: Column order of a journal row as ``ChainWriter`` inserts it. ``Ready.columns`` holds
#: card_bin, card_last4, card_group and FROM_DATA in this order.
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
    "card_group",
    *FROM_DATA,
    *FROM_EFFECTS,
)
_SIGNATURE, _RECORDED, _TERMINAL_TIME = (
    ROW_COLUMNS.index(c) for c in ("signature", "recorded_at", "terminal_time")
)
_PLACES = {"sqlite": "?", "postgresql": "%s"}
#: Entries signed together and then written together by ``ChainWriter.flush``.
_SIGNING_PART = 500


def _insert_sql(dialect: str) -> str:
    marks = ", ".join([_PLACES[dialect]] * len(ROW_COLUMNS))
    return f"INSERT INTO journal_entries ({', '.join(ROW_COLUMNS)}) VALUES ({marks})"  # noqa: S608


def utc_from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def columns_from_body(body: dict[str, Any]) -> dict[str, Any]:
    """The look-up columns of an entry, derived from its signed body alone."""
    data, effects = body.get("data", {}), body.get("effects", {})
    columns = {name: data.get(name) for name in FROM_DATA}
    columns.update({name: effects.get(name) for name in FROM_EFFECTS})
    card = data.get("card")
    columns["card_bin"] = card[:6] if card else None
    columns["card_last4"] = card[-4:] if card else None
    columns["card_group"] = card_group(columns["card_bin"])
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


def _db_time(dialect: str, iso: str | None) -> Any:
    """An iso_z instant as the database takes it: SQLAlchemy's text on SQLite."""
    if iso is None:
        return None
    if dialect == "sqlite":
        return f"{iso[:10]} {iso[11:26]}"
    return datetime.fromisoformat(iso)


class ChainWriter:
    """Appends entries to one merchant's chain within the caller's transaction.

    ``append`` and ``append_transaction`` seal an entry at once (sequence, previous hash,
    entry hash: the chain is sequential by nature); ``flush`` signs the pending entries —
    all at once, in parallel, since each signature depends only on its own hash — and
    writes them with the new head.
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
        self._rows: list[list[Any]] = []
        # The moment of recording of the transactions this writer appends: they are
        # committed together, and the clock is read once rather than per entry.
        self._recorded_at = iso_z(datetime.now(UTC))

    @property
    def next_seq(self) -> int:
        return self.head.seq + 1

    def _signer(self, key_id: str | None) -> str:
        signer = key_id or self.head.key_id
        if signer is None:
            raise NotFound(
                _("merchant {merchant_no} has no signing key"), merchant_no=self.merchant_no
            )
        return signer

    def append(
        self,
        kind: str,
        data: dict[str, Any],
        *,
        key_id: str | None = None,
        now: datetime | None = None,
        effects: dict[str, Any] | None = None,
    ) -> int:
        """Seal an entry of any kind after the head; it is signed and written by ``flush``.

        ``effects`` (fee, net, original_seq) is kept beside ``data`` as for a transaction
        (a ``recovered`` entry has them)."""
        signer = self._signer(key_id)
        recorded_at = iso_z(now or datetime.now(UTC))
        sealed = seal(
            make_body(
                merchant_no=self.merchant_no,
                seq=self.next_seq,
                prev_hash=self.head.hash,
                kind=kind,
                recorded_at=datetime.fromisoformat(recorded_at),
                key_id=signer,
                data=data,
                effects=effects,
            )
        )
        columns = columns_from_body(sealed.body)
        when = columns["terminal_time"]
        columns["terminal_time"] = iso_z(when) if when else None
        row = [
            self.merchant_no,
            sealed.seq,
            kind,
            sealed.body_bytes.decode(),
            sealed.entry_hash,
            self.head.hash,
            signer,
            None,
            recorded_at,
            None,
            None,
            None,
            *(columns[c] for c in ROW_COLUMNS[_TERMINAL_TIME:]),
        ]
        return self._push(row, sealed.entry_hash)

    def append_transaction(self, ready: Any, effects: dict[str, int]) -> int:
        """Seal a transaction entry from its ``Ready`` form; return its sequence number."""
        signer = self._signer(None)
        seq, prev = self.next_seq, self.head.hash
        recorded_at = self._recorded_at
        body = transaction_body_bytes(
            data=ready.data,
            effects=effects,
            key_id=signer,
            merchant_no=self.merchant_no,
            prev_hash=prev,
            recorded_at=recorded_at,
            seq=seq,
        )
        entry_hash = hashlib.sha256(body).hexdigest()
        row = [
            self.merchant_no,
            seq,
            "transaction",
            body.decode(),
            entry_hash,
            prev,
            signer,
            None,
            recorded_at,
            ready.key,
            ready.payload_hash,
            ready.card_hmac,
            ready.when,
            *ready.columns,
            effects["fee"],
            effects["net"],
            effects.get("original_seq"),
        ]
        return self._push(row, entry_hash)

    def _push(self, row: list[Any], entry_hash: str) -> int:
        self._rows.append(row)
        head = self.head
        head.seq, head.hash = row[1], entry_hash
        return head.seq

    def rotate_to(self, key_id: str) -> None:
        self.head.key_id = key_id

    def flush(self) -> int:
        """Sign and write the pending entries and the new head; return how many.

        The entries are signed in parts, on every core, and each part is written as soon
        as its signatures are there, while the next parts are still being signed."""
        rows, self._rows = self._rows, []
        if not rows:
            return 0
        dialect = self.conn.dialect.name
        insert = _insert_sql(dialect)
        times: dict[str | None, Any] = {}  # entries of a flush share their moment of recording
        for row in rows:
            recorded = row[_RECORDED]
            if recorded not in times:
                times[recorded] = _db_time(dialect, recorded)
            row[_RECORDED] = times[recorded]
            row[_TERMINAL_TIME] = _db_time(dialect, row[_TERMINAL_TIME])
        for key_id in dict.fromkeys(row[6] for row in rows):  # keys in the order they signed
            mine = [row for row in rows if row[6] == key_id]
            parts = [mine[i : i + _SIGNING_PART] for i in range(0, len(mine), _SIGNING_PART)]
            signed = self.keys.sign_parts(
                self.merchant_no, key_id, [[signing_message(r[4]) for r in p] for p in parts]
            )
            for part, signatures in zip(parts, signed, strict=True):
                for row, signature in zip(part, signatures, strict=True):
                    row[_SIGNATURE] = signature
                self.conn.exec_driver_sql(insert, [tuple(row) for row in part])
        write_head(self.conn, self.merchant_no, self.head, new=self._new)
        self._new = False
        return len(rows)


# --- look-ups --------------------------------------------------------------------------


#: Entries recorded under any of a list of idempotency keys, the list one parameter (a
#: JSON array on SQLite, an array on PostgreSQL): one statement for a chunk of thousands
#: of keys, and nothing for SQLAlchemy to compile per chunk.
_FIND_KEYS = {
    "sqlite": "SELECT idem_key, seq, payload_hash, body FROM journal_entries "
    "WHERE merchant_no = ? AND idem_key IN (SELECT value FROM json_each(?))",
    "postgresql": "SELECT idem_key, seq, payload_hash, body FROM journal_entries "
    "WHERE merchant_no = %s AND idem_key = ANY(%s)",
}


def find_keys(conn: Connection, merchant_no: str, keys: Sequence[str]) -> dict[str, Any]:
    """Entries already recorded under these idempotency keys."""
    if not keys:
        return {}
    dialect = conn.dialect.name
    wanted: Any = orjson.dumps(list(keys)).decode() if dialect == "sqlite" else list(keys)
    rows = conn.exec_driver_sql(_FIND_KEYS[dialect], (merchant_no, wanted))
    return {row.idem_key: row for row in rows}


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
