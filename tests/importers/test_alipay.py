"""Alipay trade bill and account statement (GBK, # comments, footer totals)."""

from __future__ import annotations

import io

import pytest

from counterfoil.importers import alipay_account, alipay_trade

from .helpers import FIXTURES, assert_golden


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.csv").read_bytes()


def test_trade_bill_matches_its_golden_file() -> None:
    result = alipay_trade.parse(io.BytesIO(fixture("alipay_trade")), file="alipay_trade.csv")
    assert_golden(result, FIXTURES / "alipay_trade.expected.json")


@pytest.mark.parametrize("name", ["alipay_account_old", "alipay_account_new"])
def test_account_statements_match_their_golden_files(name: str) -> None:
    result = alipay_account.parse(io.BytesIO(fixture(name)), file=f"{name}.csv")
    assert_golden(result, FIXTURES / f"{name}.expected.json")


def test_the_trade_bill_is_gbk_and_its_ids_lose_their_tab() -> None:
    parsed = alipay_trade.parse(io.BytesIO(fixture("alipay_trade")), file="a.csv").read_all()
    assert parsed.info["encoding"].startswith("gb18030")
    assert parsed.info["account"] == "20881234567890120156"
    sale, _, refund = parsed.lines
    assert sale.platform_id == "2019091622001458860515315453"
    assert (sale.amount, sale.fee, sale.net) == (3000, 18, 2982)
    assert (refund.txn_type, refund.amount, refund.fee, refund.refund_id) == (
        "refund",
        -3000,
        -18,
        "2019091615000001",
    )
    assert parsed.balanced


def test_half_width_brackets_in_the_header_read_the_same() -> None:
    text = fixture("alipay_trade").decode("gbk").replace("（元）", "(元)")
    parsed = alipay_trade.parse(io.BytesIO(text.encode("gbk")), file="a.csv").read_all()
    assert [x.amount for x in parsed.lines] == [3000, 8800, -3000]


def test_a_footer_that_does_not_add_up_fails() -> None:
    text = fixture("alipay_trade").decode("gbk").replace("商家实收共110.00元", "商家实收共111.00元")
    parsed = alipay_trade.parse(io.BytesIO(text.encode("gbk")), file="a.csv").read_all()
    [failed] = [c for c in parsed.checks if not c.ok]
    assert (failed.name, failed.expected, failed.actual) == ("交易合计 商家实收", 11100, 11000)


def test_a_missing_footer_is_a_failed_check() -> None:
    text = "\n".join(
        line for line in fixture("alipay_trade").decode("gbk").splitlines() if "合计" not in line
    )
    parsed = alipay_trade.parse(io.BytesIO(text.encode("gbk")), file="a.csv").read_all()
    assert {c.name for c in parsed.checks if not c.ok} == {"#交易合计 present", "#退款合计 present"}


def test_a_bad_row_is_reported_and_the_others_import() -> None:
    text = (
        fixture("alipay_account_old")
        .decode("gbk")
        .replace("2019-09-16 18:00:00", "2019-13-16 18:00:00")
    )
    parsed = alipay_account.parse(io.BytesIO(text.encode("gbk")), file="acct.csv").read_all()
    assert len(parsed.lines) == 4
    [error] = parsed.errors
    assert (error.line_no, error.reason.split(":")[0]) == (10, "发生时间")


def test_the_account_running_balance_is_checked() -> None:
    text = fixture("alipay_account_new").decode("gbk").replace("529.82", "529.28")
    parsed = alipay_account.parse(io.BytesIO(text.encode("gbk")), file="a.csv").read_all()
    assert not parsed.checks[0].ok


def test_rows_after_the_end_of_the_table_are_reported() -> None:
    text = fixture("alipay_account_old").decode("gbk") + "1,2,3\n"
    parsed = alipay_account.parse(io.BytesIO(text.encode("gbk")), file="a.csv").read_all()
    assert [e.reason for e in parsed.errors] == ["a row after the end of the table"]
