"""Append-only inside the database: triggers refuse UPDATE and DELETE on both databases."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from counterfoil.services.context import Counterfoil
from counterfoil.services.statements import import_file
from counterfoil.services.verification import make_checkpoint

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_entries SET amount = 1",
        "DELETE FROM journal_entries",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "DELETE FROM signing_keys",
        "UPDATE statement_imports SET balanced = true",
        "DELETE FROM statement_lines",
        "UPDATE statement_lines SET amount = 1",
        "UPDATE statement_raw SET lines = lines",
        "DELETE FROM statement_raw",
        "UPDATE checkpoints SET root_hash = 'x'",
    ],
)
def test_append_only_tables_refuse_changes(cf: Counterfoil, shop: Any, statement: str) -> None:
    """Every append-only table holds a row, so each statement has something to refuse."""
    make_checkpoint(cf, shop["merchant"].merchant_no)
    import_file(cf, SAMPLES / "unionpay" / "INN15090588ZM_802310048993424")
    with pytest.raises(DatabaseError, match="append-only"), cf.engine.begin() as conn:
        conn.execute(text(statement))


def test_truncate_is_refused_on_postgresql(cf: Counterfoil, shop: Any) -> None:
    if cf.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DatabaseError, match="append-only"), cf.engine.begin() as conn:
        conn.execute(text("TRUNCATE journal_entries"))
