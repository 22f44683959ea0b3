"""Verification and checkpoints of merchants' journals, from the database.

``verify`` streams each merchant's entries through ``journal.verify.walk`` — a long
journal in two halves at once, the second in a process of its own — and puts the walks
together with ``journal.verify.combine``.
``make_checkpoint`` signs the Merkle root of the journal as it stands; it carries on
from the previous checkpoint's compact range, so it reads only the entries since.
``export_checkpoint`` gives a document a third party can keep and later check against.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from hashlib import sha256 as _sha256
from typing import Any, cast

import orjson
from sqlalchemy import Connection, and_, select
from sqlalchemy.exc import DataError

from counterfoil.core.pan import CARD_GROUP_SQL
from counterfoil.i18n import _
from counterfoil.journal.entries import checkpoint_message, iso_utc
from counterfoil.journal.merkle import CompactRange
from counterfoil.journal.verify import (
    BLOCK,
    COLUMNS_DIFFER,
    Checkpoint,
    Report,
    Row,
    Start,
    Walk,
    combine,
    walk,
)
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant, list_merchants, public_keys
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.db import make_engine
from counterfoil.store.journal import (
    FROM_DATA,
    FROM_EFFECTS,
    columns_from_body,
    read_head,
    utc_from_iso,
)
from counterfoil.store.schema import checkpoints, journal_entries

_HASHES_SQL = {
    "sqlite": "SELECT seq, entry_hash FROM journal_entries WHERE merchant_no = ? AND seq > ? "
    "AND seq <= ? ORDER BY seq LIMIT ?",
    "postgresql": "SELECT seq, entry_hash FROM journal_entries WHERE merchant_no = %s "
    "AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
}


def _entry_hashes(
    conn: Connection, merchant_no: str, after: int, upto: int, chunk: int = 65_536
) -> Iterator[list[str]]:
    """The entry hashes of entries ``after`` < seq ≤ ``upto``, in order, a chunk at a time
    (through the driver's cursor on SQLite: SQLAlchemy's rows cost more than the rest)."""
    sql = _HASHES_SQL[conn.dialect.name]
    driver = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    while after < upto:
        parameters = (merchant_no, after, upto, chunk)
        if driver is not None:
            rows = driver.execute(sql, parameters).fetchall()
        else:
            rows = conn.exec_driver_sql(sql, parameters).fetchall()
        if not rows:
            return
        yield [h for _seq, h in rows]
        after = rows[-1][0]


# The copied look-up columns against the signed body, compared by the database itself.
_PG_TYPES = {
    "amount": "bigint",
    "fee": "bigint",
    "net": "bigint",
    "original_seq": "bigint",
    "offline": "boolean",
}


def _sqlite_field(column: str) -> str:
    part = "effects" if column in FROM_EFFECTS else "data"
    return f"json_extract(body, '$.{part}.{column}')"


def _pg_field(column: str) -> str:
    part = "e" if column in FROM_EFFECTS else "d"
    return f"({part} ->> '{column}')::{_PG_TYPES.get(column, 'text')}"


# The signed terminal time against the column SQLite keeps (``core.times.sqlite_text``:
# UTC, six decimals). unixepoch() reads both with their offsets and gives whole seconds;
# the six decimals are compared as text (``datetime.isoformat`` writes six or none), since
# SQLite's date functions work in milliseconds. (strftime, which this replaced, cost twice
# as much.)
_SIGNED_TIME = "json_extract(body, '$.data.terminal_time')"
_SQLITE_SAME_TIME = (
    f"(unixepoch(terminal_time) = unixepoch({_SIGNED_TIME}) AND substr(terminal_time, 21, 6) "
    f"= CASE WHEN substr({_SIGNED_TIME}, 20, 1) = '.' THEN substr({_SIGNED_TIME}, 21, 6) "
    "ELSE '000000' END)"
)

# Whether a row's copied look-up columns are what its signed body says: every entry's
# time of recording, and a transaction's copied fields and card group. The database
# works it out as it reads the row (the body is read once), so a walk gets a yes or no
# with each entry; a "no" is then explained column by column (``_column_problem``).
_COLUMNS_SQLITE = (
    # iso_z in the body (2026-11-20T06:05:09.000000Z), sqlite_text in the column
    "(recorded_at IS replace(substr(json_extract(body, '$.recorded_at'), 1, 26), 'T', ' ') "
    "AND (kind != 'transaction' OR ("
    + " AND ".join(
        [f"{c} IS {_sqlite_field(c)}" for c in (*FROM_DATA, *FROM_EFFECTS)]
        + [
            "card_bin IS substr(json_extract(body, '$.data.card'), 1, 6)",
            "card_last4 IS substr(json_extract(body, '$.data.card'), -4)",
            f"card_group IS ({CARD_GROUP_SQL})",
            _SQLITE_SAME_TIME,
        ]
    )
    + ")))"
)
# A body that is not JSON at all is left to the chain walk (its hash, its tail): in a
# chunk that holds one, json_extract stops the query with "malformed JSON", and the chunk
# is read again with each body asked first whether it is JSON (which parses it once more:
# a third of the check's cost, paid only then).
_COLUMNS_SQLITE_GUARDED = f"CASE WHEN json_valid(body) THEN {_COLUMNS_SQLITE} ELSE 1 END"
# On PostgreSQL the body is parsed once a row in a LATERAL subquery (b: the body, d: its
# data, e: its effects, r: its time of recording); a body that is not JSON (b NULL) is
# left to the chain walk.
_COLUMNS_PG = (
    "(b IS NULL OR NOT (recorded_at IS DISTINCT FROM r::timestamptz "
    "OR kind = 'transaction' AND ("
    + " OR ".join(
        [f"{c} IS DISTINCT FROM {_pg_field(c)}" for c in (*FROM_DATA, *FROM_EFFECTS)]
        + [
            "card_bin IS DISTINCT FROM left(d ->> 'card', 6)",
            "card_last4 IS DISTINCT FROM right(d ->> 'card', 4)",
            f"card_group IS DISTINCT FROM ({CARD_GROUP_SQL})",
            "terminal_time IS DISTINCT FROM (d ->> 'terminal_time')::timestamptz",
        ]
    )
    + ")))"
)
_ROW_SQL = {
    "sqlite": "SELECT seq, CAST(body AS BLOB), entry_hash, prev_hash, kind, key_id, "  # noqa: S608
    f"signature, {_COLUMNS_SQLITE} FROM journal_entries "
    "WHERE merchant_no = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
    # OFFSET 0 keeps PostgreSQL from flattening the subquery, which would parse the body
    # once for every column that refers to it: once a row, not seventeen times. {body} is
    # the plain cast, or counterfoil_jsonb_or_null (NULL for a body that is not JSON) once
    # the plain cast has failed in a chunk.
    "postgresql": "SELECT seq, convert_to(body, 'UTF8'), entry_hash, prev_hash, kind, "  # noqa: S608
    f"key_id, signature, {_COLUMNS_PG} FROM journal_entries j, LATERAL (SELECT b, "
    "b -> 'data' AS d, b -> 'effects' AS e, b ->> 'recorded_at' AS r "
    "FROM (SELECT {body} AS b OFFSET 0) p) x "
    "WHERE merchant_no = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
}
_LAST_SQL = {
    "sqlite": "SELECT max(seq) FROM journal_entries WHERE merchant_no = ?",
    "postgresql": "SELECT max(seq) FROM journal_entries WHERE merchant_no = %s",
}
_EDGE_SQL = {  # the entry before a range (its hash) and the range's first (its key)
    "sqlite": "SELECT seq, entry_hash, key_id FROM journal_entries "
    "WHERE merchant_no = ? AND seq IN (?, ?)",
    "postgresql": "SELECT seq, entry_hash, key_id FROM journal_entries "
    "WHERE merchant_no = %s AND seq IN (%s, %s)",
}


def _rows(
    conn: Connection, merchant_no: str, after: int, upto: int, chunk: int = 20_000
) -> Iterator[Row]:
    """Entries ``after`` < seq ≤ ``upto`` in sequence order, with whether each one's
    copied columns are its body's, read in chunks by key range (no long-lived cursor)."""
    dialect = conn.dialect.name
    sql = _ROW_SQL[dialect]
    while True:
        parameters = (merchant_no, after, upto, chunk)
        if dialect == "sqlite":
            batch = _sqlite_chunk(conn, sql, parameters)
        else:
            batch = _pg_chunk(conn, sql, parameters)
        if not batch:
            return
        yield from cast("list[Row]", batch)  # SQLAlchemy rows unpack like tuples
        after = batch[-1][0]


def _sqlite_chunk(conn: Connection, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
    """A chunk of rows on SQLite, through the driver's own cursor (in the connection's
    transaction): half the cost a row of going through SQLAlchemy's result."""
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        return list(driver.execute(sql, parameters).fetchall())
    except sqlite3.OperationalError as error:
        if "malformed JSON" not in str(error):
            raise
        guarded = sql.replace(_COLUMNS_SQLITE, _COLUMNS_SQLITE_GUARDED)
        return list(driver.execute(guarded, parameters).fetchall())


def _pg_chunk(conn: Connection, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
    """A chunk of rows on PostgreSQL: each body cast as it is, or, if a body of the chunk
    is not JSON (PostgreSQL 15 has no soft cast), body by body through
    ``counterfoil_jsonb_or_null``, which costs more and is only needed then."""
    try:
        with conn.begin_nested():
            plain = sql.replace("{body}", "j.body::jsonb")
            return list(conn.exec_driver_sql(plain, parameters).fetchall())
    except DataError:
        safe = sql.replace("{body}", "counterfoil_jsonb_or_null(j.body)")
        return list(conn.exec_driver_sql(safe, parameters).fetchall())


def _column_problem(conn: Connection, merchant_no: str, seq: int) -> tuple[str, dict[str, Any]]:
    """Which copied look-up column of entry ``seq`` differs from its signed body, and how."""
    row = (
        conn.execute(
            select(journal_entries).where(
                and_(journal_entries.c.merchant_no == merchant_no, journal_entries.c.seq == seq)
            )
        )
        .mappings()
        .one()
    )
    body = orjson.loads(row["body"])
    fields = (body.get("data"), body.get("effects", {})) if isinstance(body, dict) else ()
    if not all(isinstance(part, dict) for part in fields) or "recorded_at" not in body:
        return _("entry {seq} was altered: its body is not canonical JSON"), {}
    expected = columns_from_body(body) if row["kind"] == "transaction" else {}
    expected["recorded_at"] = utc_from_iso(body["recorded_at"])
    for name, value in expected.items():
        stored = row[name]
        if name in ("terminal_time", "recorded_at") and stored is not None and value is not None:
            stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        if stored != value:
            return (
                _(
                    "entry {seq} was altered: {column} is {stored} in the table but "
                    "{signed} in the signed body"
                ),
                {"column": name, "stored": repr(stored), "signed": repr(value)},
            )
    return _("entry {seq} was altered: a look-up column differs from its body"), {}


def load_checkpoints(conn: Connection, merchant_no: str) -> list[Checkpoint]:
    c = checkpoints.c
    return [
        Checkpoint(
            merchant_no,
            r.tree_size,
            r.root_hash,
            r.key_id,
            r.signature,
            iso_utc(r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)),
        )
        for r in conn.execute(
            select(checkpoints).where(c.merchant_no == merchant_no).order_by(c.tree_size)
        )
    ]


#: A journal of at least this many entries is walked in two ranges at once, the second by
#: a process of its own, on a machine with two cores or more (below it, starting the
#: process would cost more than it saves).
PARALLEL_FROM = 250_000


def verify(
    cf: Counterfoil,
    merchant_no: str | None = None,
    *,
    full: bool = False,
    actor: Actor = audit.SYSTEM,
    progress: Callable[[str, int], None] | None = None,
    block: int = BLOCK,
    parallel_from: int = PARALLEL_FROM,
) -> list[Report]:
    """Verify each merchant's journal (or one); the report of each, audited.

    ``block`` and ``parallel_from`` are for tests, which split small journals."""
    reports: list[Report] = []
    with cf.engine.connect() as conn:
        merchants = [get_merchant(conn, merchant_no)] if merchant_no else list_merchants(conn)
        for merchant in merchants:
            m = merchant.merchant_no
            tick = (lambda n, m=m: progress(m, n)) if progress else None
            plan = _Plan(conn, m, full, block, parallel_from)
            reports.append(plan.run(cf, tick))
    cf.write(
        lambda conn: audit.record(
            conn,
            actor,
            "journal.verify",
            "success" if all(r.ok for r in reports) else "failed",
            object_type="journal",
            object_id=merchant_no or "*",
            details={"full": full, "problems": [r.problem for r in reports if r.problem]},
        )
    )
    return reports


class _Plan:
    """One journal's verification: what is known before its entries are read (head,
    checkpoints, public keys, where it is split), then the walks and their report."""

    def __init__(
        self, conn: Connection, merchant_no: str, full: bool, block: int, parallel_from: int
    ) -> None:
        self.conn, self.merchant_no, self.full, self.block = conn, merchant_no, full, block
        self.keys = {k["key_id"]: k["public_key"] for k in public_keys(conn, merchant_no)}
        head = read_head(conn, merchant_no, lock=False)
        self.head = (head.seq, head.hash) if head else (0, "")
        self.checkpoints = load_checkpoints(conn, merchant_no)
        self.marks = {c.tree_size: c for c in self.checkpoints}
        self.sign_at = set(self.marks) | {self.head[0]}
        # Entries are read up to the head; a row after it (read in this transaction, as
        # the head was) is an entry added at the end without the head.
        last = conn.exec_driver_sql(_LAST_SQL[conn.dialect.name], (merchant_no,)).scalar()
        self.end = max(self.head[0], int(last or 0))
        size = self.head[0]
        # The second half starts later (its process takes half a second to start): this
        # one takes a little more than half.
        first = round(size * 0.53 / block) * block
        self.split = (
            first
            if size >= parallel_from and block <= first < size and (os.cpu_count() or 1) > 1
            else None
        )

    def run(self, cf: Counterfoil, progress: Callable[[int], None] | None) -> Report:
        m = self.merchant_no
        if self.split is None:
            walks = [self._walk(self.conn, Start(), 0, self.end, progress)]
        else:
            walks = self._two_walks(cf, progress)
        report = combine(m, walks, self.checkpoints, self.keys, head=self.head, block=self.block)
        if report.message == COLUMNS_DIFFER:
            assert report.bad_seq is not None
            message, facts = _column_problem(self.conn, m, report.bad_seq)
            report.message, report.facts = message, {"seq": report.bad_seq, **facts}
        return report

    def _walk(
        self,
        conn: Connection,
        start: Start,
        after: int,
        upto: int,
        progress: Callable[[int], None] | None,
    ) -> Walk:
        rows = _rows(conn, self.merchant_no, after, upto)
        return walk(
            self.merchant_no,
            rows,
            start,
            self.marks,
            self.sign_at,
            self.keys,
            full=self.full,
            block=self.block,
            progress=progress,
        )

    def _two_walks(self, cf: Counterfoil, progress: Callable[[int], None] | None) -> list[Walk]:
        """The first half walked here, the second by a spawned process at the same time."""
        split = self.split
        assert split is not None
        edge = {
            seq: (entry_hash, key_id)
            for seq, entry_hash, key_id in self.conn.exec_driver_sql(
                _EDGE_SQL[self.conn.dialect.name], (self.merchant_no, split, split + 1)
            )
        }
        key = edge.get(split + 1, ("", None))[1]
        second = Start(
            split + 1,
            edge.get(split, ("", None))[0],
            key,
            {key: self.keys[key]} if key in self.keys else {},
        )
        context = multiprocessing.get_context("spawn")
        done: Any = context.Value("q", 0)
        here, there = context.Pipe(duplex=False)
        url = cf.engine.url.render_as_string(hide_password=False)
        args = (url, self, second, split, done, there)
        worker = context.Process(target=_walk_elsewhere, args=args, daemon=True)
        worker.start()
        there.close()  # only the worker writes: its end closing here lets us see it die
        try:
            tick = (lambda n: progress(n + done.value)) if progress else None
            first = self._walk(self.conn, Start(), 0, split, tick)
            try:
                answer = here.recv()
            except EOFError:  # the process ended without an answer
                worker.join(timeout=10)
                raise RuntimeError(
                    f"the verifying process stopped (exit code {worker.exitcode})"
                ) from None
        finally:
            here.close()
            worker.join(timeout=60)
            if worker.is_alive():
                worker.terminate()
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Walk)
        return [first, answer]

    def __getstate__(self) -> dict[str, Any]:  # what the second walker needs: no connection
        return {k: v for k, v in self.__dict__.items() if k != "conn"}


def _walk_elsewhere(url: str, plan: _Plan, start: Start, split: int, done: Any, out: Any) -> None:
    """The second half of a journal, in a process of its own; its walk (or the error that
    stopped it) goes back through ``out``."""
    try:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:

                def tick(n: int) -> None:
                    done.value = n

                out.send(plan._walk(conn, start, split, plan.end, tick))
        finally:
            engine.dispose()
    except Exception as error:  # sent to the verifying process, which raises it
        out.send(error)
    finally:
        out.close()


def make_checkpoint(
    cf: Counterfoil,
    merchant_no: str,
    *,
    actor: Actor = audit.SYSTEM,
) -> Checkpoint | None:
    """Sign the journal's current Merkle root; None when nothing new since the last one."""

    def job(conn: Connection) -> Checkpoint | None:
        get_merchant(conn, merchant_no)
        head = read_head(conn, merchant_no)
        if head is None or head.key_id is None:
            return None
        c = checkpoints.c
        last = conn.execute(
            select(checkpoints)
            .where(c.merchant_no == merchant_no)
            .order_by(c.tree_size.desc())
            .limit(1)
        ).first()
        if last is not None and last.tree_size >= head.seq:
            return None
        tree = CompactRange()
        if last is not None:
            tree = CompactRange.resume(
                last.tree_size, [bytes.fromhex(h) for h in orjson.loads(last.compact_range)]
            )
        # Leaves are added many at a time, so that whole subtrees are hashed level by level
        # (a million entries since the last checkpoint, as after a bulk ingest: 1.3 s,
        # was 4.8 s leaf by leaf through SQLAlchemy's rows).
        for hashes in _entry_hashes(conn, merchant_no, tree.size, head.seq):
            tree.extend([_sha256(b"\x00" + bytes.fromhex(h)).digest() for h in hashes])
        root, now = tree.root().hex(), datetime.now(UTC).replace(microsecond=0)
        created = iso_utc(now)
        signature = cf.keys.sign(
            merchant_no,
            head.key_id,
            checkpoint_message(merchant_no, tree.size, root, created, head.key_id),
        )
        conn.execute(
            checkpoints.insert().values(
                merchant_no=merchant_no,
                tree_size=tree.size,
                root_hash=root,
                compact_range=orjson.dumps([h.hex() for h in tree.hashes]).decode(),
                key_id=head.key_id,
                signature=signature,
                created_at=now,
            )
        )
        audit.record(
            conn,
            actor,
            "checkpoint.create",
            object_type="checkpoint",
            object_id=f"{merchant_no}@{tree.size}",
            merchant_no=merchant_no,
        )
        return Checkpoint(merchant_no, tree.size, root, head.key_id, signature, created)

    return cf.write(job)


def export_checkpoint(cf: Counterfoil, merchant_no: str) -> dict[str, Any]:
    """The newest signed checkpoint (made now if the journal moved), with its public key."""
    make_checkpoint(cf, merchant_no)
    with cf.engine.connect() as conn:
        marks = load_checkpoints(conn, merchant_no)
        keys = {k["key_id"]: k["public_key"] for k in public_keys(conn, merchant_no)}
    mark = marks[-1]
    return {
        "format": "counterfoil-checkpoint/v1",
        "merchant_no": merchant_no,
        "tree_size": mark.tree_size,
        "root_hash": mark.root_hash,
        "created_at": mark.created_at,
        "key_id": mark.key_id,
        "public_key": keys[mark.key_id],
        "signature": mark.signature,
        "hashing": "RFC 9162 (SHA-256); leaf = SHA-256 entry hash of the RFC 8785 body",
        "signed_message": "'counterfoil/checkpoint/v1\\n' + RFC 8785 JSON of merchant_no, "
        "tree_size, root_hash, created_at, key_id",
    }
