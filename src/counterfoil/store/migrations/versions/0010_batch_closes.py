"""batch closes: terminal batch totals and their differences

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_closes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("terminal_id", sa.String(length=8), nullable=False),
        sa.Column("batch_no", sa.String(length=6), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("journal_hash", sa.String(length=64), nullable=False),
        sa.Column("balanced", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("terminal_debit_count", sa.Integer(), nullable=False),
        sa.Column("terminal_debit_amount", sa.BigInteger(), nullable=False),
        sa.Column("terminal_credit_count", sa.Integer(), nullable=False),
        sa.Column("terminal_credit_amount", sa.BigInteger(), nullable=False),
        sa.Column("journal_debit_count", sa.Integer(), nullable=False),
        sa.Column("journal_debit_amount", sa.BigInteger(), nullable=False),
        sa.Column("journal_credit_count", sa.Integer(), nullable=False),
        sa.Column("journal_credit_amount", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "merchant_no", "terminal_id", "batch_no", "attempt", name="uq_batch_close"
        ),
        sa.UniqueConstraint(
            "merchant_no",
            "terminal_id",
            "batch_no",
            "request_hash",
            "journal_hash",
            name="uq_batch_close_report",
        ),
    )
    op.create_index(
        "ix_batch_closes_batch", "batch_closes", ["merchant_no", "terminal_id", "batch_no"]
    )
    op.create_index("ix_batch_closes_merchant_time", "batch_closes", ["merchant_no", "closed_at"])
    op.create_table(
        "batch_discrepancies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("close_id", sa.Integer(), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("terminal_id", sa.String(length=8), nullable=False),
        sa.Column("batch_no", sa.String(length=6), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("card_group", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("terminal_count", sa.Integer(), nullable=False),
        sa.Column("terminal_amount", sa.BigInteger(), nullable=False),
        sa.Column("journal_count", sa.Integer(), nullable=False),
        sa.Column("journal_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("explained", sa.Boolean(), nullable=False),
        sa.Column("explanations", sa.Text(), nullable=False),
        sa.Column("seqs", sa.Text(), nullable=False),
        sa.Column("traces", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batch_discrepancies_close_id", "batch_discrepancies", ["close_id"])
    op.create_index(
        "ix_batch_discrepancies_batch",
        "batch_discrepancies",
        ["merchant_no", "terminal_id", "batch_no"],
    )
    append_only(("batch_closes", "batch_discrepancies"))


def downgrade() -> None:
    op.drop_index("ix_batch_discrepancies_batch", table_name="batch_discrepancies")
    op.drop_index("ix_batch_discrepancies_close_id", table_name="batch_discrepancies")
    op.drop_table("batch_discrepancies")
    op.drop_index("ix_batch_closes_merchant_time", table_name="batch_closes")
    op.drop_index("ix_batch_closes_batch", table_name="batch_closes")
    op.drop_table("batch_closes")
