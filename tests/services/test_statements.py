"""Importing statements: every line kept, the same file twice adds nothing, overlapping
files recognised line by line, rejected rows kept with their reasons, a file that does
not add up stored as not balanced. SQLite and PostgreSQL."""

import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from counterfoil.core.errors import ValidationError
from counterfoil.importers import open_statement
from counterfoil.importers.errors import FormatMismatch
from counterfoil.services import statement_rows, statements
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import statement_lines, statement_raw
from counterfoil.store.statement_blocks import key_hash

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


def test_lines_whose_key_hashes_collide_are_told_apart_by_their_keys(
    cf: Counterfoil, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overlaps are looked up by an 8-byte hash; a hit counts only with the same key."""
    monkeypatch.setattr(statement_rows, "key_hash", lambda key: 7)  # every key collides
    report = statements.import_file(cf, SAMPLES / "unionpay" / "INN15090588ZM_802310048993424")
    assert (report.lines, report.overlapping) == (8, 0)
    rows = stored_lines(cf, report.import_id)
    assert {row["key_hash"] for row in rows} == {7}
    assert len({row["natural_key"] for row in rows}) == 8


def test_raw_text_is_read_back_by_line_range_across_blocks(
    cf: Counterfoil, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(statement_rows, "CHUNK", 3)  # 8 lines: blocks of 3, 3 and 2
    path = SAMPLES / "unionpay" / "INN15090588ZM_802310048993424"
    parsed = open_statement(path).read_all()
    report = statements.import_file(cf, path)
    numbers = [line.line_no for line in parsed.lines]
    with cf.engine.connect() as conn:
        blocks = conn.execute(
            select(func.count())
            .select_from(statement_raw)
            .where(statement_raw.c.import_id == report.import_id)
        ).scalar_one()
        everything = list(statements.raw_lines(conn, report.import_id))
        middle = list(statements.raw_lines(conn, report.import_id, numbers[2], numbers[5]))
    assert blocks == 3
    assert [(n, text) for n, text, _ in everything] == [(x.line_no, x.raw) for x in parsed.lines]
    assert [n for n, _, _ in middle] == numbers[2:6]


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


def stored_lines(cf: Counterfoil, import_id: int) -> list[Any]:
    with cf.engine.connect() as conn:
        return list(
            conn.execute(
                select(statement_lines)
                .where(statement_lines.c.import_id == import_id)
                .order_by(statement_lines.c.line_no)
            ).mappings()
        )


def test_every_line_is_stored_with_its_raw_text_key_and_fields(cf: Counterfoil) -> None:
    """The fast insert (COPY on PostgreSQL) keeps every field: tabs, newlines and
    backslashes of a bank's text, the time as the same instant; the raw text and the
    other fields in their compressed blocks."""
    path = SAMPLES / "mt940" / "jejik-ing.sta"
    parsed = open_statement(path).read_all()
    report = statements.import_file(cf, path)
    rows = stored_lines(cf, report.import_id)
    with cf.engine.connect() as conn:
        raw = list(statements.raw_lines(conn, report.import_id))
    assert len(rows) == len(parsed.lines) == report.lines == len(raw)
    for row, line, (line_no, text, extra) in zip(rows, parsed.lines, raw, strict=True):
        assert row["line_no"] == line.line_no == line_no
        assert text == line.raw
        assert extra == dict(line.extra)
        assert row["key_hash"] == key_hash(row["natural_key"])
        assert (row["amount"], row["currency"], row["txn_type"]) == (
            line.amount,
            line.currency,
            line.txn_type,
        )
        assert (row["order_no"], row["description"]) == (line.order_no, line.description)
        assert row["natural_key"] == "|".join((line.source, *line.natural_key()))
        assert row["duplicate_of"] is None
        when = row["occurred_at"]
        assert (when if when.tzinfo else when.replace(tzinfo=UTC)) == line.occurred_at
    assert any("\n" in text for _, text, _ in raw)


def test_times_on_sqlite_are_written_as_sqlalchemy_writes_them(cf: Counterfoil) -> None:
    """Range queries compare the text: ours must be SQLAlchemy's DateTime text exactly."""
    with cf.engine.connect() as conn:
        stamp = statement_rows.stamp_for(conn.dialect.name == "sqlite")
        when = datetime(2021, 1, 28, 9, 15, 2, tzinfo=timezone(timedelta(hours=8)))
        if conn.dialect.name != "sqlite":
            assert stamp(when) == when
            return
        column = statement_lines.c.occurred_at.type.dialect_impl(conn.dialect)
        bind = column.bind_processor(conn.dialect)
        assert bind is not None
        assert stamp(when) == bind(when.astimezone(UTC)) == "2021-01-28 01:15:02.000000"


def test_the_columns_written_are_the_table_s() -> None:
    assert tuple(column.name for column in statement_lines.columns) == statements.COLUMNS


def test_a_line_seen_in_an_earlier_chunk_of_the_same_file_is_an_overlap(
    cf: Counterfoil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of three lines: the repeat of line 1 in the third chunk points at it."""
    monkeypatch.setattr(statement_rows, "CHUNK", 3)
    lines = (SAMPLES / "unionpay" / "INN15090588ZM_802310048993424").read_bytes().split(b"\r\n")
    repeated = tmp_path / "INN15090588ZM_802310048993424"
    repeated.write_bytes(b"\r\n".join([*lines[:8], lines[0], b""]))
    seen: list[int] = []
    report = statements.import_file(cf, repeated, progress=seen.append)
    assert (report.lines, report.overlapping) == (9, 1)
    assert seen == [3, 6, 9, 9]
    rows = stored_lines(cf, report.import_id)
    assert [row["duplicate_of"] for row in rows] == [None] * 8 + [f"{report.import_id}:1"]


BATCH = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04">
 <BkToCstmrStmt><GrpHdr><MsgId>{message}</MsgId><CreDtTm>2024-03-02T06:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>S-1</Id><Acct><Id><Othr><Id>110000123</Id></Othr></Id></Acct>
   <Ntry><Amt Ccy="CNY">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2024-03-01</Dt></BookgDt><AcctSvcrRef>BATCH-0301</AcctSvcrRef>
    <NtryDtls>
     <TxDtls><Refs><EndToEndId>ORD-1</EndToEndId></Refs><Amt Ccy="CNY">200.00</Amt></TxDtls>
     <TxDtls><Refs><EndToEndId>ORD-2</EndToEndId></Refs><Amt Ccy="CNY">100.00</Amt></TxDtls>
    </NtryDtls>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>
"""


def test_the_parts_of_a_batch_booking_are_stored_apart_and_recognised_again(
    cf: Counterfoil, tmp_path: Path
) -> None:
    """The day's statement and a re-download of it (another message id): the parts of
    its batch are two lines, and the second file's parts point at the first's."""
    daily = tmp_path / "daily.xml"
    daily.write_text(BATCH.format(message="1"))
    again = tmp_path / "again.xml"
    again.write_text(BATCH.format(message="2"))
    first = statements.import_file(cf, daily)
    second = statements.import_file(cf, again)
    assert (first.lines, first.overlapping, second.lines, second.overlapping) == (2, 0, 2, 2)
    rows = stored_lines(cf, second.import_id)
    assert [(row["amount"], row["order_no"]) for row in rows] == [
        (20000, "ORD-1"),
        (10000, "ORD-2"),
    ]
    assert [row["duplicate_of"] for row in rows] == [
        f"{first.import_id}:1",
        f"{first.import_id}:2",
    ]


def _everything_stored(cf: Counterfoil, import_id: int) -> dict[str, Any]:
    with cf.engine.connect() as conn:
        shown = statements.show_import(conn, import_id)
    lines = [
        {k: v for k, v in row.items() if k != "import_id"} for row in stored_lines(cf, import_id)
    ]
    return {
        "lines": lines,
        "rejected": shown["rejected_lines"],
        "checks": shown["checks"],
        "balanced": shown["balanced"],
        "counts": (shown["lines"], shown["rejected"], shown["overlapping"]),
    }


@pytest.mark.parametrize("kind", ["wechat_with_a_bad_row", "zm_with_its_rd_summary"])
def test_a_file_parsed_by_a_process_of_its_own_is_stored_exactly_as_one_parsed_here(
    cf: Counterfoil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Large files are parsed by a spawned process while this one writes: forced here
    on small files, both ways must store the same lines, rejected rows, control checks
    and balance (the second import is another file: one byte more at its end)."""
    if kind == "zm_with_its_rd_summary":
        for name in ("INN15090588ZM_802310048993424", "RD201015090501_802310048993424"):
            shutil.copyfile(SAMPLES / "unionpay" / name, tmp_path / name)
        path, tail = tmp_path / "INN15090588ZM_802310048993424", b"\r\n"
    else:
        good = FIXTURES / "wechat_all_27.csv"
        path, tail = tmp_path / good.name, b"\n"
        path.write_bytes(good.read_bytes().replace(b"`SUCCESS", b"`NOTASTATUS", 1))
    monkeypatch.setenv("COUNTERFOIL_PARSE_PROCESS", "0")
    here = statements.import_file(cf, path)
    with path.open("ab") as handle:
        handle.write(tail)
    monkeypatch.setenv("COUNTERFOIL_PARSE_PROCESS", "1")
    there = statements.import_file(cf, path)
    assert not there.already_imported
    first, second = _everything_stored(cf, here.import_id), _everything_stored(cf, there.import_id)
    assert second["counts"] == (here.lines, here.rejected, here.lines)  # every line an overlap
    for line in second["lines"]:
        assert line.pop("duplicate_of") is not None
    for line in first["lines"]:
        assert line.pop("duplicate_of") is None
    assert first | {"counts": None} == second | {"counts": None}
    assert first["lines"]
    if kind == "zm_with_its_rd_summary":  # the RD summary beside it was found there too
        assert first["balanced"]
        assert first["checks"]
    else:
        assert first["rejected"]


def test_a_file_that_stops_being_readable_in_the_parsing_process_is_the_same_clear_error(
    cf: Counterfoil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camt.053 cut off in the middle reads well until the cut: the spawned parser's
    error reaches the caller as itself (type, facts, message) and nothing is stored."""
    whole = (FIXTURES / "camt053_v08_two_statements.xml").read_bytes()
    cut = tmp_path / "camt053_cut.xml"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    monkeypatch.setenv("COUNTERFOIL_PARSE_PROCESS", "0")
    with pytest.raises(FormatMismatch) as here:
        statements.import_file(cf, cut)
    monkeypatch.setenv("COUNTERFOIL_PARSE_PROCESS", "1")
    with pytest.raises(FormatMismatch) as there:
        statements.import_file(cf, cut)
    assert type(there.value) is type(here.value)
    assert (there.value.file, there.value.expected, there.value.params) == (
        here.value.file,
        here.value.expected,
        here.value.params,
    )
    assert str(there.value) == str(here.value)
    assert "not well-formed XML" in str(there.value)
    with cf.engine.connect() as conn:
        assert statements.list_imports(conn) == []
        assert conn.execute(select(statement_lines.c.line_no)).first() is None
