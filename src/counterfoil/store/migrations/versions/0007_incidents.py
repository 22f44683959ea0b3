"""lost-document incidents: the incident, its transactions and its history (append-only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("found_day", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("people", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("closing_note", sa.Text(), nullable=True),
        sa.Column("reported_by", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_merchant_day", "incidents", ["merchant_no", "found_day"])
    op.create_index("ix_incidents_merchant_status", "incidents", ["merchant_no", "status"])
    op.create_table(
        "incident_entries",
        sa.Column("incident_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("added_by", sa.String(length=80), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "seq"),
    )
    op.create_index("ix_incident_entries_entry", "incident_entries", ["merchant_no", "seq"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
    append_only(("incident_entries", "incident_events"))


def downgrade() -> None:
    op.drop_index("ix_incident_events_incident_id", table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_incident_entries_entry", table_name="incident_entries")
    op.drop_table("incident_entries")
    op.drop_index("ix_incidents_merchant_status", table_name="incidents")
    op.drop_index("ix_incidents_merchant_day", table_name="incidents")
    op.drop_table("incidents")
