"""The tables of lost-document incidents (in the one ``metadata`` of ``store.schema``).

An incident is a record that changes (its status) over a history that never does: each
step — recorded, what was done, closed, reopened — is a row of ``incident_events``, and
each transaction named is a row of ``incident_entries``; both are append-only.
``incidents`` holds the current state, the one row that is updated.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, Index, Integer, String, Table, Text

from counterfoil.store.schema import metadata

#: The incident tables no code path may UPDATE or DELETE (migration 0007's triggers).
INCIDENT_APPEND_ONLY = ("incident_entries", "incident_events")

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    # merchant_stub | customer_receipt | settlement_list | payment_slip
    Column("kind", String(20), nullable=False),
    Column("found_at", DateTime(timezone=True), nullable=False),  # found missing (UTC)
    Column("found_day", Date, nullable=False),  # that moment's business day, merchant's zone
    Column("place", String(200), nullable=False),
    Column("people", Text, nullable=False),  # who was involved: free text, card numbers masked
    Column("status", String(10), nullable=False),  # open | closed
    Column("closing_note", Text),
    Column("reported_by", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
)
Index("ix_incidents_merchant_day", incidents.c.merchant_no, incidents.c.found_day)
Index("ix_incidents_merchant_status", incidents.c.merchant_no, incidents.c.status)

#: The transactions an incident names (journal entries of its merchant).
incident_entries = Table(
    "incident_entries",
    metadata,
    Column("incident_id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("merchant_no", String(15), nullable=False),
    Column("added_by", String(80), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)
Index("ix_incident_entries_entry", incident_entries.c.merchant_no, incident_entries.c.seq)

#: Everything that happened to an incident, in order: what was done accrues here.
incident_events = Table(
    "incident_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, nullable=False, index=True),
    Column("merchant_no", String(15), nullable=False),
    Column("kind", String(12), nullable=False),  # recorded | action | closed | reopened
    Column("note", Text, nullable=False),  # card numbers masked
    Column("details", Text, nullable=False),  # JSON: entries added, fields recorded
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
