"""Payout breaks in words a person can act on, under a stable id.

A break's id is a hash of what it is — merchant, outcome, the payout's settlement date
and currency, the credit's import and line — so the same break found again by a later
run keeps its id. The explanation is a catalogue message with parameters (and English
beside them), so each reader sees it in their own language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from counterfoil.core.money import format_amount
from counterfoil.i18n import _, translate
from counterfoil.reconcile.payouts_match import Credit, Expected, Group

MESSAGES: Final[Mapping[str, str]] = {
    "missing_in_statement": _(
        "payout of {amount} expected on {settle_date} (net of business days {days}) is not "
        "among the bank credits up to {as_of}: ask the acquirer whether and when it was paid"
    ),
    "missing_in_journal": _(
        "bank credit of {amount} on {booked} (line {line_no} of import {import_id}, "
        "reference {reference}) pays no expected payout: find what it settles, or record "
        "the missing transactions"
    ),
    "amount_mismatch": _(
        "payout expected on {settle_date}: {expected} expected, {credited} credited on "
        "{booked} (line {line_no} of import {import_id}), {difference} apart: check the "
        "acquirer's fees and deductions for business days {days}"
    ),
    "duplicate": _(
        "bank credit of {amount} on {booked} (line {line_no} of import {import_id}) pays "
        "again the payout of {settle_date}, already credited on {first_booked} (line "
        "{first_line_no} of import {first_import_id}): ask the bank or acquirer to reverse it"
    ),
}


@dataclass(slots=True)
class PayoutBreak:
    break_id: str
    outcome: str
    message: str
    params: dict[str, Any]
    day: date
    currency: str
    settle_date: date | None
    import_id: int | None
    line_no: int | None
    amount_expected: int | None
    amount_credited: int | None

    def render(self, locale: str | None = None) -> str:
        return translate(self.message, locale, **self.params)


def payout_break_id(
    merchant_no: str, outcome: str, expected: Expected | None, credit: Credit | None
) -> str:
    e = f"{expected.settle_date.isoformat()}:{expected.currency}" if expected else ""
    c = f"{credit.import_id}:{credit.line_no}" if credit else ""
    text = f"payout|{merchant_no}|{outcome}|{e}|{c}"
    return "P" + hashlib.sha256(text.encode()).hexdigest()[:23]


def _days(e: Expected) -> str:
    return ", ".join(d.isoformat() for d in e.days) or e.settle_date.isoformat()


def explain(merchant_no: str, group: Group, as_of: date) -> PayoutBreak | None:
    """The break a group is (None for matched and pending)."""
    outcome = group.outcome
    if outcome not in MESSAGES:
        return None
    e = group.expected[0] if group.expected else None
    c = group.credits[0] if group.credits else None
    currency = e.currency if e is not None else (c.currency if c is not None else "CNY")
    params: dict[str, Any] = {"as_of": as_of.isoformat()}
    if e is not None:
        params.update(
            settle_date=e.settle_date.isoformat(),
            days=_days(e),
            expected=format_amount(e.amount, e.currency),
            amount=format_amount(e.amount, e.currency),
        )
    if c is not None:
        params.update(
            booked=c.booked.isoformat(),
            import_id=c.import_id,
            line_no=c.line_no,
            reference=c.reference or "-",
            credited=format_amount(c.amount, c.currency),
            amount=format_amount(c.amount, c.currency),
        )
    if e is not None and c is not None:
        params["difference"] = format_amount(abs(e.amount - c.amount), currency)
    if outcome == "duplicate" and group.other is not None:
        paid = group.pays[0] if group.pays else None
        params.update(
            settle_date=paid.settle_date.isoformat() if paid else "-",
            first_booked=group.other.booked.isoformat(),
            first_import_id=group.other.import_id,
            first_line_no=group.other.line_no,
        )
    day = e.settle_date if e is not None else (c.booked if c is not None else as_of)
    return PayoutBreak(
        break_id=payout_break_id(merchant_no, outcome, e, c),
        outcome=outcome,
        message=MESSAGES[outcome],
        params=params,
        day=day,
        currency=currency,
        settle_date=e.settle_date if e else None,
        import_id=c.import_id if c else None,
        line_no=c.line_no if c else None,
        amount_expected=e.amount if e else None,
        amount_credited=c.amount if c else None,
    )
