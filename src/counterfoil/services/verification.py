"""Verification and checkpoints of merchants' journals, from the database.

``verify`` streams each merchant's entries through ``journal.verify.verify_chain``.
``make_checkpoint`` signs the Merkle root of the journal as it stands; it carries on
from the previous checkpoint's compact range, so it reads only the entries since.
``export_checkpoint`` gives a document a third party can keep and later check against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from hashlib import sha256 as _sha256
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Engine, and_, select
from sqlalchemy.exc import DataError

from counterfoil.core.pan import CARD_GROUP_SQL
from counterfoil.i18n import _
from counterfoil.journal.entries import checkpoint_message, iso_utc
from counterfoil.journal.merkle import CompactRange
from counterfoil.journal.verify import Checkpoint, Report, Row, verify_chain
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant, list_merchants, public_keys
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.journal import (
    FROM_DATA,
    FROM_EFFECTS,
    columns_from_body,
    read_head,
    utc_from_iso,
)
from counterfoil.store.schema import checkpoints, journal_entries

_HASHES_SQL = {
    "sqlite": "SELECT entry_hash FROM journal_entries WHERE merchant_no = ? AND seq > ? "
    "AND seq <= ? ORDER BY seq",
    "postgresql": "SELECT entry_hash FROM journal_entries WHERE merchant_no = %s AND seq > %s "
    "AND seq <= %s ORDER BY seq",
}
_ROW_SQL = {
    "sqlite": "SELECT seq, CAST(body AS BLOB), entry_hash, prev_hash, kind, key_id, signature "
    "FROM journal_entries WHERE merchant_no = ? AND seq > ? ORDER BY seq LIMIT ?",
    "postgresql": "SELECT seq, convert_to(body, 'UTF8'), entry_hash, prev_hash, kind, key_id, "
    "signature FROM journal_entries WHERE merchant_no = %s AND seq > %s "
    "ORDER BY seq LIMIT %s",
}

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


# The signed terminal time as SQLite keeps the column (``core.times.sqlite_text``): the
# microseconds are cut from the body's text (``datetime.isoformat`` writes six digits or
# none) and put back after strftime has turned the rest into UTC, because strftime works
# in milliseconds and would round 59.999999 up into the next minute.
_SIGNED_TIME = "json_extract(body, '$.data.terminal_time')"
_FRACTION = f"substr({_SIGNED_TIME}, 20, 1) = '.'"
_SQLITE_SIGNED_TIME = (
    f"strftime('%Y-%m-%d %H:%M:%S', substr({_SIGNED_TIME}, 1, 19) || "
    f"substr({_SIGNED_TIME}, CASE WHEN {_FRACTION} THEN 27 ELSE 20 END)) || '.' || "
    f"CASE WHEN {_FRACTION} THEN substr({_SIGNED_TIME}, 21, 6) ELSE '000000' END"
)

# The copied look-up columns against the signed body, compared by the database itself:
# every entry's time of recording, and a transaction's copied fields and card group.
# Built from the fixed column names above; the merchant number is a bound parameter.
_COLUMN_SQL = {
    # A body that is not JSON at all is left to the chain walk (its hash, its tail): here
    # json_extract would stop the whole query with "malformed JSON".
    "sqlite": "SELECT seq FROM journal_entries WHERE merchant_no = ? "  # noqa: S608
    "AND CASE WHEN json_valid(body) THEN ("
    # iso_z in the body (2026-11-20T06:05:09.000000Z), sqlite_text in the column
    "recorded_at IS NOT replace(substr(json_extract(body, '$.recorded_at'), 1, 26), 'T', ' ') "
    "OR kind = 'transaction' AND ("
    + " OR ".join(
        [f"{c} IS NOT {_sqlite_field(c)}" for c in (*FROM_DATA, *FROM_EFFECTS)]
        + [
            "card_bin IS NOT substr(json_extract(body, '$.data.card'), 1, 6)",
            "card_last4 IS NOT substr(json_extract(body, '$.data.card'), -4)",
            f"card_group IS NOT ({CARD_GROUP_SQL})",
            f"terminal_time IS NOT {_SQLITE_SIGNED_TIME}",
        ]
    )
    + ")) ELSE 0 END ORDER BY seq LIMIT 1",
    # OFFSET 0 keeps PostgreSQL from flattening the subquery, which would parse the body
    # once for every column that refers to it: once a row, not seventeen times.
    # {body} is the plain cast, or counterfoil_jsonb_or_null (NULL for a body that is not
    # JSON, left to the chain walk as on SQLite) when the plain cast has failed.
    "postgresql": "SELECT min(seq) FROM journal_entries j, LATERAL (SELECT b, b -> 'data' AS d, "  # noqa: S608
    "b -> 'effects' AS e, b ->> 'recorded_at' AS r FROM (SELECT {body} AS b OFFSET 0) p) x "
    "WHERE merchant_no = %s AND b IS NOT NULL AND (recorded_at IS DISTINCT FROM r::timestamptz "
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
    + "))",
}


def _rows(conn: Connection, merchant_no: str, chunk: int = 5_000) -> Iterator[Row]:
    """Entries in sequence order, read in chunks by key range (no long-lived cursor)."""
    sql = _ROW_SQL[conn.dialect.name]
    after = 0
    while True:
        batch = conn.exec_driver_sql(sql, (merchant_no, after, chunk)).fetchall()
        if not batch:
            return
        yield from cast("list[Row]", batch)  # SQLAlchemy rows unpack like tuples
        after = batch[-1][0]


_COLUMN_CHECKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="counterfoil-verify")


def _column_problem_on(engine: Engine, merchant_no: str) -> tuple[int, str, dict[str, Any]] | None:
    with engine.connect() as conn:
        return _column_problem(conn, merchant_no)


def _column_problem(conn: Connection, merchant_no: str) -> tuple[int, str, dict[str, Any]] | None:
    """The first entry whose copied look-up columns differ from its signed body."""
    seq = _first_differing(conn, merchant_no)
    if seq is None:
        return None
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
        return int(seq), _("entry {seq} was altered: its body is not canonical JSON"), {}
    expected = columns_from_body(body) if row["kind"] == "transaction" else {}
    expected["recorded_at"] = utc_from_iso(body["recorded_at"])
    for name, value in expected.items():
        stored = row[name]
        if name in ("terminal_time", "recorded_at") and stored is not None and value is not None:
            stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        if stored != value:
            return (
                int(seq),
                _(
                    "entry {seq} was altered: {column} is {stored} in the table but "
                    "{signed} in the signed body"
                ),
                {"column": name, "stored": repr(stored), "signed": repr(value)},
            )
    return int(seq), _("entry {seq} was altered: a look-up column differs from its body"), {}


def _first_differing(conn: Connection, merchant_no: str) -> Any:
    if conn.dialect.name == "sqlite":
        return conn.exec_driver_sql(_COLUMN_SQL["sqlite"], (merchant_no,)).scalar()
    query = _COLUMN_SQL["postgresql"]
    try:
        with conn.begin_nested():
            plain = query.replace("{body}", "j.body::jsonb")
            return conn.exec_driver_sql(plain, (merchant_no,)).scalar()
    except DataError:  # a body is not JSON: look again, casting each body on its own
        safe = query.replace("{body}", "counterfoil_jsonb_or_null(j.body)")
        return conn.exec_driver_sql(safe, (merchant_no,)).scalar()


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


def verify(
    cf: Counterfoil,
    merchant_no: str | None = None,
    *,
    full: bool = False,
    actor: Actor = audit.SYSTEM,
    progress: Callable[[str, int], None] | None = None,
) -> list[Report]:
    reports: list[Report] = []
    with cf.engine.connect() as conn:
        merchants = [get_merchant(conn, merchant_no)] if merchant_no else list_merchants(conn)
        for merchant in merchants:
            m = merchant.merchant_no
            keys = {k["key_id"]: k["public_key"] for k in public_keys(conn, m)}
            head = read_head(conn, m, lock=False)
            tick = (lambda n, m=m: progress(m, n)) if progress else None
            # The copied-column check runs inside the database (no GIL held): on the other
            # core, at the same time as the chain walk.
            columns_check = _COLUMN_CHECKS.submit(_column_problem_on, cf.engine, m)
            report = verify_chain(
                m,
                _rows(conn, m),
                load_checkpoints(conn, m),
                keys,
                head=(head.seq, head.hash) if head else (0, ""),
                full=full,
                progress=tick,
            )
            columns = columns_check.result()
            if columns is not None and (report.bad_seq is None or columns[0] < report.bad_seq):
                report.bad_seq, report.message = columns[0], columns[1]
                report.facts = {"seq": columns[0], **columns[2]}
            reports.append(report)
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
        # (a million entries since the last checkpoint: 1.5 s, was 4.8 s leaf by leaf).
        sql, after = _HASHES_SQL[conn.dialect.name], (merchant_no, tree.size, head.seq)
        rows = conn.exec_driver_sql(sql, after)
        while batch := rows.fetchmany(65_536):
            tree.extend([_sha256(b"\x00" + bytes.fromhex(h)).digest() for (h,) in batch])
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
