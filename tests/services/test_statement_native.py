"""The native import (DuckDB reads a WeChat bill or a ZM file, SQLite copies the rows)
stores exactly what the Python parser stores: the same rows, the same raw text and other
fields, the same rejected lines with the same reasons, the same control totals, the same
overlaps. Each file is imported twice, into two fresh SQLite stores, once each way.

The native path is for SQLite; on PostgreSQL the Python parser and COPY store a file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from conftest import DATABASES
from counterfoil.config import Settings
from counterfoil.importers import native_zm
from counterfoil.services import statement_native, statements
from counterfoil.services.context import Counterfoil
from counterfoil.store.statement_blocks import FILE_BLOCK, key_hash

pytestmark = pytest.mark.skipif("sqlite" not in DATABASES, reason="the native path is SQLite's")

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
FIXTURES = Path(__file__).resolve().parents[1] / "importers" / "fixtures"
HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)
#: A full card number (it passes Luhn): what the importers must never store.
CARD = "6222021234567890128"
SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


class Stores:
    """Fresh SQLite stores made from the migrated template, one per import."""

    def __init__(self, template: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.template = template
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.made = 0

    def store(self) -> Counterfoil:
        self.made += 1
        home = self.folder / f"home-{self.made}"
        home.mkdir()
        shutil.copyfile(self.template, home / "counterfoil.db")
        settings = Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
        return Counterfoil.open(settings, upgrade=False)

    def imported(self, *paths: Path, native: bool) -> list[dict[str, Any]]:
        """Each file imported in turn into one fresh store, natively or in Python: what
        was stored of each."""
        self.monkeypatch.setenv("COUNTERFOIL_NATIVE_IMPORT", "1" if native else "0")
        self.monkeypatch.setenv("COUNTERFOIL_PARSE_PROCESS", "0")
        cf = self.store()
        try:
            return [snapshot(cf, statements.import_file(cf, path)) for path in paths]
        finally:
            cf.close()


def snapshot(cf: Counterfoil, report: statements.ImportReport) -> dict[str, Any]:
    with cf.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM statement_lines WHERE import_id = :i ORDER BY line_no"),
            {"i": report.import_id},
        ).all()
        rejects = conn.execute(
            text(
                "SELECT line_no, reason, raw_excerpt FROM statement_rejects "
                "WHERE import_id = :i ORDER BY line_no, id"
            ),
            {"i": report.import_id},
        ).all()
        blocks = [
            bytes(b)
            for (b,) in conn.execute(
                text("SELECT lines FROM statement_raw WHERE import_id = :i"),
                {"i": report.import_id},
            )
        ]
        raw = list(statements.raw_lines(conn, report.import_id))
    return {
        "report": report.as_dict(),
        "rows": [tuple(r) for r in rows],
        "raw": raw,
        "rejects": [tuple(r) for r in rejects],
        "native": bool(blocks) and all(b.startswith(FILE_BLOCK) for b in blocks),
    }


@pytest.fixture
def stores(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stores:
    return Stores(sqlite_template, tmp_path, monkeypatch)


def assert_same(stores: Stores, *paths: Path, native: bool = True) -> list[dict[str, Any]]:
    """The files stored the same both ways; ``native``: the native path read them."""
    fast = stores.imported(*paths, native=True)
    slow = stores.imported(*paths, native=False)
    for done, expected in zip(fast, slow, strict=True):
        assert done["native"] is native
        assert not expected["native"]
        for part in ("report", "rows", "raw", "rejects"):
            assert done[part] == expected[part], part
    return fast


def assert_no_card_number(done: dict[str, Any]) -> None:
    """The full card number of the odd lines is in no stored row, raw text or reject:
    the raw-text blocks are compressed, so they are read back, not searched as bytes."""
    stored = repr((done["rows"], done["raw"], done["rejects"]))
    assert CARD not in stored
    assert "622202*********0128" in stored or "622202******0128" in stored


@pytest.mark.parametrize(
    "name", ["wechat_all_27.csv", "wechat_old_24.csv", "wechat_success_20.csv"]
)
def test_every_wechat_trade_fixture_is_stored_the_same(stores: Stores, name: str) -> None:
    assert_same(stores, FIXTURES / name)


def test_a_refund_bill_is_left_to_the_python_parser(stores: Stores) -> None:
    assert_same(stores, FIXTURES / "wechat_refund_29.csv", native=False)


def test_the_unionpay_sample_is_stored_the_same_with_its_rd_summary(stores: Stores) -> None:
    done = assert_same(stores, SAMPLES / "unionpay" / "INN15090588ZM_802310048993424")
    report = done[0]["report"]
    assert (report["lines"], report["balanced"]) == (8, True)
    assert any(check["scope"] == "RD 总计" for check in report["checks"])


def wechat_row(i: int, **cells: str) -> str:
    values = {
        "time": f"2021-01-28 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}",
        "id": f"42000009862021012{i:011d}",
        "state": "SUCCESS",
        "amount": f"{i % 900 + 1}.{i % 100:02d}",
        "refund_id": "0",
        "refund": "0.00",
        "refund_state": "",
        "goods": "咖啡",
        "attach": "",
        "fee": "0.00600",
        "order": "",
        "requested": "0.00",
        "currency": "CNY",
    }
    values |= cells
    order = values["order"] or values["amount"]
    return (
        f"`{values['time']},`wx2421b1c4370ec43b,`1900000109,`0,`POS-{i % 7:04d},`{values['id']},"
        f"`C{i:012d},`oUpF8u{i:022d},`JSAPI,`{values['state']},`CMB_CREDIT,`{values['currency']},"
        f"`{values['amount']},`0.00,`{values['refund_id']},`0,`{values['refund']},`0.00,`,"
        f"`{values['refund_state']},`{values['goods']},`{values['attach']},`{values['fee']},"
        f"`0.60%,`{order},`{values['requested']},`"
    )


ODD_WECHAT_ROWS: dict[int, dict[str, str]] = {
    5: {"amount": "abc"},  # rejected: not an amount
    9: {"state": "WEIRD"},  # rejected: unknown status
    13: {"state": " SUCCESS"},  # a line, read by Python (stripped)
    17: {"id": "4.2E+27"},  # rejected: a spreadsheet's number
    21: {"goods": f"卡号{CARD}结账"},  # a card number to mask
    25: {"fee": "0.1"},  # not five decimals: Python reads it
    29: {"time": "2021/01/28 10:00"},  # a loose time: Python reads it
    33: {"time": "2021-02-30 10:00:00"},  # rejected: no such day
    37: {"state": "REFUND", "refund": "5.00", "requested": "5.00", "refund_state": "PROCESSING"},
    41: {"order": "-"},
    45: {"amount": "1,234.00"},
    49: {"currency": "USD"},
    53: {"attach": "a long attach value"},
    57: {"time": "2021-01-28 24:00:00"},  # rejected: no such hour
    61: {"refund_id": "", "state": "REFUND", "refund": "1.00", "refund_state": "FAILED"},
}


def write_wechat(
    path: Path,
    lines: int,
    odd: dict[int, dict[str, str]],
    extra: Callable[[int], str] | None = None,
) -> Path:
    rows = [HEADER]
    for i in range(lines):
        rows.append(wechat_row(i, **odd.get(i, {})))
        if extra is not None:
            more = extra(i)
            if more:
                rows.append(more)
    rows += [SUMMARY, "`1,`1.00,`0.00,`0.00,`0.00000,`1.00,`0.00"]  # does not add up
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())
    return path


def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts, pieces and reads of a few kilobytes: a small file makes several parts of
    several pieces."""
    monkeypatch.setattr(statement_native, "READ_BYTES", 1024)
    monkeypatch.setattr(statement_native, "PIECE_BYTES", 2048)
    monkeypatch.setattr(statement_native, "PART_BYTES", 6144)
    monkeypatch.setattr(statement_native, "FIRST_PART_BYTES", 2048)
    monkeypatch.setattr(statement_native, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(statement_native, "WINDOW_LINES", 8)


def test_odd_and_rejected_wechat_rows_are_the_python_parsers(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_wechat(
        tmp_path / "odd_all.csv",
        64,
        ODD_WECHAT_ROWS,
        extra=lambda i: "" if i != 30 else ",,,",  # a blank row (only commas) midway
    )
    done = assert_same(stores, path)[0]
    assert_no_card_number(done)
    report = done["report"]
    assert not report["balanced"]  # the summary row does not add up either
    assert [r["line"] for r in report["rejected_lines"]] == [7, 11, 19, 36, 60]


def test_a_bill_in_several_parts_keeps_every_line_in_order(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch)
    path = write_wechat(tmp_path / "parts_all.csv", 300, {150: {"amount": "x"}})
    done = assert_same(stores, path)[0]
    assert done["report"]["lines"] == 299
    assert [n for n, _raw, _extra in done["raw"]] == [n for n in range(2, 302) if n != 152]


def test_a_row_after_the_summary_gives_the_file_to_the_python_parser(
    stores: Stores, tmp_path: Path
) -> None:
    path = write_wechat(tmp_path / "late_all.csv", 20, {})
    path.write_bytes(path.read_bytes() + (wechat_row(99) + "\r\n").encode())
    done = assert_same(stores, path, native=False)[0]
    assert done["report"]["rejected"] == 1


def test_a_quoted_cell_gives_the_file_to_the_python_parser(stores: Stores, tmp_path: Path) -> None:
    path = write_wechat(tmp_path / "quoted_all.csv", 20, {3: {"goods": '"咖啡, 大杯"'}})
    assert_same(stores, path, native=False)


def test_a_line_of_a_megabyte_gives_the_file_to_the_python_parser(
    stores: Stores, tmp_path: Path
) -> None:
    """DuckDB reads a piece through a 4 MiB buffer and stops at a line of a megabyte or
    more: the file is then the Python parser's, stored as it stores it (which reports
    that line as too long and reads the others)."""
    goods = "咖" * (statement_native.LONGEST_LINE_BYTES // 3 + 1)  # 3 bytes a character
    path = write_wechat(tmp_path / "long_all.csv", 20, {5: {"goods": goods}})
    report = assert_same(stores, path, native=False)[0]["report"]
    assert report["lines"] == 19
    assert [r["line"] for r in report["rejected_lines"]] == [7]
    assert "line 7 is longer than 1048576 bytes" in report["rejected_lines"][0]["reason"]


def test_overlapping_bills_and_repeated_rows_point_at_the_first_line(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bills sharing rows; the second repeats one of its own rows. Each bill is one
    part of many pieces: the repeat is found across pieces, before anything is stored."""
    small_parts(monkeypatch)
    monkeypatch.setattr(statement_native, "PART_BYTES", 1 << 30)
    first = write_wechat(tmp_path / "first_all.csv", 80, {})
    second = tmp_path / "second_all.csv"
    # row 100 again at the end: in another piece than its first
    rows = [wechat_row(i) for i in range(40, 120)] + [wechat_row(100)]
    second.write_bytes(("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode())
    done = assert_same(stores, first, second)
    assert done[1]["report"]["overlapping"] == 41
    duplicate_of = {row[1]: row[-1] for row in done[1]["rows"]}
    assert duplicate_of[2] == "1:42"  # the second bill's first row is the first's 41st
    assert duplicate_of[82] == "2:62"  # the repeated row points at its first in this bill


ZM_WIDTHS = (
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1,
    21, 15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
)  # fmt: skip


def zm_line(i: int, **fields: bytes) -> bytes:
    amount = 100 + i * 37
    fee = (amount * 6 + 500) // 1000
    values: dict[int, bytes] = {
        0: b"S56",
        3: f"{i:06d}".encode(),
        4: f"0128{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}".encode(),
        5: b"622609******0048",
        6: f"{amount:012d}".encode(),
        9: f"20210128{i:013d}".encode(),
        11: f"ZM{i:012d}".encode(),
        15: f"D{fee:012d}".encode(),
        16: f"C{amount - fee:012d}".encode(),
        19: b"01",
        27: b"802310048993424",
        33: f"{i % 64:08d}".encode(),
    }
    names = {"card": 5, "amount": 6, "type": 19, "time": 4, "fee": 15, "name": 30, "free": 40}
    for name, value in fields.items():
        values[names[name]] = value
    return b" ".join(values.get(n, b"").ljust(w)[:w] for n, w in enumerate(ZM_WIDTHS))


def test_odd_and_rejected_zm_lines_are_the_python_parsers(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch)
    lines = [zm_line(i) for i in range(40)]
    lines[3] = zm_line(3, name="便利店一号".encode("gbk"))  # GBK: Python reads it
    lines[5] = zm_line(5)[:500]  # rejected: too short
    lines[7] = zm_line(7, type=b"99")  # an unknown type: the trade code S56 says sale
    lines[9] = zm_line(9, amount=b"00000000abcd")  # rejected: not an amount
    lines[11] = zm_line(11, time=b"0230101010")  # rejected: no such day
    lines[13] = zm_line(13, card=CARD.encode())  # a full card number: masked
    lines[15] = zm_line(15, free=b"note " + CARD.encode())  # free text to scrub
    lines[17] = zm_line(17) + b"   "  # trailing blanks after 607 bytes: still a line
    lines[19] = b""  # a blank line
    lines[21] = zm_line(21, name=b"\xff\xfe bad")  # rejected: not GBK
    lines[23] = zm_line(23, fee=b"X000000000001")  # rejected: not C or D
    lines[25] = zm_line(25).replace(b"802310048993424", b"802310048993\t24")  # a tab
    lines[27] = zm_line(27, card=b"")  # no card
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    done = assert_same(stores, path)[0]
    assert [r["line"] for r in done["report"]["rejected_lines"]] == [10, 12, 22, 24]
    assert_no_card_number(done)


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
def test_odd_zm_lines_of_a_clean_lines_length_are_cut_by_numpy_as_python_reads_them(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: bytes
) -> None:
    """Every line 607 bytes without a control character: each chunk is ``uniform`` (the
    fields cut by numpy), clean and odd lines in the same chunk."""
    small_parts(monkeypatch)
    monkeypatch.setattr(statement_native, "READ_BYTES", 8192)  # a dozen lines a chunk
    cut: list[bool] = []
    uniform = native_zm.ZmNative.uniform

    def spied(self: native_zm.ZmNative, chunk: bytes) -> bytes | None:
        data = uniform(self, chunk)
        cut.append(data is not None)
        return data

    monkeypatch.setattr(native_zm.ZmNative, "uniform", spied)
    lines = [zm_line(i) for i in range(60)]
    lines[3] = zm_line(3, name="便利店一号".encode("gbk"))  # GBK: Python reads it
    lines[7] = zm_line(7, type=b"99")  # an unknown type: the trade code S56 says sale
    lines[9] = zm_line(9, amount=b"00000000abcd")  # rejected: not an amount
    lines[11] = zm_line(11, time=b"0230101010")  # rejected: no such day
    lines[13] = zm_line(13, card=CARD.encode())  # a full card number: masked
    lines[15] = zm_line(15, free=b"note " + CARD.encode())  # free text to scrub
    lines[19] = b" " * 607  # a line of blanks
    lines[21] = zm_line(21, name=b"\xff\xfe bad")  # rejected: not GBK
    lines[23] = zm_line(23, fee=b"X000000000001")  # rejected: not C or D
    lines[27] = zm_line(27, card=b"")  # no card
    lines[29] = zm_line(29, name="咖啡馆".encode("gbk"))
    lines[30] = zm_line(30, name="咖啡馆".encode("gbk"))  # two in a row
    lines[59] = zm_line(59, name="最后一行".encode("gbk"))  # and the last line of all
    assert {len(line) for line in lines} == {607}
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(ending.join(lines) + ending)
    done = assert_same(stores, path)[0]
    assert cut
    assert all(cut)
    assert [r["line"] for r in done["report"]["rejected_lines"]] == [10, 12, 22, 24]
    assert done["report"]["lines"] == 55
    assert_no_card_number(done)


def test_a_control_character_leaves_the_chunk_to_duckdb_as_python_reads_it(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch)
    monkeypatch.setattr(statement_native, "READ_BYTES", 8192)
    lines = [zm_line(i) for i in range(30)]
    lines[4] = zm_line(4).replace(b"802310048993424", b"802310048993\x7f24")
    lines[6] = zm_line(6).replace(b"802310048993424", b"802310048993\x1f24")  # the unit separator
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    chunk = b"\r\n".join(lines[:8]) + b"\r\n"
    assert native_zm.plan(path, path.name, None).uniform(chunk) is None  # type: ignore[union-attr]
    assert_same(stores, path)


def test_a_zm_file_of_many_parts_is_stored_the_same(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch)
    lines = [
        zm_line(i, name="咖啡馆".encode("gbk")) if i % 7 == 3 else zm_line(i) for i in range(90)
    ]
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    done = assert_same(stores, path)[0]
    assert done["report"]["lines"] == 90
    assert all(row[-2] == key_hash(row[-3]) for row in done["rows"])


def test_a_small_file_is_parsed_in_python_unless_asked(tmp_path: Path) -> None:
    path = FIXTURES / "wechat_all_27.csv"
    assert not statement_native.wanted(path, {}, sqlite=True)
    assert not statement_native.wanted(path, {"format": "x"}, sqlite=True)


@pytest.mark.parametrize("range_keys", [statement_native.RANGE_KEYS, 2])
def test_a_row_repeated_in_a_later_part_points_at_the_first(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_keys: int
) -> None:
    """The store has no line of the merchant: the repeat is found among the file's parts
    (and a row the Python parser made is found too), whether a part's keys are compared
    with the earlier parts' at once or in ranges of two keys (of eight ranges and more)."""
    small_parts(monkeypatch)
    monkeypatch.setattr(statement_native, "RANGE_KEYS", range_keys)
    path = tmp_path / "repeat_all.csv"
    rows = [wechat_row(i) for i in range(120)]
    rows[3] = wechat_row(3, state=" SUCCESS")  # made by the Python parser
    rows += [wechat_row(5), wechat_row(3), wechat_row(110)]
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode())
    done = assert_same(stores, path)[0]
    assert done["report"]["overlapping"] == 3
    duplicate_of = {row[1]: row[-1] for row in done["rows"]}
    assert (duplicate_of[122], duplicate_of[123], duplicate_of[124]) == ("1:7", "1:5", "1:112")


class OutOfMemoryJoin:
    """A DuckDB cursor that runs out of memory comparing a part's keys with the earlier
    parts' (``Parts.repeated``) and does everything else."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def execute(self, query: str, *args: Any) -> Any:
        import duckdb

        if query.startswith("SELECT DISTINCT k.key_hash"):
            raise duckdb.OutOfMemoryException("could not allocate block of size 256.0 KiB")
        return self.cursor.execute(query, *args)


def test_duckdb_out_of_memory_gives_the_file_to_the_python_parser(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch)
    real = statement_native.Parts._connection
    monkeypatch.setattr(
        statement_native.Parts, "_connection", lambda self: OutOfMemoryJoin(real(self))
    )
    path = tmp_path / "many_all.csv"
    rows = [wechat_row(i) for i in range(120)]
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode())
    done = assert_same(stores, path, native=False)[0]
    assert done["report"]["lines"] == 120


def test_a_file_read_natively_twice_is_stored_once_and_leaves_no_scratch(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second import starts reading the file before its hash says it was imported:
    it stores nothing, says so, and its scratch folder is gone."""
    small_parts(monkeypatch)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(statement_native.tempfile, "tempdir", str(scratch))
    lines = [zm_line(i) for i in range(60)]
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    first, again = stores.imported(path, path, native=True)
    assert first["native"]
    assert first["report"]["lines"] == 60
    assert again["report"]["already_imported"]
    assert again["report"]["import_id"] == first["report"]["import_id"]
    assert again["report"]["lines"] == 60
    assert list(scratch.iterdir()) == []


def assert_stored_as_python_does(stores: Stores, path: Path) -> dict[str, Any]:
    """The file stored as the Python parser stores it, whichever path read it."""
    fast = stores.imported(path, native=True)[0]
    slow = stores.imported(path, native=False)[0]
    for part in ("report", "rows", "raw", "rejects"):
        assert fast[part] == slow[part], part
    return fast


@pytest.mark.parametrize(
    "odd", [b"\n", b"\r\r\n", b"\rX\r\n"], ids=["bare LF", "CR CR LF", "stray CR"]
)
def test_a_zm_line_that_does_not_end_with_crlf_is_read_as_python_reads_it(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: bytes
) -> None:
    """In a file of CRLF lines, a line ending otherwise: DuckDB, told the lines end with
    CRLF, refuses the piece, and the Python parser reads the file (nothing in Python
    counts the pairs any more)."""
    small_parts(monkeypatch)
    lines = [zm_line(i) + b"\r\n" for i in range(40)]
    lines[17] = zm_line(17) + odd
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(b"".join(lines))
    done = assert_stored_as_python_does(stores, path)
    assert not done["native"]


@pytest.mark.parametrize("odd", [b"\n", b"\r\r\n"], ids=["bare LF", "CR CR LF"])
def test_a_wechat_row_that_does_not_end_with_crlf_is_read_as_python_reads_it(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: bytes
) -> None:
    """A bare LF in a bill of CRLF rows DuckDB reads as Python does; a CR before the
    CRLF makes it give the bill to Python. Either way the rows are the parser's."""
    small_parts(monkeypatch)
    path = write_wechat(tmp_path / "odd_all.csv", 60, {})
    head, sep, tail = path.read_bytes().partition(wechat_row(30).encode() + b"\r\n")
    assert sep
    path.write_bytes(head + wechat_row(30).encode() + odd + tail)
    done = assert_stored_as_python_does(stores, path)
    assert done["report"]["lines"] == 60


def test_a_native_import_reports_its_progress_part_by_part(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress bar of ``counterfoil import`` moves as each part is stored, up to the
    file's last line."""
    small_parts(monkeypatch)
    monkeypatch.setenv("COUNTERFOIL_NATIVE_IMPORT", "1")
    lines = [zm_line(i) for i in range(90)]
    path = tmp_path / "INN21012888ZM_802310048993424"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    seen: list[int] = []
    cf = stores.store()
    try:
        report = statements.import_file(cf, path, progress=seen.append)
        assert snapshot(cf, report)["native"]
    finally:
        cf.close()
    assert report.lines == 90
    assert len(seen) > 2
    assert seen == sorted(seen)
    assert seen[-1] == 90


def test_the_scratch_folder_of_a_killed_import_is_swept_by_the_next(tmp_path: Path) -> None:
    """An import killed (SIGKILL) leaves its scratch folder, gigabytes for a large file;
    the next import removes it, and never the folder of an import still running."""
    holder = textwrap.dedent(
        f"""
        import sys, tempfile, time
        from pathlib import Path
        from counterfoil.services import statement_native as sn
        scratch = Path(tempfile.mkdtemp(prefix=sn.SCRATCH_PREFIX, dir={str(tmp_path)!r}))
        (scratch / "import.duckdb").write_bytes(b"x" * 1024)
        owner = sn._hold(scratch)  # held while the process lives
        print(scratch, flush=True)
        time.sleep(60)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            running = Path(process.stdout.readline().strip())
            assert running.is_dir()
            assert statement_native.sweep_scratch(tmp_path) == []  # its import is running
            assert running.is_dir()
        finally:
            process.kill()
            process.wait(timeout=30)
    assert statement_native.sweep_scratch(tmp_path) == [running]
    assert not running.exists()


def test_a_running_import_s_folder_stays_and_one_without_an_owner_only_when_recent(
    tmp_path: Path,
) -> None:
    mine = Path(tempfile.mkdtemp(prefix=statement_native.SCRATCH_PREFIX, dir=tmp_path))
    owner = statement_native._hold(mine)
    recent = Path(tempfile.mkdtemp(prefix=statement_native.SCRATCH_PREFIX, dir=tmp_path))
    old = Path(tempfile.mkdtemp(prefix=statement_native.SCRATCH_PREFIX, dir=tmp_path))
    hours_ago = time.time() - 2 * statement_native.UNOWNED_GRACE_SECONDS
    os.utime(old, (hours_ago, hours_ago))
    other = tmp_path / "someone-else"
    other.mkdir()
    try:
        assert statement_native.sweep_scratch(tmp_path) == [old]
        assert mine.is_dir()
        assert recent.is_dir()
        assert other.is_dir()
    finally:
        owner.close()
    assert statement_native.sweep_scratch(tmp_path) == [mine]
