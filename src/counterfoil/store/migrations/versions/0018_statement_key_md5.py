"""statement lines: the natural key's hash is the first 8 bytes of MD5, not of BLAKE2b

Overlapping files are looked up by an 8-byte hash of the natural key (0016). A large
WeChat or ZM file is now read by DuckDB, which computes MD5 but not BLAKE2b; the hash
of every stored line is computed again so that old and new lines compare. The hash
only finds candidates (the key's text is compared on a hit), so nothing rests on MD5
being hard to collide.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:00:00
"""

import hashlib
from collections.abc import Callable, Sequence

from alembic import op

from counterfoil.store.triggers import append_only

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _md5(key: str) -> int:
    digest = hashlib.md5(key.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _blake2b(key: str) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def upgrade() -> None:
    _rehash(_md5, "('x' || substr(md5(natural_key), 1, 16))::bit(64)::bigint")


def downgrade() -> None:
    _rehash(_blake2b, None)


def _rehash(function: Callable[[str], int], postgresql: str | None) -> None:
    """Every stored line's ``key_hash`` made again by ``function`` (``postgresql``: the
    same in PostgreSQL's SQL), the append-only triggers lifted for the while."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS statement_lines_append_only ON statement_lines")
        op.execute("DROP TRIGGER IF EXISTS statement_lines_no_truncate ON statement_lines")
        if postgresql is not None:
            op.execute(f"UPDATE statement_lines SET key_hash = {postgresql}")  # noqa: S608
        else:
            _rehash_rows(function)
    else:
        op.execute("DROP TRIGGER IF EXISTS statement_lines_no_update")
        op.execute("DROP TRIGGER IF EXISTS statement_lines_no_delete")
        driver = bind.connection.driver_connection
        assert driver is not None
        driver.create_function("counterfoil_key_hash", 1, function, deterministic=True)
        op.execute("UPDATE statement_lines SET key_hash = counterfoil_key_hash(natural_key)")
    append_only(("statement_lines",))


def _rehash_rows(function: Callable[[str], int]) -> None:
    bind = op.get_bind()
    rows = bind.exec_driver_sql(
        "SELECT import_id, line_no, natural_key FROM statement_lines"
    ).fetchall()
    if rows:
        bind.exec_driver_sql(
            "UPDATE statement_lines SET key_hash = %(h)s "
            "WHERE import_id = %(i)s AND line_no = %(n)s",
            [{"h": function(key), "i": i, "n": n} for i, n, key in rows],
        )
