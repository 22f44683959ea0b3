"""A terminal's payload is validated field by field; every error names its field."""

from typing import Any

import pytest

from conftest import sale
from counterfoil.core.errors import CardDataRefused, ValidationError
from counterfoil.core.models import parse_transaction


def errors_of(payload: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_transaction(payload)
    return {e["field"]: e["message"].format(**e["params"]) for e in caught.value.params["errors"]}


def test_a_good_sale_parses_and_masks_its_card() -> None:
    txn = parse_transaction(sale(card="6222021234567890128"), b"k" * 32)
    assert txn.amount == 476800
    assert txn.card is not None
    assert txn.body()["card"] == "622202******0128"
    assert txn.key() == "T|TERM0001|000001|000001"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("merchant_no", "12345", "15 digits"),
        ("terminal_id", "term1", "8 characters"),
        ("batch_no", "1", "6 digits"),
        ("trace_no", 12, "6 digits"),
        ("type", "purchase", "sale, void"),
        ("channel", "cash", "credit, debit"),
        ("amount", 12.5, "whole number of fen"),
        ("amount", 0, "from 1"),
        ("amount", True, "whole number of fen"),
        ("currency", "XXX", "ISO 4217"),
        ("terminal_time", "2026-11-20 14:05:09", "with its offset"),
        ("rrn", "12", "12 letters or digits"),
        ("entry_mode", "telepathy", "chip"),
        ("offline", "yes", "true or false"),
    ],
)
def test_each_bad_field_is_named_with_what_was_expected(
    field: str, value: object, expected: str
) -> None:
    found = errors_of(sale(**{field: value}))
    assert field in found
    assert expected in found[field]


def test_all_errors_are_reported_together() -> None:
    found = errors_of(sale(merchant_no="1", amount=-5, colour="red"))
    assert {"merchant_no", "amount", "colour"} <= set(found)


def test_qr_payments_need_an_order_number_but_no_batch_or_trace() -> None:
    qr = sale(channel="wechat", card=None, order_no="4200001234202611201234567890")
    del qr["batch_no"], qr["trace_no"]
    txn = parse_transaction(qr)
    assert txn.key() == "Q|wechat|4200001234202611201234567890"
    assert "order_no" in errors_of(sale(channel="alipay", card=None))


def test_links_need_an_original_and_sales_may_not_have_one() -> None:
    assert "original" in errors_of(sale(type="refund"))
    assert "original" in errors_of(sale(original={"trace_no": "000001"}))
    assert "original.colour" in errors_of(sale(type="void", original={"colour": "x"}))


def test_card_payments_need_a_card_and_tips_fit_in_the_amount() -> None:
    assert "card" in errors_of(sale(card=None))
    assert "tip" in errors_of(sale(tip=476801))


def test_a_cvv_anywhere_is_refused_before_validation() -> None:
    with pytest.raises(CardDataRefused):
        parse_transaction(sale(cvv2="999"))


def test_a_full_card_number_in_remarks_is_masked() -> None:
    txn = parse_transaction(sale(remarks="card 6222021234567890128 swiped twice"))
    assert txn.remarks == "card 622202******0128 swiped twice"
