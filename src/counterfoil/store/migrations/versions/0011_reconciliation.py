"""reconciliation: runs, outcomes, breaks, manual matches

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recon_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recon_runs_merchant_scope", "recon_runs", ["merchant_no", "scope"])
    op.create_table(
        "recon_outcomes",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("pass", sa.String(length=12), nullable=False),
        sa.Column("break_id", sa.String(length=40), nullable=True),
    )
    op.create_index("ix_recon_outcomes_run", "recon_outcomes", ["run_id", "outcome"])
    op.create_table(
        "recon_breaks",
        sa.Column("break_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("amount_journal", sa.BigInteger(), nullable=True),
        sa.Column("amount_statement", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_run_id", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=False),
        sa.Column("resolved_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("break_id"),
    )
    op.create_index("ix_recon_breaks_merchant_status", "recon_breaks", ["merchant_no", "status"])
    op.create_index("ix_recon_breaks_scope", "recon_breaks", ["scope", "status"])
    op.create_table(
        "recon_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recon_decisions_merchant", "recon_decisions", ["merchant_no", "seq"])
    op.create_table(
        "recon_adoptions",
        sa.Column("import_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "line_no"),
    )
    op.create_table(
        "recon_tolerances",
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("time_window", sa.Integer(), nullable=False),
        sa.Column("settlement_window", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_no", "source"),
    )
    append_only(("recon_outcomes", "recon_decisions", "recon_adoptions"))


def downgrade() -> None:
    op.drop_table("recon_tolerances")
    op.drop_table("recon_adoptions")
    op.drop_index("ix_recon_decisions_merchant", table_name="recon_decisions")
    op.drop_table("recon_decisions")
    op.drop_index("ix_recon_breaks_scope", table_name="recon_breaks")
    op.drop_index("ix_recon_breaks_merchant_status", table_name="recon_breaks")
    op.drop_table("recon_breaks")
    op.drop_index("ix_recon_outcomes_run", table_name="recon_outcomes")
    op.drop_table("recon_outcomes")
    op.drop_index("ix_recon_runs_merchant_scope", table_name="recon_runs")
    op.drop_table("recon_runs")
