"""certificates: proofs of payment issued, append-only

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
        sa.UniqueConstraint("merchant_no", "number", name="uq_certificate_number"),
    )
    op.create_index("ix_certificates_entry", "certificates", ["merchant_no", "seq"])
    append_only(("certificates",))


def downgrade() -> None:
    op.drop_index("ix_certificates_entry", table_name="certificates")
    op.drop_table("certificates")
