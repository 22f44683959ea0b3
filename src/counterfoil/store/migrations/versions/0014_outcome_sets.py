"""reconciliation: the records that are not breaks kept as sets, one row per few thousand

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recon_outcome_sets",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("pass", sa.String(length=12), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "outcome", "pass", "part"),
    )
    append_only(("recon_outcome_sets",))


def downgrade() -> None:
    op.drop_table("recon_outcome_sets")
