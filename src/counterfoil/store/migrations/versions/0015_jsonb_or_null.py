"""verify: a journal body that is not JSON is reported, not an error that stops the check

PostgreSQL 15 has no cast that fails softly (``IS JSON`` came in 16), so ``verify``'s
copied-column check, which reads each body as ``jsonb``, stopped at the first body that
had been replaced by something that is not JSON. ``counterfoil_jsonb_or_null`` is that
cast returning NULL instead. It catches the error in a subtransaction, which costs on
every call, so verify uses it only to look again once the plain cast has failed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 13:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION counterfoil_jsonb_or_null(body text) RETURNS jsonb "
        "LANGUAGE plpgsql IMMUTABLE STRICT AS $$ "
        "BEGIN RETURN body::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION counterfoil_jsonb_or_null(text)")
