"""WeChat Pay trade bills (each layout) and the fund-flow bill, against golden files."""

from __future__ import annotations

import io

import pytest

from counterfoil.importers import FormatMismatch, wechat_fund, wechat_trade

from .helpers import FIXTURES, assert_golden

TRADE = ["wechat_all_27", "wechat_old_24", "wechat_success_20", "wechat_refund_29"]


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.csv").read_bytes()


@pytest.mark.parametrize("name", TRADE)
def test_trade_bill_layouts_match_their_golden_files(name: str) -> None:
    result = wechat_trade.parse(io.BytesIO(fixture(name)), file=f"{name}.csv")
    assert_golden(result, FIXTURES / f"{name}.expected.json")


def test_fund_flow_bill_matches_its_golden_file() -> None:
    result = wechat_fund.parse(io.BytesIO(fixture("wechat_fund")), file="wechat_fund.csv")
    assert_golden(result, FIXTURES / "wechat_fund.expected.json")


def test_a_sale_a_refund_and_the_fee_rounded_half_up() -> None:
    """`47.68 at 0.6 % is a fee of `0.28608: 0.29 charged, and given back on the refund."""
    parsed = wechat_trade.parse(io.BytesIO(fixture("wechat_all_27")), file="all.csv").read_all()
    sale, coupon_sale, refund, revoked, processing = parsed.lines
    assert (sale.txn_type, sale.amount, sale.fee, sale.net) == ("sale", 4768, 29, 4739)
    assert sale.extra["fee_exact"] == "0.28608"
    assert (coupon_sale.amount, coupon_sale.net) == (10000, 9500 - 57)  # 订单金额 vs 应结
    assert (refund.txn_type, refund.amount, refund.fee, refund.net) == ("refund", -4768, -29, -4739)
    assert refund.refund_id == "50300108562021012805483200011"
    assert refund.natural_key() != sale.natural_key()
    assert (revoked.status, processing.status) == ("revoked", "pending")
    assert parsed.balanced


def test_columns_are_found_by_name_not_position() -> None:
    rows = [
        line.split(",") for line in fixture("wechat_success_20").decode("utf-8-sig").splitlines()
    ]
    order = list(reversed(range(len(rows[0]))))
    shuffled = "\r\n".join(
        ",".join(r[i] for i in order) if len(r) == len(order) else ",".join(r) for r in rows
    )
    moved = wechat_trade.parse(io.BytesIO(shuffled.encode()), file="x.csv").read_all()
    plain = wechat_trade.parse(io.BytesIO(fixture("wechat_success_20")), file="x.csv").read_all()
    assert [(x.amount, x.platform_id, x.occurred_at) for x in moved.lines] == [
        (x.amount, x.platform_id, x.occurred_at) for x in plain.lines
    ]


def test_a_bill_resaved_as_gbk_without_backticks_still_reads() -> None:
    text = fixture("wechat_old_24").decode("utf-8").replace("`", "")
    parsed = wechat_trade.parse(io.BytesIO(text.encode("gbk")), file="x.csv").read_all()
    assert len(parsed.lines) == 3
    assert parsed.info["encoding"].startswith("gb18030")
    assert parsed.balanced


def test_a_bad_row_is_rejected_with_its_line_and_the_rest_imports() -> None:
    text = fixture("wechat_all_27").decode("utf-8-sig").replace("`95.00", "`95.0O")
    parsed = wechat_trade.parse(io.BytesIO(text.encode()), file="bill.csv").read_all()
    assert len(parsed.lines) == 4
    [error] = parsed.errors
    assert (error.file, error.line_no) == ("bill.csv", 3)
    assert error.reason == "应结订单金额: expected a decimal amount such as 12.34, got '95.0O'"
    failed = {c.name: c.difference for c in parsed.checks if not c.ok}
    assert failed["总交易单数"] == -1
    assert failed["应结订单总金额"] == -9500


def test_a_summary_that_does_not_add_up_fails_with_the_difference() -> None:
    lines = fixture("wechat_all_27").decode("utf-8-sig").splitlines()
    lines[-1] = lines[-1].replace("`154.68", "`154.86")
    parsed = wechat_trade.parse(io.BytesIO("\n".join(lines).encode()), file="b.csv").read_all()
    [failed] = [c for c in parsed.checks if not c.ok]
    assert (failed.name, failed.expected, failed.actual, failed.unit) == (
        "应结订单总金额",
        15486,
        15468,
        "CNY",
    )


def test_a_bill_cut_short_has_no_summary_and_says_so() -> None:
    lines = fixture("wechat_all_27").decode("utf-8-sig").splitlines()[:-2]
    parsed = wechat_trade.parse(io.BytesIO("\n".join(lines).encode()), file="b.csv").read_all()
    assert len(parsed.lines) == 5
    assert [(c.name, c.ok) for c in parsed.checks] == [("summary rows present", False)]


def test_an_id_mangled_by_a_spreadsheet_is_rejected() -> None:
    text = (
        fixture("wechat_all_27")
        .decode("utf-8-sig")
        .replace("4200000988202101281520000001", "4.20000E+27")
    )
    parsed = wechat_trade.parse(io.BytesIO(text.encode()), file="b.csv").read_all()
    [error] = parsed.errors
    assert "turned into a number by a spreadsheet" in error.reason


def test_rows_after_the_summary_are_reported() -> None:
    text = fixture("wechat_success_20").decode("utf-8-sig") + "`stray,`row\r\n"
    parsed = wechat_trade.parse(io.BytesIO(text.encode()), file="b.csv").read_all()
    assert [e.reason for e in parsed.errors] == ["unexpected row after the summary"]


def test_another_file_is_refused_naming_the_format_expected() -> None:
    with pytest.raises(FormatMismatch, match=r"this is not a WeChat Pay trade bill"):
        wechat_trade.parse(io.BytesIO(fixture("wechat_fund")), file="f.csv").read_all()


def test_the_fund_bill_running_balance_is_checked() -> None:
    text = fixture("wechat_fund").decode("utf-8-sig").replace("`1141.82", "`1141.28")
    parsed = wechat_fund.parse(io.BytesIO(text.encode()), file="f.csv").read_all()
    balance = parsed.checks[0]
    assert (balance.ok, balance.actual) == (False, 2)  # the links before and after it
    assert parsed.lines[0].natural_key() == (
        "wechat_fund",
        "",
        "line",
        "1900000109202101280000000001",
    )


def test_a_card_number_in_the_merchant_data_cell_is_masked_in_every_field_kept() -> None:
    """商户数据包 is the merchant's own free text: a full card number put there is masked
    in the raw row and in the extra fields kept beside the columns (PCI DSS 3.4)."""
    pan = "6222021234567890128"  # Luhn-valid
    text = fixture("wechat_all_27").decode("utf-8-sig").replace("`table=7", f"`card {pan}")
    parsed = wechat_trade.parse(io.BytesIO(text.encode()), file="bill.csv").read_all()
    line = parsed.lines[1]
    masked = "card 622202*********0128"  # as the raw row's other cells are masked
    assert pan not in line.raw
    assert f"`{masked}," in line.raw
    kept = dict(line.extra)
    assert pan not in repr(kept)
    assert kept["attach"] == masked
