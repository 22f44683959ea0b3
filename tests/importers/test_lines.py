"""Statement lines: what they may hold, how card numbers are masked, and natural keys."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from counterfoil.importers import camt, wechat_trade
from counterfoil.importers.lines import Extra, StatementLine, mask_card, scrub_pans

from .helpers import FIXTURES

CST = timezone(timedelta(hours=8))
BASE = StatementLine(
    source="wechat_trade",
    line_no=2,
    raw="`…",
    amount=4768,
    currency="CNY",
    occurred_at=datetime(2021, 1, 28, 9, 15, 2, tzinfo=CST),
    txn_type="sale",
    status="success",
    platform_id="4200000986202101280346754867",
)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"amount": 47.68}, "integer fen"),
        ({"fee": 0.29}, "integer fen"),
        ({"occurred_at": datetime(2021, 1, 28, 9, 15, 2)}, "timezone-aware"),
        ({"txn_type": "purchase"}, "type"),
        ({"status": "ok"}, "status"),
        ({"source": "paypal"}, "source"),
        ({"card_masked": "6222021234567890128"}, "full card number"),
    ],
)
def test_a_line_refuses_what_it_may_not_hold(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        replace(BASE, **change)  # type: ignore[arg-type]


def test_the_fast_constructor_makes_the_same_line() -> None:
    fields = {name: getattr(BASE, name) for name in BASE.__dataclass_fields__}
    assert StatementLine.fast(dict(fields)) == BASE
    assert StatementLine.fast({k: v for k, v in fields.items() if v is not None}) == BASE
    with pytest.raises(ValueError, match="integer fen"):
        StatementLine.fast({**fields, "amount": 1.0})
    assert hash(BASE) == hash(replace(BASE))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 6222021234567890128 paid", "card 622202*********0128 paid"),
        ("卡号6222021234567890128", "卡号622202*********0128"),
        ("6222 0212 3456 7890 128", "622202*********0128"),
        ("4111-1111-1111-1111", "411111******1111"),
        ("order 6217000010001235", "order 6217000010001235"),  # fails the Luhn check
        ("id 4200000986202101280346754867", "id 4200000986202101280346754867"),  # 28 digits
        ("IBAN CH2801234000123456789", "IBAN CH2801234000123456789"),
    ],
)
def test_card_numbers_in_text_are_masked_to_first_six_and_last_four(text: str, masked: str) -> None:
    assert scrub_pans(text) == masked


def test_a_card_field_gives_its_masked_form_and_last_four() -> None:
    assert mask_card("622609******0048") == ("622609******0048", "0048")
    assert mask_card("6222021234567890128") == ("622202*********0128", "0128")
    assert mask_card("  ") == (None, None)


def test_extra_is_an_immutable_mapping_without_blanks() -> None:
    extra = Extra(("a", "b", "c"), ("1", "", " 3 "))
    assert dict(extra) == {"a": "1", "c": "3"}
    assert extra.plus("d", "4")["d"] == "4"
    assert Extra.of({"x": None, "y": "2"}) == {"y": "2"}


def test_the_same_refund_in_an_all_bill_and_a_refund_bill_has_one_key() -> None:
    all_bill = wechat_trade.parse(
        io.BytesIO((FIXTURES / "wechat_all_27.csv").read_bytes()), file="all.csv"
    ).read_all()
    refund = all_bill.lines[2]
    header = (FIXTURES / "wechat_refund_29.csv").read_text(encoding="utf-8").splitlines()[0]
    row = ",".join(
        "`" + c
        for c in [
            "2021-01-28 09:15:02",
            "wx2421b1c4370ec43b",
            "1900000109",
            "0",
            "POS-0001",
            "4200000986202101280346754867",
            "C202101280001",
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "MICROPAY",
            "REFUND",
            "CMB_CREDIT",
            "CNY",
            "0.00",
            "0.00",
            "2021-01-28 14:02:00",
            "2021-01-28 14:02:11",
            "50300108562021012805483200011",
            "R202101280001",
            "47.68",
            "0.00",
            "ORIGINAL",
            "SUCCESS",
            "午餐套餐",
            "",
            "-0.28608",
            "0.60%",
            "0.00",
            "47.68",
            "",
        ]
    )
    refund_bill = wechat_trade.parse(
        io.BytesIO(f"{header}\n{row}\n".encode()), file="refund.csv"
    ).read_all()
    assert refund_bill.lines[0].natural_key() == refund.natural_key()
    assert refund.natural_key() != all_bill.lines[0].natural_key()  # the sale it refunds


def test_a_camt054_notification_and_the_camt053_that_books_it_share_keys() -> None:
    statement = (FIXTURES / "camt053_v08_two_statements.xml").read_text(encoding="utf-8")
    notification = (
        statement.replace("camt.053.001.08", "camt.054.001.08")
        .replace("BkToCstmrStmt>", "BkToCstmrDbtCdtNtfctn>")
        .replace("<Stmt>", "<Ntfctn>")
        .replace("</Stmt>", "</Ntfctn>")
    )
    booked = camt.parse(io.BytesIO(statement.encode()), file="s.xml").read_all().lines
    notified = (
        camt.parse(io.BytesIO(notification.encode()), file="n.xml", kind="camt054").read_all().lines
    )
    assert [x.natural_key() for x in notified] == [x.natural_key() for x in booked]
    assert len({x.natural_key() for x in booked}) == len(booked)


def test_lines_without_a_reference_are_keyed_by_what_they_say() -> None:
    line = replace(
        BASE,
        source="csv_profile",
        platform_id=None,
        txn_type="credit",
        status="booked",
        counterparty="张三",
        extra=Extra(("account",), ("acc-1",)),
    )
    assert line.natural_key() == (
        "bank",
        "acc-1",
        "2021-01-28",
        "4768",
        "CNY",
        "",
        "张三",
        "",
        "credit",
    )


def test_a_line_of_a_megabyte_or_more_is_reported_and_the_next_is_read() -> None:
    """Its first megabyte alone would be misread (here a character cut in two): the line is
    reported as too long, and the reading goes on at the next line, numbered and placed."""
    from counterfoil.importers.text import MAX_LINE_BYTES, Encoding, text_lines

    long = "咖".encode() * (MAX_LINE_BYTES // 3 + 1)
    data = b"first\r\n" + long + b"\r\nlast\r\n"
    items = list(text_lines(io.BytesIO(data), file="f.csv", encoding=Encoding("utf-8", 0, "")))
    assert items[0] == (1, "first")
    assert items[2] == (3, "last")
    error = items[1]
    assert not isinstance(error, tuple)
    assert (error.line_no, error.reason) == (
        2,
        f"line 2 is longer than {MAX_LINE_BYTES} bytes: it was not read",
    )
