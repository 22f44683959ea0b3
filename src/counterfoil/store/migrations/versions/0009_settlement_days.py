"""settlement days: merchant settlement settings, day closes, report support

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from counterfoil.core.pan import CARD_GROUP_SQL
from counterfoil.store.triggers import append_only

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SETTLEMENT_INDEX = (
    "merchant_no",
    "terminal_id",
    "channel",
    "type",
    "card_group",
    "kind",
    "currency",
    "terminal_time",
    "seq",
    "amount",
    "fee",
    "net",
)


def upgrade() -> None:
    # The card group of each entry (core.pan.card_group of its BIN), written with the
    # entry from now on. Entries already written get it here, the one time a migration
    # writes to the journal: a look-up column beside the signed body, which is untouched
    # (verify checks the column against the body).
    op.add_column("journal_entries", sa.Column("card_group", sa.String(length=10)))
    backfill = f"UPDATE journal_entries SET card_group = {CARD_GROUP_SQL}"  # noqa: S608
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_append_only")
        op.execute(backfill)
        op.execute("ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_append_only")
    else:
        op.execute("DROP TRIGGER journal_entries_no_update")
        op.execute(backfill)
        op.execute(
            "CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries "
            "BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: UPDATE refused'); END"
        )
    op.create_table(
        "settlement_settings",
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("cutoff", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("cycle", sa.String(length=12), nullable=False),
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_no"),
    )
    op.create_table(
        "settlement_holidays",
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("calendar", "day"),
    )
    op.create_table(
        "day_closes",
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("cutoff", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("settles_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("merchant_no", "day"),
    )
    op.create_index("ix_day_closes_seq", "day_closes", ["merchant_no", "through_seq"])
    op.create_table(
        "day_totals",
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("terminal_id", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("card_group", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "merchant_no",
            "day",
            "terminal_id",
            "kind",
            "type",
            "channel",
            "card_group",
            "currency",
        ),
    )
    op.create_table(
        "settlement_issues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("merchant_no", sa.String(length=15), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("terminal_id", sa.String(length=8), nullable=False),
        sa.Column("issue_no", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "merchant_no", "day", "terminal_id", "issue_no", name="uq_settlement_issue"
        ),
    )
    op.create_index("ix_journal_settlement", "journal_entries", list(SETTLEMENT_INDEX))
    append_only(("day_closes", "day_totals", "settlement_issues"))


def downgrade() -> None:
    op.drop_index("ix_journal_settlement", table_name="journal_entries")
    op.drop_column("journal_entries", "card_group")
    op.drop_table("settlement_issues")
    op.drop_table("day_totals")
    op.drop_index("ix_day_closes_seq", table_name="day_closes")
    op.drop_table("day_closes")
    op.drop_table("settlement_holidays")
    op.drop_table("settlement_settings")
