"""cases: case workflow, evidence, adjustments, notifications

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("assignee", sa.String(length=80), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("origin_ref", sa.String(length=200), nullable=True),
        sa.Column("terminal_id", sa.String(length=8), nullable=True),
        sa.Column("difference", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("acquirer_ref", sa.String(length=64), nullable=True),
        sa.Column("root_cause", sa.String(length=30), nullable=True),
        sa.Column("lesson", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.String(length=80), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("opened_day", sa.Date(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column("closed_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merchant_no", "origin_ref", name="uq_cases_origin"),
    )
    op.create_index("ix_cases_merchant_state", "cases", ["merchant_no", "state"])
    op.create_index("ix_cases_due", "cases", ["state", "due_on"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "case_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=80), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_evidence_case_id", "case_evidence", ["case_id"])
    op.create_table(
        "case_adjustments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proposed_by", sa.String(length=80), nullable=False),
        sa.Column("proposed_at", TZ, nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", TZ, nullable=True),
        sa.Column("entry_seq", sa.BigInteger(), nullable=True),
        sa.Column("business_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_adjustments_case_id", "case_adjustments", ["case_id"])
    op.create_index("ix_case_adjustments_day", "case_adjustments", ["merchant_no", "business_day"])
    op.create_table(
        "case_deadlines",
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=80), nullable=False),
        sa.Column("set_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("merchant_no", "kind"),
    )
    append_only(("case_events", "case_evidence"))


def downgrade() -> None:
    op.drop_table("case_deadlines")
    op.drop_index("ix_case_adjustments_day", table_name="case_adjustments")
    op.drop_index("ix_case_adjustments_case_id", table_name="case_adjustments")
    op.drop_table("case_adjustments")
    op.drop_index("ix_case_evidence_case_id", table_name="case_evidence")
    op.drop_table("case_evidence")
    op.drop_index("ix_case_events_case_id", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_due", table_name="cases")
    op.drop_index("ix_cases_merchant_state", table_name="cases")
    op.drop_table("cases")
