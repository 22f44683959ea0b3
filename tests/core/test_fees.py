"""Fee schedules: the guides' default rates, caps, effective dates, refunds returning fees,
and UnionPay's own reconciliation sample priced to the fen."""

from datetime import date
from pathlib import Path

import pytest

from counterfoil.core.errors import ValidationError
from counterfoil.core.fees import (
    DEFAULT_RULES,
    FeeRule,
    format_rate,
    parse_rate,
    returned_fee,
    rule_for,
)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
ZM_WIDTHS = [
    3,
    11,
    11,
    6,
    10,
    19,
    12,
    4,
    2,
    21,
    2,
    32,
    2,
    6,
    10,
    13,
    13,
    4,
    15,
    2,
    2,
    6,
    2,
    4,
    32,
    1,
    21,
    15,
    1,
    15,
    32,
    13,
    13,
    8,
    32,
    13,
    13,
    12,
    2,
    1,
    32,
    98,
]


def _zm_fields(line: str) -> list[str]:
    fields, pos = [], 0
    for width in ZM_WIDTHS:
        fields.append(line[pos : pos + width])
        pos += width + 1  # one space between fields
    return fields


def _signed(value: str) -> int:
    return int(value[1:]) * (-1 if value[0] == "D" else 1)


def test_unionpay_sample_fees_come_out_to_the_fen() -> None:
    """INN15090588ZM_…: eight consumption lines charged 0.6 %; every fee and net must match."""
    credit = rule_for(DEFAULT_RULES, "credit", date(2015, 9, 5))
    assert credit is not None
    text = (SAMPLES / "unionpay" / "INN15090588ZM_802310048993424").read_bytes().decode("gbk")
    lines = [line for line in text.split("\r\n") if line.strip()]
    assert len(lines) == 8
    for line in lines:
        fields = _zm_fields(line)
        amount, fee, settled = int(fields[6]), _signed(fields[15]), _signed(fields[16])
        assert fields[0] == "S56"
        assert credit.fee(amount) == -fee, f"fee of {amount} fen"
        assert amount + fee == settled


def test_default_schedule_is_the_one_the_guides_quote() -> None:
    rates = {r.channel: (format_rate(r.rate_ppm), r.cap) for r in DEFAULT_RULES}
    assert rates == {
        "credit": ("0.60%", None),
        "debit": ("0.50%", 2000),
        "wechat": ("0.38%", None),
        "alipay": ("0.38%", None),
        "unionpay_qr": ("0.38%", None),
    }


def test_debit_fee_is_capped_at_twenty_yuan() -> None:
    debit = FeeRule("debit", 5000, cap=2000)
    assert debit.fee(100_000) == 500
    assert debit.fee(400_000) == 2000  # 0.5 % of 4,000.00 is exactly the cap
    assert debit.fee(10_000_000) == 2000


def test_fees_round_half_up_to_the_fen() -> None:
    wechat = FeeRule("wechat", 3800)
    assert wechat.fee(250) == 1  # 0.95 fen → 1
    assert wechat.fee(131) == 0  # 0.4978 fen → 0
    assert FeeRule("credit", 6000).fee(25) == 0  # 0.15
    assert FeeRule("credit", 6000).fee(84) == 1  # 0.504


def test_the_rule_in_force_is_the_latest_effective_one() -> None:
    rules = [
        FeeRule("credit", 6000, effective_from=date(2020, 1, 1)),
        FeeRule("credit", 5500, effective_from=date(2026, 11, 1)),
    ]
    assert rule_for(rules, "credit", date(2026, 10, 31)).rate_ppm == 6000  # type: ignore[union-attr]
    assert rule_for(rules, "credit", date(2026, 11, 1)).rate_ppm == 5500  # type: ignore[union-attr]
    assert rule_for(rules, "credit", date(2019, 1, 1)) is None
    assert rule_for(rules, "wechat", date(2026, 11, 1)) is None


@pytest.mark.parametrize(
    ("policy", "refund", "void", "back"),
    [
        ("pro_rata", 238400, False, 1431),  # half of 4,768.00 returns half of 28.61, half-up
        ("pro_rata", 476800, True, 2861),
        ("full", 100, False, 2861),
        ("none", 476800, True, 0),
    ],
)
def test_refunds_return_the_fee_by_policy(policy: str, refund: int, void: bool, back: int) -> None:
    assert returned_fee(2861, 476800, refund, policy, void=void) == back


def test_rates_parse_exactly() -> None:
    assert parse_rate("0.60%") == 6000
    assert parse_rate("0.38") == 3800
    assert parse_rate("1.2345%") == 12345
    with pytest.raises(ValidationError):
        parse_rate("0.6 per cent")
    with pytest.raises(ValidationError):
        parse_rate("101%")
