"""journal: the indexes of columns that most entries leave empty hold only the filled ones

A card sale has no order number, names no original and (its card arriving masked) has
no card HMAC, yet each of the three indexes on those columns took an entry for every
row: three B-tree insertions of a NULL per transaction recorded, about a fifth of the
cost of writing a journal row on SQLite. Each index now holds the rows whose column is
filled (``WHERE … IS NOT NULL``). Every query of these columns asks for a value
(``order_no = ?``, ``original_seq = ?``), which implies the column is not NULL, so both
SQLite and PostgreSQL still use the index for it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: index name → its columns; the last column is the one that is often empty
PARTIAL = {
    "ix_journal_order": ("merchant_no", "order_no"),
    "ix_journal_original": ("merchant_no", "original_seq"),
    "ix_journal_card_hmac": ("card_hmac",),
}


def upgrade() -> None:
    for name, columns in PARTIAL.items():
        op.drop_index(name, table_name="journal_entries")
        op.create_index(
            name,
            "journal_entries",
            list(columns),
            sqlite_where=sa.text(f"{columns[-1]} IS NOT NULL"),
            postgresql_where=sa.text(f"{columns[-1]} IS NOT NULL"),
        )


def downgrade() -> None:
    for name, columns in PARTIAL.items():
        op.drop_index(name, table_name="journal_entries")
        op.create_index(name, "journal_entries", list(columns))
