"""The tables of payout reconciliation (in the one ``metadata`` of ``store.schema``).

A payout run reconciles a merchant's expected payouts (net settlement per settlement
date) against its bank credits over a range of dates. Its outcomes — one row per payout
or credit, with the group it belongs to — never change (``payout_outcomes``,
append-only). A payout break lives across runs under a stable id in ``payout_breaks``
(new, persisting, resolved), the one table here that is updated, like ``recon_breaks``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Index, Integer, String, Table, Text

from counterfoil.store.schema import metadata

#: The payout tables no code path may UPDATE or DELETE (migration 0013's triggers).
PAYOUTS_APPEND_ONLY = ("payout_outcomes",)

payout_runs = Table(
    "payout_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("date_from", Date, nullable=False),
    Column("date_to", Date, nullable=False),
    Column("as_of", Date, nullable=False),  # the date the bank statements reach
    Column("expected", Integer, nullable=False),
    Column("credits", Integer, nullable=False),
    Column("summary", Text, nullable=False),  # JSON: counts and amounts per outcome, per side
    Column("actor", String(80), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)
Index("ix_payout_runs_merchant", payout_runs.c.merchant_no, payout_runs.c.id)

#: What became of every expected payout and every credit of a run, by group.
payout_outcomes = Table(
    "payout_outcomes",
    metadata,
    Column("run_id", Integer, nullable=False),
    Column("group_no", Integer, nullable=False),
    Column("outcome", String(24), nullable=False),
    Column(
        "pass", String(12), nullable=False
    ),  # exact | combined | split | duplicate | mismatch | none
    Column("settle_date", Date),  # an expected payout: its settlement date …
    Column("currency", String(3), nullable=False),
    Column("expected_amount", BigInteger),  # … and amount
    Column("basis", String(12)),  # journal | statement
    Column("import_id", Integer),  # a credit: its statement line …
    Column("line_no", Integer),
    Column("booked", Date),
    Column("credited_amount", BigInteger),  # … and amount
    Column("break_id", String(40)),
)
Index("ix_payout_outcomes_run", payout_outcomes.c.run_id, payout_outcomes.c.group_no)

payout_breaks = Table(
    "payout_breaks",
    metadata,
    Column("break_id", String(40), primary_key=True),
    Column("merchant_no", String(15), nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("status", String(12), nullable=False),  # new | persisting | resolved
    Column("day", Date, nullable=False),  # the settlement date, else the credit's date
    Column("explanation", Text, nullable=False),  # English; message + params render it
    Column("message", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("currency", String(3), nullable=False),
    Column("settle_date", Date),
    Column("import_id", Integer),
    Column("line_no", Integer),
    Column("amount_expected", BigInteger),
    Column("amount_credited", BigInteger),
    Column("first_run_id", Integer, nullable=False),
    Column("last_run_id", Integer, nullable=False),
    Column("resolved_run_id", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_payout_breaks_merchant", payout_breaks.c.merchant_no, payout_breaks.c.status)
Index("ix_payout_breaks_day", payout_breaks.c.merchant_no, payout_breaks.c.day)
