"""document prints: every reprint of a slip, append-only

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_prints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("copy", sa.String(length=12), nullable=False),
        sa.Column("print_no", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merchant_no", "seq", "copy", "print_no", name="uq_document_print"),
    )
    op.create_index("ix_document_prints_entry", "document_prints", ["merchant_no", "seq"])
    op.create_index("ix_document_prints_actor", "document_prints", ["merchant_no", "actor"])
    append_only(("document_prints",))


def downgrade() -> None:
    op.drop_index("ix_document_prints_actor", table_name="document_prints")
    op.drop_index("ix_document_prints_entry", table_name="document_prints")
    op.drop_table("document_prints")
