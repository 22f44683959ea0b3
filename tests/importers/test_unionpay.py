"""UnionPay ZM reconciliation file and its RD summary, on the real sample."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from counterfoil.core.money import div_half_up
from counterfoil.importers import FormatMismatch, open_statement
from counterfoil.importers.unionpay_layout import LINE_BYTES, SPANS
from counterfoil.importers.unionpay_zm import parse

from .helpers import sample

ZM = "INN15090588ZM_802310048993424"
RD = "RD201015090501_802310048993424"
CST = timezone(timedelta(hours=8))


def zm_bytes() -> bytes:
    return sample("unionpay", ZM).read_bytes()


def rd_bytes() -> bytes:
    return sample("unionpay", RD).read_bytes()


def replace_field(line: bytes, index: int, value: bytes) -> bytes:
    start, end = SPANS[index]
    assert len(value) == end - start
    return line[:start] + value + line[end:]


def test_the_eight_lines_of_the_sample() -> None:
    result = parse(io.BytesIO(zm_bytes()), file=ZM, rd=io.BytesIO(rd_bytes())).read_all()
    assert result.errors == []
    assert len(result.lines) == 8
    first = result.lines[0]
    assert first.line_no == 1
    assert first.occurred_at == datetime(2015, 9, 6, 11, 22, 3, tzinfo=CST)
    assert (first.amount, first.fee, first.net) == (476800, 2861, 473939)
    assert (first.txn_type, first.status, first.currency) == ("sale", "success", "CNY")
    assert first.trace_no == "190624"
    assert first.platform_id == "201509061122031906248"  # 查询流水号
    assert first.order_no == "10078087"
    assert first.merchant_no == "802310048993424"
    assert first.terminal_id == "01080209"
    assert (first.card_masked, first.card_last4) == ("622609******0048", "0048")
    assert first.extra["mcc"] == "4899"
    assert first.raw.startswith("S56 88022900")
    assert result.info == {"settle_date": "2015-09-05", "merchant_no": "802310048993424"}


def test_amount_less_fee_is_the_settlement_and_the_fee_is_0_6_percent_half_up() -> None:
    lines = parse(io.BytesIO(zm_bytes()), file=ZM).read_all().lines
    assert len(lines) == 8
    for line in lines:
        assert line.fee is not None
        assert line.net is not None
        assert line.amount - line.fee == line.net
        assert line.fee == div_half_up(line.amount * 6, 1000)


def test_the_rd_summary_is_checked_and_agrees() -> None:
    result = parse(io.BytesIO(zm_bytes()), file=ZM, rd=io.BytesIO(rd_bytes())).read_all()
    checks = {c.name: c for c in result.checks}
    assert checks["交易笔数"].expected == 8
    assert checks["交易金额 (贷 − 借)"].expected == 1322700
    assert checks["费用 (借 − 贷)"].expected == 7936
    assert checks["资金清算差额 (贷 − 借)"].expected == 1314764
    assert checks["清算日期"].ok
    assert all(c.ok for c in result.checks)
    assert result.balanced


def test_an_rd_that_does_not_add_up_fails_with_the_difference() -> None:
    rd = rd_bytes().replace(b"13227.00", b"13272.00")
    result = parse(io.BytesIO(zm_bytes()), file=ZM, rd=io.BytesIO(rd)).read_all()
    amount = next(c for c in result.checks if c.name.startswith("交易金额"))
    assert not amount.ok
    assert amount.difference == -4500
    assert not result.balanced


def test_the_zip_as_downloaded_reads_the_rd_inside(tmp_path: Path) -> None:
    bundle = tmp_path / "20150905_802310048993424.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr(ZM, zm_bytes())
        archive.writestr(RD, rd_bytes())
    result = open_statement(bundle)
    parsed = result.read_all()
    assert result.source == "unionpay_zm"
    assert len(parsed.lines) == 8
    assert len(parsed.checks) == 6
    assert parsed.balanced


def test_open_statement_finds_the_rd_beside_the_bare_file(tmp_path: Path) -> None:
    (tmp_path / ZM).write_bytes(zm_bytes())
    (tmp_path / RD).write_bytes(rd_bytes())
    parsed = open_statement(tmp_path / ZM).read_all()
    assert any(c.scope == "RD 总计" for c in parsed.checks)
    assert parsed.balanced


def test_a_bad_line_is_rejected_with_its_number_and_the_rest_imports() -> None:
    lines = zm_bytes().split(b"\r\n")
    lines[2] = replace_field(lines[2], 6, b"0000004768X0")  # amount
    result = parse(io.BytesIO(b"\r\n".join(lines)), file=ZM, rd=io.BytesIO(rd_bytes())).read_all()
    assert len(result.lines) == 7
    [error] = result.errors
    assert error.line_no == 3
    assert error.reason.startswith("交易金额: expected 12 digits of fen")
    assert error.raw_excerpt.startswith("S56 ")
    count = next(c for c in result.checks if c.name == "交易笔数")
    assert (count.ok, count.difference) == (False, -1)
    assert "1 rejected" in count.detail


def test_transmission_time_takes_its_year_across_new_year() -> None:
    line = zm_bytes().split(b"\r\n")[0]
    january = replace_field(line, 4, b"0101000501")
    december = replace_field(line, 4, b"1231235959")
    late = parse(io.BytesIO(january + b"\r\n"), file="INN15123188ZM_802310048993424")
    assert next(iter(late)).occurred_at == datetime(2016, 1, 1, 0, 5, 1, tzinfo=CST)
    early = parse(io.BytesIO(december + b"\r\n"), file="INN16010188ZM_802310048993424")
    assert next(iter(early)).occurred_at == datetime(2015, 12, 31, 23, 59, 59, tzinfo=CST)


def test_a_renamed_file_needs_its_settle_date() -> None:
    with pytest.raises(FormatMismatch, match="settle date is not known"):
        parse(io.BytesIO(zm_bytes()), file="zm.txt").read_all()
    lines = (
        parse(io.BytesIO(zm_bytes()), file="zm.txt", settle_date=date(2015, 9, 5)).read_all().lines
    )
    assert len(lines) == 8


def test_a_full_card_number_is_masked_everywhere() -> None:
    line = replace_field(zm_bytes().split(b"\r\n")[0], 5, b"6222021234567890128")
    [parsed] = parse(io.BytesIO(line + b"\r\n"), file=ZM).read_all().lines
    assert parsed.card_masked == "622202*********0128"
    assert parsed.card_last4 == "0128"
    assert "6222021234567890128" not in parsed.raw


def test_types_and_signs_follow_the_transaction_type_code() -> None:
    line = zm_bytes().split(b"\r\n")[0]
    void = replace_field(line, 19, b"31")
    void = replace_field(void, 15, b"C000000002861")
    void = replace_field(void, 16, b"D000000473939")
    [parsed] = parse(io.BytesIO(void + b"\r\n"), file=ZM).read_all().lines
    assert (parsed.txn_type, parsed.amount, parsed.fee, parsed.net) == (
        "void",
        -476800,
        -2861,
        -473939,
    )


def test_trailing_blanks_trimmed_by_an_editor_are_tolerated() -> None:
    lines = [line.rstrip() for line in zm_bytes().split(b"\r\n")]
    assert len(lines[0]) < LINE_BYTES
    result = parse(io.BytesIO(b"\n".join(lines)), file=ZM).read_all()
    assert (len(result.lines), result.errors) == (8, [])


def test_a_gbk_sub_merchant_name_is_cut_as_bytes_and_free_text_is_scrubbed() -> None:
    line = zm_bytes().split(b"\r\n")[0]
    name = "淘在路上分店".encode("gbk").ljust(32)
    line = replace_field(line, 30, name)
    line = replace_field(line, 34, b"card 6222021234567890128".ljust(32))
    [parsed] = parse(io.BytesIO(line + b"\r\n"), file=ZM).read_all().lines
    assert parsed.extra["sub_merchant_name"] == "淘在路上分店"
    assert parsed.extra["merchant_reserved"] == "card 622202*********0128"
    assert "淘在路上分店" in parsed.raw
    assert "6222021234567890128" not in parsed.raw
    assert (parsed.amount, parsed.fee, parsed.net) == (476800, 2861, 473939)
