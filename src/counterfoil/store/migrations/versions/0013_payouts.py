"""payouts: second-level reconciliation of expected net settlement against bank credits

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payout_runs_merchant", "payout_runs", ["merchant_no", "id"])
    op.create_table(
        "payout_outcomes",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("group_no", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("pass", sa.String(length=12), nullable=False),
        sa.Column("settle_date", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_amount", sa.BigInteger(), nullable=True),
        sa.Column("basis", sa.String(length=12), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("booked", sa.Date(), nullable=True),
        sa.Column("credited_amount", sa.BigInteger(), nullable=True),
        sa.Column("break_id", sa.String(length=40), nullable=True),
    )
    op.create_index("ix_payout_outcomes_run", "payout_outcomes", ["run_id", "group_no"])
    op.create_table(
        "payout_breaks",
        sa.Column("break_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("settle_date", sa.Date(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("amount_expected", sa.BigInteger(), nullable=True),
        sa.Column("amount_credited", sa.BigInteger(), nullable=True),
        sa.Column("first_run_id", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=False),
        sa.Column("resolved_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("break_id"),
    )
    op.create_index("ix_payout_breaks_merchant", "payout_breaks", ["merchant_no", "status"])
    op.create_index("ix_payout_breaks_day", "payout_breaks", ["merchant_no", "day"])
    append_only(("payout_outcomes",))


def downgrade() -> None:
    op.drop_index("ix_payout_breaks_day", table_name="payout_breaks")
    op.drop_index("ix_payout_breaks_merchant", table_name="payout_breaks")
    op.drop_table("payout_breaks")
    op.drop_index("ix_payout_outcomes_run", table_name="payout_outcomes")
    op.drop_table("payout_outcomes")
    op.drop_index("ix_payout_runs_merchant", table_name="payout_runs")
    op.drop_table("payout_runs")
