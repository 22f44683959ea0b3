"""The tables of settlement days (in the one ``metadata`` of ``store.schema``).

``settlement_settings`` is a merchant's cut-off, zone, settlement cycle and holiday
calendar (one row, updated; every change is audited). ``settlement_holidays`` are the
days of a named calendar that are not business days (holidays) or that are although
they fall on a weekend (调休 make-up working days). ``day_closes`` records each closed
business day and the journal's head at the moment (``through_seq``): the day's list is
what the journal held then, so it never changes afterwards; ``day_totals`` keeps that
list's totals, written once at the close. ``settlement_issues`` is every copy of a
list Counterfoil produced: the first of a day is the original, each later one a reprint
with its number. Those three are append-only.
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

from counterfoil.store.schema import journal_entries, metadata

#: The settlement tables no code path may UPDATE or DELETE (migration 0009's triggers).
SETTLEMENT_APPEND_ONLY = ("day_closes", "day_totals", "settlement_issues")

settlement_settings = Table(
    "settlement_settings",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("cutoff", String(5), nullable=False),  # HH:MM in the zone below
    Column("timezone", String(64), nullable=False),
    Column("cycle", String(12), nullable=False),  # d0 | t1_calendar | t1_business
    Column("calendar", String(32), nullable=False),  # the holiday calendar's name
    Column("updated_by", String(80), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

settlement_holidays = Table(
    "settlement_holidays",
    metadata,
    Column("calendar", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("kind", String(8), nullable=False),  # holiday | workday
    Column("name", String(80), nullable=False),
)

day_closes = Table(
    "day_closes",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("through_seq", BigInteger, nullable=False),  # the journal's head when closed
    Column("cutoff", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("settles_on", Date, nullable=False),  # the expected settlement date
    Column("reason", String(20), nullable=False),  # closed | first_issue
    Column("facts", Text, nullable=False),  # JSON: merchant name, fee schedule in force
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
)
Index("ix_day_closes_seq", day_closes.c.merchant_no, day_closes.c.through_seq)

#: The closed day's totals, one row per terminal × kind × type × channel × card group.
day_totals = Table(
    "day_totals",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("terminal_id", String(8), primary_key=True),  # "" when none
    Column("kind", String(20), primary_key=True),
    Column("type", String(20), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("card_group", String(10), primary_key=True),  # domestic | foreign | unknown | qr
    Column("currency", String(3), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),  # as the terminals sent it (unsigned)
    Column("volume", BigInteger, nullable=False),  # signed: fee + net
    Column("fee", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
)

settlement_issues = Table(
    "settlement_issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("day", Date, nullable=False),
    Column("terminal_id", String(8), nullable=False),  # "" for the whole merchant
    Column("issue_no", Integer, nullable=False),  # 0: the original; 1, 2 …: reprints
    Column("format", String(10), nullable=False),
    Column("locale", String(10), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the document as issued
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("merchant_no", "day", "terminal_id", "issue_no", name="uq_settlement_issue"),
)

#: A business day is summed per (terminal, channel, type) by a seek into this index and a
#: sequential read of its range, every column needed being in the index itself
#: (settlement/totals.py: SQLite has no hash aggregate, and sorting a million rows for a
#: GROUP BY takes seconds).
Index(
    "ix_journal_settlement",
    journal_entries.c.merchant_no,
    journal_entries.c.terminal_id,
    journal_entries.c.channel,
    journal_entries.c.type,
    journal_entries.c.card_group,
    journal_entries.c.kind,
    journal_entries.c.currency,
    journal_entries.c.terminal_time,
    journal_entries.c.seq,
    journal_entries.c.amount,
    journal_entries.c.fee,
    journal_entries.c.net,
)
