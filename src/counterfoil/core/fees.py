"""Fee schedules: a rate per channel with an optional cap, effective from a date.

Rates are integers of parts per million (0.60 % = 6000 ppm), fees are rounded half-up
to the fen, a cap bounds one transaction's fee. The default schedule is the one the
merchant guides quote: credit 0.60 %, debit 0.50 % capped at 20.00, WeChat, Alipay
and UnionPay QR 0.38 %.

How a void or refund treats the fee is a merchant setting: ``pro_rata`` (default; the
refunded share of the original fee comes back, a void returns all of it), ``full``
(any refund returns the whole original fee) or ``none`` (the fee stays charged).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from counterfoil.core.errors import ValidationError
from counterfoil.core.money import div_half_up
from counterfoil.i18n import _

PPM = 1_000_000
REFUND_FEE_POLICIES = ("pro_rata", "full", "none")


@dataclass(frozen=True, slots=True)
class FeeRule:
    channel: str
    rate_ppm: int
    cap: int | None = None  # fen
    effective_from: date = date(2000, 1, 1)

    def fee(self, amount: int) -> int:
        """The fee on ``amount`` fen: half-up to the fen, then capped."""
        fee = div_half_up(amount * self.rate_ppm, PPM)
        if self.cap is not None and abs(fee) > self.cap:
            fee = self.cap if fee > 0 else -self.cap
        return fee


DEFAULT_RULES: tuple[FeeRule, ...] = (
    FeeRule("credit", 6000),
    FeeRule("debit", 5000, cap=2000),
    FeeRule("wechat", 3800),
    FeeRule("alipay", 3800),
    FeeRule("unionpay_qr", 3800),
)

_PERCENT = re.compile(r"^(\d{1,3})(?:\.(\d{1,4}))?\s*%?$")


def parse_rate(text: str) -> int:
    """'0.60%' or '0.6' (per cent) → 6000 ppm. Exact: no float is involved."""
    match = _PERCENT.match(text.strip())
    if not match:
        raise ValidationError(
            "rate", _("expected a percentage such as 0.60%, got {value!r}"), value=text[:20]
        )
    whole, frac = match.group(1), (match.group(2) or "").ljust(4, "0")
    ppm = int(whole) * 10_000 + int(frac)
    if ppm > PPM:
        raise ValidationError("rate", _("expected a rate of at most 100%"))
    return ppm


def format_rate(ppm: int) -> str:
    """6000 → '0.60%', 3800 → '0.38%', 12345 → '1.2345%': two decimals at least."""
    whole, frac = divmod(ppm, 10_000)
    digits = f"{frac:04d}".rstrip("0").ljust(2, "0")
    return f"{whole}.{digits}%"


def rule_for(rules: Iterable[FeeRule], channel: str, on: date) -> FeeRule | None:
    """The rule in force for ``channel`` on ``on``: the latest effective date not after it."""
    best: FeeRule | None = None
    for rule in rules:
        if (
            rule.channel == channel
            and rule.effective_from <= on
            and (best is None or rule.effective_from > best.effective_from)
        ):
            best = rule
    return best


def returned_fee(
    original_fee: int, original_amount: int, amount: int, policy: str, *, void: bool = False
) -> int:
    """How much of ``original_fee`` comes back when ``amount`` of it is voided or refunded."""
    if policy == "none" or original_amount == 0:
        return 0
    if void or policy == "full" or amount >= original_amount:
        return original_fee
    return div_half_up(original_fee * amount, original_amount)
