"""Money is integer fen; parsing and formatting are exact; rounding is half-up."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from counterfoil.core.errors import ValidationError
from counterfoil.core.money import Money, div_half_up, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("4768.00", 476800),
        ("4,786.00", 478600),
        ("-0.01", -1),
        ("12.5", 1250),
        ("0", 0),
        ("¥1,234.56", 123456),
        ("0.10000", 10),
        ("+3.20", 320),
    ],
)
def test_parse_amount_is_exact(text: str, fen: int) -> None:
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["12.345", "abc", "", "1.2.3", "1e5", "NaN"])
def test_parse_amount_refuses_what_is_not_an_exact_amount(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(text)
    assert caught.value.field == "amount"


def test_format_amount_groups_thousands() -> None:
    assert format_amount(476800) == "4,768.00"
    assert format_amount(-5) == "-0.05"
    assert format_amount(1000, "JPY") == "1,000"
    assert str(Money(476800)) == "4,768.00 CNY"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_then_parse_round_trips(fen: int) -> None:
    assert parse_amount(format_amount(fen)) == fen


def test_money_refuses_mixing_currencies() -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money(100, "CNY") + Money(100, "USD")


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (5, 10, 1),
        (4, 10, 0),
        (15, 10, 2),
        (-5, 10, -1),
        (-4, 10, 0),
        (2860_8, 10, 2861),
    ],
)
def test_div_half_up_rounds_ties_away_from_zero(num: int, den: int, expected: int) -> None:
    assert div_half_up(num, den) == expected


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(1, 10**7))
def test_div_half_up_is_within_half_of_the_true_quotient(num: int, den: int) -> None:
    q = div_half_up(num, den)
    assert abs(q * den - num) * 2 <= den
