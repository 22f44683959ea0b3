"""statement lines: the natural keys' hashes in a table of their own, not an index

Overlapping files are looked up by an 8-byte hash of the natural key (0016). An index
on ``statement_lines.key_hash`` received a file's keys in file order, each at a random
place in the index: a third of the time of storing a million lines, and more as the
store grew. ``statement_keys`` holds (key_hash, import_id, line_no) clustered by the
hash; a large import adds a part's keys as one sorted run. The keys of the lines
already stored are copied in; the downgrade makes the index again.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statement_keys",
        sa.Column("key_hash", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("import_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("key_hash", "import_id", "line_no"),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO statement_keys (key_hash, import_id, line_no) "
        "SELECT key_hash, import_id, line_no FROM statement_lines "
        "ORDER BY key_hash, import_id, line_no"
    )
    op.drop_index("ix_statement_key_hash", table_name="statement_lines")
    append_only(("statement_keys",))


def downgrade() -> None:
    op.create_index("ix_statement_key_hash", "statement_lines", ["key_hash"])
    op.drop_table("statement_keys")
