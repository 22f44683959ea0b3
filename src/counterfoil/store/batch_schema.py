"""The tables of batch closes (批结算), in the one ``metadata`` of ``store.schema``.

A terminal closes its batch by reporting its totals; each report is a row of
``batch_closes`` (append-only: a second, different report for the same batch is a new
attempt, never an overwrite), and each difference Counterfoil found between the
terminal's totals and the journal is a row of ``batch_discrepancies`` (append-only too),
holding everything a case needs.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from counterfoil.store.schema import metadata

#: The batch tables no code path may UPDATE or DELETE (migration 0010's triggers).
BATCH_APPEND_ONLY = ("batch_closes", "batch_discrepancies")

#: One row per close a terminal (or a supervisor for it) reported.
batch_closes = Table(
    "batch_closes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("terminal_id", String(8), nullable=False),
    Column("batch_no", String(6), nullable=False),
    Column("attempt", Integer, nullable=False),  # 1, 2, … per (merchant, terminal, batch)
    Column("closed_at", DateTime(timezone=True), nullable=False),  # when reported (UTC)
    Column("request_hash", String(64), nullable=False),  # SHA-256 of the canonical report
    # SHA-256 of what the journal held for the batch when compared: the same report over
    # the same journal is the same close (idempotent), over a changed journal a new attempt
    Column("journal_hash", String(64), nullable=False),
    Column("balanced", Boolean, nullable=False),  # 对账平 (True) or 不平 (False)
    Column("currency", String(3), nullable=False),
    # The terminal's totals (debit: sales and completions; credit: refunds), all cards:
    Column("terminal_debit_count", Integer, nullable=False),
    Column("terminal_debit_amount", BigInteger, nullable=False),
    Column("terminal_credit_count", Integer, nullable=False),
    Column("terminal_credit_amount", BigInteger, nullable=False),
    # What the journal holds for the same batch:
    Column("journal_debit_count", Integer, nullable=False),
    Column("journal_debit_amount", BigInteger, nullable=False),
    Column("journal_credit_count", Integer, nullable=False),
    Column("journal_credit_amount", BigInteger, nullable=False),
    Column("report", Text, nullable=False),  # JSON: what the terminal sent (totals, traces)
    Column("result", Text, nullable=False),  # JSON: the comparison, as answered
    Column("last_seq", BigInteger, nullable=False),  # the journal's head when compared
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    UniqueConstraint("merchant_no", "terminal_id", "batch_no", "attempt", name="uq_batch_close"),
    UniqueConstraint(
        "merchant_no",
        "terminal_id",
        "batch_no",
        "request_hash",
        "journal_hash",
        name="uq_batch_close_report",
    ),
)
Index(
    "ix_batch_closes_batch",
    batch_closes.c.merchant_no,
    batch_closes.c.terminal_id,
    batch_closes.c.batch_no,
)
Index("ix_batch_closes_merchant_time", batch_closes.c.merchant_no, batch_closes.c.closed_at)

#: One row per difference of a close that did not balance: what differs, both sides'
#: counts and amounts, and the transactions that explain it.
batch_discrepancies = Table(
    "batch_discrepancies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("close_id", Integer, nullable=False, index=True),
    Column("merchant_no", String(15), nullable=False),
    Column("terminal_id", String(8), nullable=False),
    Column("batch_no", String(6), nullable=False),
    # debit | credit, with the card group (all | domestic | foreign)
    Column("side", String(10), nullable=False),
    Column("card_group", String(10), nullable=False),
    Column("kind", String(30), nullable=False),  # count_differs | amount_differs | both_differ
    Column("terminal_count", Integer, nullable=False),
    Column("terminal_amount", BigInteger, nullable=False),
    Column("journal_count", Integer, nullable=False),
    Column("journal_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("explained", Boolean, nullable=False),  # the explanations add up to the difference
    # JSON list: {reason, seq, trace_no, type, amount, terminal_amount} for each transaction
    # that explains it (missing_on_terminal | missing_in_journal | amount_differs)
    Column("explanations", Text, nullable=False),
    Column("seqs", Text, nullable=False),  # the journal entries named, space-separated
    Column("traces", Text, nullable=False),  # the trace numbers named, space-separated
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_batch_discrepancies_batch",
    batch_discrepancies.c.merchant_no,
    batch_discrepancies.c.terminal_id,
    batch_discrepancies.c.batch_no,
)
