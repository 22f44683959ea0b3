"""The tables of reconciliation (in the one ``metadata`` of ``store.schema``).

A run is one reconciliation of a merchant's day (or of one import); its outcomes never
change. A break's record is a row of ``recon_outcomes`` with its break id; the records
that are not breaks (matched, pending: nearly all of a day) are kept as sets of a few
thousand members, one row each in ``recon_outcome_sets`` (a million rows written one
by one took SQLite 4.4 s). Both are append-only; ``reconcile.outcomes.run_outcomes``
reads a run's outcomes back as rows. A break is a non-match that lives across runs under
a stable id: ``recon_breaks`` holds its current state (new, persisting, resolved) and is
the one table here that is updated. People's decisions — a manual match or unmatch with
its reason — are append-only (``recon_decisions``), as are the adoptions of statement
lines as recovered journal entries (``recon_adoptions``). ``recon_tolerances`` holds the
matching tolerances per merchant and source.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from counterfoil.store.schema import metadata

#: The reconciliation tables no code path may UPDATE or DELETE (migration 0011's triggers).
RECONCILE_APPEND_ONLY = (
    "recon_outcomes",
    "recon_outcome_sets",
    "recon_decisions",
    "recon_adoptions",
)

recon_runs = Table(
    "recon_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("scope", String(80), nullable=False),  # day:2026-11-20[:source] | import:5
    Column("business_day", Date),
    Column("source", String(30)),
    Column("import_id", Integer),
    Column("engine", String(20), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("summary", Text, nullable=False),  # JSON: counts and amounts per outcome, per side
    Column("actor", String(80), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)
Index("ix_recon_runs_merchant_scope", recon_runs.c.merchant_no, recon_runs.c.scope)

#: What became of each break's record in a run: a pair (seq and line), or one side alone.
recon_outcomes = Table(
    "recon_outcomes",
    metadata,
    Column("run_id", Integer, nullable=False),
    Column("seq", BigInteger),  # the journal entry, if any
    Column("import_id", Integer),  # the statement line, if any
    Column("line_no", Integer),
    Column("outcome", String(24), nullable=False),
    Column("pass", String(12), nullable=False),  # exact | composite | tolerant | split | manual
    Column("break_id", String(40)),
)
Index("ix_recon_outcomes_run", recon_outcomes.c.run_id, recon_outcomes.c.outcome)

#: The records of a run that are not breaks, grouped by outcome and pass, in parts of at
#: most ``reconcile.model.SET_SIZE``: ``members`` is a JSON array of ``[seq, import_id,
#: line_no]`` (null for a side that has none), ordered by seq, then line. SQL reads it with
#: ``json_each`` (SQLite) or ``jsonb_array_elements`` (PostgreSQL).
recon_outcome_sets = Table(
    "recon_outcome_sets",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=False),
    Column("outcome", String(24), primary_key=True),
    Column("pass", String(12), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("records", Integer, nullable=False),
    Column("members", Text, nullable=False),
)

recon_breaks = Table(
    "recon_breaks",
    metadata,
    Column("break_id", String(40), primary_key=True),
    Column("merchant_no", String(15), nullable=False),
    Column("scope", String(80), nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("status", String(12), nullable=False),  # new | persisting | resolved
    Column("explanation", Text, nullable=False),  # English; message + params render it
    Column("message", Text, nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("fields", Text, nullable=False),  # JSON: {field: [journal, statement]}
    Column("seq", BigInteger),
    Column("import_id", Integer),
    Column("line_no", Integer),
    Column("amount_journal", BigInteger),
    Column("amount_statement", BigInteger),
    Column("occurred_at", DateTime(timezone=True)),
    Column("first_run_id", Integer, nullable=False),
    Column("last_run_id", Integer, nullable=False),
    Column("resolved_run_id", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_recon_breaks_merchant_status", recon_breaks.c.merchant_no, recon_breaks.c.status)
Index("ix_recon_breaks_scope", recon_breaks.c.scope, recon_breaks.c.status)

#: People's decisions: match an entry and a line, or undo a match; the latest one counts.
recon_decisions = Table(
    "recon_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("action", String(10), nullable=False),  # match | unmatch
    Column("seq", BigInteger, nullable=False),
    Column("import_id", Integer, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_recon_decisions_merchant", recon_decisions.c.merchant_no, recon_decisions.c.seq)

#: Statement lines adopted as journal entries of kind "recovered" (each line once).
recon_adoptions = Table(
    "recon_adoptions",
    metadata,
    Column("import_id", Integer, primary_key=True, autoincrement=False),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("merchant_no", String(15), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

recon_tolerances = Table(
    "recon_tolerances",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("source", String(30), primary_key=True),
    Column("amount", BigInteger, nullable=False),  # fen
    Column("time_window", Integer, nullable=False),  # seconds, tolerant pass
    Column("settlement_window", Integer, nullable=False),  # seconds before the day's end
    Column("updated_by", String(80), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
