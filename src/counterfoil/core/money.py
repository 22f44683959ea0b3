"""Money: integer minor units (fen) with a currency. No floats, ever.

Amounts enter as integers of fen (terminal payloads) or as decimal strings in yuan
(statements: "4768.00", "-0.01", "1,234.5"); ``parse_amount`` turns the latter into fen
exactly, refusing anything with more precision than the currency allows unless told
how to round. Rounding is always explicit: half-up, away from zero on ties.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _

#: Minor-unit exponent per ISO 4217 currency (CNY: 2, so 1 yuan = 100 fen).
EXPONENTS: dict[str, int] = {
    "CNY": 2,
    "HKD": 2,
    "MOP": 2,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "JPY": 0,
    "KRW": 0,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
}
#: The largest amount JSON canonicalisation represents exactly (RFC 8785, IEEE 754).
MAX_SAFE = 2**53 - 1

_DECIMAL = re.compile(r"^([+-])?(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of minor units of one currency."""

    fen: int
    currency: str = "CNY"

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.fen + other.fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.fen - other.fen, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __str__(self) -> str:
        return f"{format_amount(self.fen, self.currency)} {self.currency}"


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency, 2)


def format_amount(fen: int, currency: str = "CNY", *, grouping: bool = True) -> str:
    """4768_00 → '4,768.00' (or '4768.00' without grouping)."""
    exp = exponent(currency)
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), 10**exp)
    body = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{body}.{frac:0{exp}d}" if exp else f"{sign}{body}"


def parse_amount(text: str, currency: str = "CNY", *, field: str = "amount") -> int:
    """'4,768.00' → 476800 fen. Extra decimals are allowed only when they are zeros."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "")
    match = _DECIMAL.match(cleaned)
    if not match:
        raise ValidationError(
            field, _("expected a decimal amount such as 12.34, got {value!r}"), value=text[:40]
        )
    sign, whole, frac = match.groups()
    frac = frac or ""
    exp = exponent(currency)
    if len(frac) > exp and frac[exp:].strip("0"):
        raise ValidationError(
            field,
            _("expected at most {places} decimal places, got {value!r}"),
            places=exp,
            value=text[:40],
        )
    frac = (frac[:exp]).ljust(exp, "0")
    fen: int = int(whole) * 10**exp + (int(frac) if frac else 0)
    return -fen if sign == "-" else fen


def div_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding half away from zero: the rounding of fees."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
