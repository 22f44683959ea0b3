"""The tables of cases (in the one ``metadata`` of ``store.schema``).

A case holds its current state in one row of ``cases`` (state, assignee, priority, due
day, acquirer's reference, root cause): the one row that is updated. Everything that
happened to it is a row of ``case_events`` (append-only): every transition, note,
assignment, piece of evidence, application, notification and adjustment step. Evidence
is ``case_evidence`` (append-only; files kept under the data directory by SHA-256).
An adjustment proposal is a row of ``case_adjustments`` whose status moves once, from
proposed to approved (with the journal entry written then) or rejected.
``case_deadlines`` holds the days allowed per kind and merchant, where set.
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
    UniqueConstraint,
)

from counterfoil.store.schema import metadata

#: The case tables no code path may UPDATE or DELETE (migration 0012's triggers).
CASES_APPEND_ONLY = ("case_events", "case_evidence")

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("state", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),  # card numbers masked
    Column("priority", String(10), nullable=False),  # low | normal | high | urgent
    Column("assignee", String(80)),
    Column("due_on", Date, nullable=False),  # a business day of the merchant
    # manual | reconciliation | batch_close | preauth; what opened it, once (unique)
    Column("origin", String(20), nullable=False),
    Column("origin_ref", String(200)),
    Column("terminal_id", String(8)),
    Column("difference", BigInteger),  # fen: what the case is about; bounds adjustments
    Column("currency", String(3), nullable=False),
    Column("acquirer_ref", String(64)),
    Column("root_cause", String(30)),
    Column("lesson", Text),
    Column("opened_by", String(80), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("opened_day", Date, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    UniqueConstraint("merchant_no", "origin_ref", name="uq_cases_origin"),
)
Index("ix_cases_merchant_state", cases.c.merchant_no, cases.c.state)
Index("ix_cases_due", cases.c.state, cases.c.due_on)

case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False, index=True),
    Column("merchant_no", String(15), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("from_state", String(20)),
    Column("to_state", String(20)),
    Column("note", Text, nullable=False),  # card numbers masked
    Column("details", Text, nullable=False),  # JSON
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

case_evidence = Table(
    "case_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False, index=True),
    Column("merchant_no", String(15), nullable=False),
    # file | slip | statement_line | journal_entry
    Column("kind", String(20), nullable=False),
    Column("ref", String(100), nullable=False),  # SHA-256, entry id or "import:line"
    Column("filename", String(200)),
    Column("content_type", String(100)),
    Column("size", BigInteger),
    Column("note", Text, nullable=False),
    Column("added_by", String(80), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

case_adjustments = Table(
    "case_adjustments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, nullable=False, index=True),
    Column("merchant_no", String(15), nullable=False),
    Column("kind", String(20), nullable=False),  # refund | supplement | write_off
    Column("amount", BigInteger, nullable=False),  # fen, positive
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(10), nullable=False),  # proposed | approved | rejected
    Column("proposed_by", String(80), nullable=False),
    Column("proposed_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(80)),
    Column("decided_at", DateTime(timezone=True)),
    Column("entry_seq", BigInteger),  # the journal entry written at approval
    Column("business_day", Date),  # the approval's business day (settlement lists)
)
Index("ix_case_adjustments_day", case_adjustments.c.merchant_no, case_adjustments.c.business_day)

case_deadlines = Table(
    "case_deadlines",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("kind", String(30), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("set_by", String(80), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
)
