"""statement lines: raw text in compressed blocks; overlaps looked up by a key hash

A statement line's raw text and its other fields were two text columns of every row:
two thirds of its bytes, which nothing queries. They move to ``statement_raw``, one
zlib-compressed JSON block per run of consecutive lines. Overlapping files are looked
up by an 8-byte hash of the natural key (the text stays, compared on a hit) instead of
an index of the texts. The indexes on RRN and order number go: no query used them (the
reconciliation engines read an import or a merchant's time window).

Rows already stored are copied into the new layout, block by block; the downgrade
copies them back.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 14:10:00
"""

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from counterfoil.store.statement_blocks import key_hash, pack, unpack
from counterfoil.store.triggers import append_only

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BLOCK = 2_000
KEPT = (
    "import_id", "line_no", "source", "occurred_at", "amount", "currency", "txn_type",
    "status", "rrn", "trace_no", "terminal_id", "merchant_no", "order_no", "platform_id",
    "refund_id", "fee", "net", "card_masked", "card_last4", "counterparty", "description",
    "natural_key",
)  # fmt: skip


def upgrade() -> None:
    for name in (
        "ix_statement_natural_key",
        "ix_statement_merchant_time",
        "ix_statement_rrn",
        "ix_statement_order",
    ):
        op.drop_index(name, table_name="statement_lines")
    op.rename_table("statement_lines", "statement_lines_0015")
    op.create_table(
        "statement_lines",
        *_common_columns(),
        sa.Column("key_hash", sa.BigInteger(), nullable=False),
        sa.Column("duplicate_of", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("import_id", "line_no"),
    )
    raw = op.create_table(
        "statement_raw",
        sa.Column("import_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("lines", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "first_line"),
    )
    _copy(raw)
    op.drop_table("statement_lines_0015")
    op.create_index("ix_statement_key_hash", "statement_lines", ["key_hash"])
    op.create_index("ix_statement_merchant_time", "statement_lines", ["merchant_no", "occurred_at"])
    append_only(("statement_lines", "statement_raw"))


def _common_columns() -> list[sa.Column[Any]]:
    """The columns of ``statement_lines`` before and after 0016, the key columns aside."""
    return [
        sa.Column("import_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("txn_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rrn", sa.String(length=64), nullable=True),
        sa.Column("trace_no", sa.String(length=64), nullable=True),
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("merchant_no", sa.String(length=64), nullable=True),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("platform_id", sa.String(length=64), nullable=True),
        sa.Column("refund_id", sa.String(length=64), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("net", sa.BigInteger(), nullable=True),
        sa.Column("card_masked", sa.String(length=32), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("counterparty", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("natural_key", sa.String(length=400), nullable=False),
    ]


def _copy(raw: sa.Table) -> None:
    """The stored lines into the new tables, a block at a time, in (import, line) order."""
    bind = op.get_bind()
    columns = ", ".join(KEPT)
    read = sa.text(
        f"SELECT {columns}, duplicate_of, raw, extra FROM statement_lines_0015 "  # noqa: S608
        "WHERE import_id > :i OR (import_id = :i AND line_no > :n) "
        "ORDER BY import_id, line_no LIMIT :size"
    )
    write = sa.text(
        f"INSERT INTO statement_lines ({columns}, key_hash, duplicate_of) "  # noqa: S608
        f"VALUES ({', '.join(':' + c for c in KEPT)}, :key_hash, :duplicate_of)"
    )
    after = (0, 0)
    while True:
        rows = bind.execute(read, {"i": after[0], "n": after[1], "size": BLOCK}).mappings().all()
        if not rows:
            return
        values = [
            {
                **{c: r[c] for c in KEPT},
                "key_hash": key_hash(r["natural_key"]),
                "duplicate_of": r["duplicate_of"],
            }
            for r in rows
        ]
        bind.execute(write, values)
        for import_id in sorted({r["import_id"] for r in rows}):
            mine = [r for r in rows if r["import_id"] == import_id]
            block = pack((r["line_no"], r["raw"], orjson.loads(r["extra"])) for r in mine)
            bind.execute(
                raw.insert(),
                {
                    "import_id": import_id,
                    "first_line": mine[0]["line_no"],
                    "last_line": mine[-1]["line_no"],
                    "lines": block,
                },
            )
        after = (rows[-1]["import_id"], rows[-1]["line_no"])


def downgrade() -> None:
    """Back to one row a line with its raw text and ``extra`` (a line without a block,
    as the reconciliation benchmark's generated lines, gets empty ones)."""
    op.drop_index("ix_statement_key_hash", table_name="statement_lines")
    op.drop_index("ix_statement_merchant_time", table_name="statement_lines")
    op.rename_table("statement_lines", "statement_lines_0016")
    op.create_table(
        "statement_lines",
        *_common_columns(),
        sa.Column("duplicate_of", sa.String(length=40), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "line_no"),
    )
    bind = op.get_bind()
    columns = ", ".join(KEPT)
    read = sa.text(
        f"SELECT {columns}, duplicate_of FROM statement_lines_0016 "  # noqa: S608
        "WHERE import_id > :i OR (import_id = :i AND line_no > :n) "
        "ORDER BY import_id, line_no LIMIT :size"
    )
    blocks = sa.text(
        "SELECT lines FROM statement_raw WHERE import_id = :i "
        "AND last_line >= :first AND first_line <= :last"
    )
    write = sa.text(
        f"INSERT INTO statement_lines ({columns}, duplicate_of, raw, extra) "  # noqa: S608
        f"VALUES ({', '.join(':' + c for c in KEPT)}, :duplicate_of, :raw, :extra)"
    )
    after = (0, 0)
    while rows := bind.execute(read, {"i": after[0], "n": after[1], "size": BLOCK}).all():
        kept: dict[tuple[int, int], tuple[str, str]] = {}
        for import_id in {r.import_id for r in rows}:
            numbers = [r.line_no for r in rows if r.import_id == import_id]
            found = {"i": import_id, "first": min(numbers), "last": max(numbers)}
            for (data,) in bind.execute(blocks, found):
                for line_no, text, extra in unpack(data):
                    kept[(import_id, line_no)] = (text, orjson.dumps(extra).decode())
        bind.execute(
            write,
            [
                {**r._asdict(), "raw": raw, "extra": extra}
                for r in rows
                for raw, extra in [kept.get((r.import_id, r.line_no), ("", "{}"))]
            ],
        )
        after = (rows[-1].import_id, rows[-1].line_no)
    op.drop_table("statement_lines_0016")
    op.drop_table("statement_raw")
    op.create_index("ix_statement_merchant_time", "statement_lines", ["merchant_no", "occurred_at"])
    op.create_index("ix_statement_natural_key", "statement_lines", ["natural_key"])
    op.create_index("ix_statement_order", "statement_lines", ["order_no"])
    op.create_index("ix_statement_rrn", "statement_lines", ["rrn"])
    append_only(("statement_lines",))
