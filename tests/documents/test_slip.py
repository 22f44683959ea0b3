"""The slip model: what a UnionPay slip carries, built from a journal entry."""

from __future__ import annotations

import re
from typing import Any

import pytest

from counterfoil.core.errors import CardDataRefused, ValidationError
from counterfoil.documents.slip import Field, slip_from_entry
from counterfoil.documents.text import render_text

from .samples import CARD_SALE, COMPLETION, MERCHANT, PREAUTH, REFUND, WECHAT, slip_for


def fields(entry: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    slip = slip_for(entry, **kwargs)
    return {f.label: f.value for section in slip.sections() for f in section}


def test_a_card_sale_carries_every_fact_of_a_unionpay_slip() -> None:
    facts = fields(CARD_SALE)
    assert facts == {
        "商户名称 MERCHANT NAME": "老街坊小吃店（漕溪北路店）",
        "商户编号 MERCHANT NO.": "102310048993424",
        "终端编号 TERMINAL NO.": "TERM0001",
        "操作员号 OPERATOR NO.": "01",
        "卡号 CARD NO.": "622202******0123 I",
        "发卡行 ISSUER": "中国工商银行",
        "收单行 ACQUIRER": "银联商务",
        "交易类型 TXN. TYPE": "消费 SALE",
        "批次号 BATCH NO.": "000001",
        "凭证号 VOUCHER NO.": "000123",
        "授权码 AUTH NO.": "A12345",
        "日期/时间 DATE/TIME": "2026/11/20 14:05:09",
        "参考号 REFER NO.": "000049993190",
        "金额 AMOUNT": "RMB 123.50",
        "小费 TIPS": "RMB 5.00",
        "总计 TOTAL": "RMB 128.50",
        "备注 REFERENCE": "桌号 12，两位客人",
    }
    slip = slip_for(CARD_SALE)
    assert slip.copy_label == "商户存根 MERCHANT COPY"
    assert slip.needs_signature
    assert slip.reprint_label is None


def test_without_a_tip_there_is_one_amount_and_no_issuer_line_when_unknown() -> None:
    entry = {**CARD_SALE, "tip": None, "issuer": None, "acquirer": None}
    facts = fields(entry)
    assert facts["金额 AMOUNT"] == "RMB 128.50"
    assert "小费 TIPS" not in facts
    assert "总计 TOTAL" not in facts
    assert "发卡行 ISSUER" not in facts
    assert "收单行 ACQUIRER" not in facts


def test_the_time_is_the_merchants_local_time() -> None:
    utc_entry = {**CARD_SALE, "terminal_time": "2026-11-20T06:05:09+00:00"}
    assert fields(utc_entry)["日期/时间 DATE/TIME"] == "2026/11/20 14:05:09"
    london = {**MERCHANT, "timezone": "Europe/London"}
    assert fields(CARD_SALE, merchant=london)["日期/时间 DATE/TIME"] == "2026/11/20 06:05:09"


@pytest.mark.parametrize(
    "card",
    ["6222021234567890128", "622202******0128", "6222 02** **** 0128", "622202|0128"],
)
def test_the_card_is_printed_as_bin_stars_and_last_four_never_more(card: str) -> None:
    slip = slip_for({**CARD_SALE, "card": card})
    assert slip.card == "622202******0128"
    text = render_text(slip, 48)
    assert re.findall(r"622202\S*", text) == ["622202******0128"]
    assert "123456789" not in text


def test_a_card_number_in_the_remarks_is_masked_and_control_characters_dropped() -> None:
    entry = {**CARD_SALE, "remarks": "card 6222021234567890128\x1b@\x1dV0 ok"}
    slip = slip_for(entry)
    assert slip.remarks == "card 622202******0128 @ V0 ok"
    assert "\x1b" not in render_text(slip, 32)


def test_a_card_field_that_is_not_a_card_is_refused() -> None:
    with pytest.raises(CardDataRefused):
        slip_for({**CARD_SALE, "card": "6222021234567890123"})  # fails the Luhn check


def test_the_cardholder_copy_is_not_for_signing_but_keeps_the_consent() -> None:
    slip = slip_for(CARD_SALE, "cardholder")
    assert slip.copy_label == "持卡人存根 CARDHOLDER COPY"
    assert not slip.needs_signature
    text = render_text(slip, 48)
    assert "CARDHOLDER SIGNATURE" not in text
    assert "本人确认以上交易，同意将其记入本卡账户" in text
    assert "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE" in text


@pytest.mark.parametrize("number", [1, 2, 17])
def test_a_reprint_is_marked_duplicate_with_its_number(number: int) -> None:
    slip = slip_for(CARD_SALE, reprint_no=number)
    assert slip.reprint_label == f"重打印 DUPLICATE NO.{number}"
    assert f"重打印 DUPLICATE NO.{number}" in render_text(slip, 32)


def test_made_again_a_slip_differs_only_in_its_reprint_marking() -> None:
    """Invariant 7: nothing on a slip depends on when it is printed."""
    for width in (32, 48):
        first = render_text(slip_for(CARD_SALE), width)
        assert render_text(slip_for(CARD_SALE), width) == first
        reprint = render_text(slip_for(CARD_SALE, reprint_no=3), width).splitlines()
        assert [line for line in reprint if "DUPLICATE" not in line] == first.splitlines()


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("sale", "消费 SALE"),
        ("void", "撤销 VOID"),
        ("refund", "退货 REFUND"),
        ("preauth", "预授权 PRE-AUTH"),
        ("completion", "预授权完成 AUTH COMPLETE"),
        ("preauth_cancel", "预授权撤销 PRE-AUTH VOID"),
        ("reversal", "冲正 REVERSAL"),
    ],
)
def test_every_transaction_type_has_its_bilingual_name(kind: str, label: str) -> None:
    assert fields({**CARD_SALE, "type": kind})["交易类型 TXN. TYPE"] == label


def test_a_refund_names_its_original_and_shows_money_given_back() -> None:
    facts = fields(REFUND, original=CARD_SALE)
    assert facts["交易类型 TXN. TYPE"] == "退货 REFUND"
    assert facts["原凭证号 ORIG. VOUCHER NO."] == "000123"
    assert facts["原参考号 ORIG. REFER NO."] == "000049993190"
    assert facts["原授权码 ORIG. AUTH NO."] == "A12345"
    assert facts["原交易日期 ORIG. DATE"] == "2026/11/20"
    assert facts["金额 AMOUNT"] == "RMB -45.00"


def test_without_the_original_entry_a_void_names_the_keys_the_terminal_sent() -> None:
    void = {**CARD_SALE, "type": "void", "tip": None, "original": {"trace_no": "000123"}}
    facts = fields(void)
    assert facts["原凭证号 ORIG. VOUCHER NO."] == "000123"
    assert "原参考号 ORIG. REFER NO." not in facts
    assert facts["金额 AMOUNT"] == "RMB -128.50"


def test_a_completion_names_the_pre_authorisation() -> None:
    facts = fields(COMPLETION, original=PREAUTH)
    assert facts["交易类型 TXN. TYPE"] == "预授权完成 AUTH COMPLETE"
    assert facts["原凭证号 ORIG. VOUCHER NO."] == "000088"
    assert facts["原授权码 ORIG. AUTH NO."] == "PA0088"
    assert facts["原交易日期 ORIG. DATE"] == "2026/11/18"
    assert facts["金额 AMOUNT"] == "RMB 736.00"


def test_a_qr_payment_shows_the_platform_and_its_order_number_instead_of_a_card() -> None:
    slip = slip_for(WECHAT, "cardholder")
    facts = fields(WECHAT, copy="cardholder")
    assert facts["支付方式 PAYMENT"] == "微信支付 WECHAT PAY"
    assert facts["订单号 ORDER NO."] == "4200002311202611201234567890"
    assert "卡号 CARD NO." not in facts
    assert slip.title == "扫码付款凭证 QR PAYMENT SLIP"
    assert not slip.needs_signature
    assert slip.consent == ()
    for channel, name in (("alipay", "支付宝 ALIPAY"), ("unionpay_qr", "银联二维码 UNIONPAY QR")):
        assert fields({**WECHAT, "channel": channel})["支付方式 PAYMENT"] == name


def test_remarks_are_a_paragraph() -> None:
    remarks = [f for s in slip_for(CARD_SALE).sections() for f in s if f.label.startswith("备注")]
    assert remarks == [Field("备注 REFERENCE", "桌号 12，两位客人", paragraph=True)]


@pytest.mark.parametrize(
    ("change", "kwargs", "field"),
    [
        ({}, {"copy": "customer"}, "copy"),
        ({}, {"reprint_no": -1}, "reprint_no"),
        ({"type": "cashback"}, {}, "type"),
        ({"amount": 12.5}, {}, "amount"),
        ({"tip": 999_999}, {}, "amount"),
        ({"terminal_time": "2026-11-20 14:05:09"}, {}, "terminal_time"),
        ({"merchant_no": "102310048990001"}, {}, "merchant"),
    ],
)
def test_a_slip_is_refused_with_the_field_named(
    change: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    options: dict[str, Any] = {"copy": "merchant", **kwargs}
    with pytest.raises(ValidationError) as caught:
        slip_from_entry({**CARD_SALE, **change}, MERCHANT, **options)
    assert caught.value.field == field
