"""Importing statements: every line kept, the same file twice adds nothing, overlapping
files recognised line by line, rejected rows kept with their reasons, a file that does
not add up stored as not balanced. SQLite and PostgreSQL."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from counterfoil.core.errors import ValidationError
from counterfoil.services import statements
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import statement_lines

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
FIXTURES = Path(__file__).resolve().parents[1] / "importers" / "fixtures"


def test_unionpay_sample_is_imported_balanced_with_its_rd_summary(cf: Counterfoil) -> None:
    report = statements.import_file(cf, SAMPLES / "unionpay" / "INN15090588ZM_802310048993424")
    assert (report.format, report.lines, report.rejected, report.balanced) == (
        "unionpay_zm",
        8,
        0,
        True,
    )
    assert any(check["name"] for check in report.checks)
    with cf.engine.connect() as conn:
        amounts = conn.execute(
            select(statement_lines.c.amount, statement_lines.c.fee).order_by(
                statement_lines.c.line_no
            )
        ).all()
    assert len(amounts) == 8
    assert amounts[0].amount > 0


def test_the_same_file_twice_adds_nothing(cf: Counterfoil) -> None:
    sample = SAMPLES / "camt" / "camt053.v2.minimal.xml"
    first = statements.import_file(cf, sample)
    again = statements.import_file(cf, sample)
    assert again.already_imported
    assert again.import_id == first.import_id
    with cf.engine.connect() as conn:
        assert len(statements.list_imports(conn)) == 1


def test_overlapping_files_are_recognised_by_natural_keys(cf: Counterfoil, tmp_path: Path) -> None:
    original = SAMPLES / "unionpay" / "INN15090588ZM_802310048993424"
    copy = tmp_path / original.name
    shutil.copyfile(original, copy)
    with copy.open("ab") as handle:  # the same lines, a different file (another SHA-256)
        handle.write(b"\r\n")
    rd = SAMPLES / "unionpay" / "RD201015090501_802310048993424"
    shutil.copyfile(rd, tmp_path / rd.name)  # the summary beside it, as downloaded
    first = statements.import_file(cf, original)
    second = statements.import_file(cf, copy)
    assert not second.already_imported
    assert (first.overlapping, second.overlapping) == (0, 8)
    with cf.engine.connect() as conn:
        firsts = (
            conn.execute(
                select(statement_lines.c.duplicate_of).where(
                    statement_lines.c.import_id == second.import_id
                )
            )
            .scalars()
            .all()
        )
    assert all(ref and ref.startswith(f"{first.import_id}:") for ref in firsts)


def test_a_file_that_does_not_add_up_is_stored_not_balanced(cf: Counterfoil) -> None:
    report = statements.import_file(cf, SAMPLES / "camt" / "camt053.v4.xml")
    assert not report.balanced
    assert any(not check["ok"] for check in report.checks)
    with cf.engine.connect() as conn:
        stored = statements.show_import(conn, report.import_id)
    assert stored["balanced"] is False
    assert stored["checks"] == report.checks


def test_rejected_rows_are_kept_with_their_reasons(cf: Counterfoil, tmp_path: Path) -> None:
    good = next(p for p in sorted(FIXTURES.glob("wechat*")) if p.suffix in (".csv", ".txt"))
    text = good.read_bytes().replace(b"`SUCCESS", b"`NOTASTATUS", 1)
    broken = tmp_path / good.name
    broken.write_bytes(text)
    report = statements.import_file(cf, broken)
    assert report.rejected >= 1
    assert report.lines >= 1
    with cf.engine.connect() as conn:
        stored = statements.show_import(conn, report.import_id)
    assert stored["rejected_lines"][0]["line"] == report.rejected_lines[0]["line"]
    assert stored["rejected_lines"][0]["reason"]


def test_a_missing_file_is_a_clear_error(cf: Counterfoil, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        statements.import_file(cf, tmp_path / "nope.csv")
