"""What a terminal reports when it closes its batch (批结算), checked field by field.

As a UnionPay POS settlement request (ISO 8583 0500) does, the terminal sends its batch's
totals: the debit count and amount (money taken from cardholders: sales and pre-auth
completions) and the credit count and amount (money given back: refunds). Voids and
reversals cancel their originals and are counted nowhere. The totals come either for
all cards at once (``debit_count``, ``debit_amount``, ``credit_count``,
``credit_amount``) or split into domestic and foreign cards (内卡 / 外卡: ``domestic``
and ``foreign`` objects with the same four numbers; the 0500's field 48 carries both),
or both ways when they agree. The terminal may add its list of transactions
(``transactions``: ``trace_no``, ``type``, ``amount`` and, for a foreign card,
``foreign: true``), as its batch upload would carry them.

Pure: no database. Every error names the field and what was expected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from counterfoil.core.errors import ValidationError
from counterfoil.core.models import (
    MERCHANT_NO,
    OPERATOR,
    SIX_DIGITS,
    TERMINAL_ID,
    parse_time,
)
from counterfoil.core.money import EXPONENTS
from counterfoil.i18n import _

#: The types a terminal counts, and on which side: debit takes money, credit gives it back.
SIDES: dict[str, str] = {"sale": "debit", "completion": "debit", "refund": "credit"}
#: Card groups: the terminal's totals for all cards, or split into 内卡 and 外卡.
GROUPS = ("all", "domestic", "foreign")
TOTAL_FIELDS = ("debit_count", "debit_amount", "credit_count", "credit_amount")
FIELDS = frozenset(
    {
        "merchant_no",
        "terminal_id",
        "batch_no",
        "currency",
        *TOTAL_FIELDS,
        "domestic",
        "foreign",
        "transactions",
        "terminal_time",
        "operator",
    }
)
LISTED_FIELDS = frozenset({"trace_no", "type", "amount", "foreign"})
MAX_COUNT = 999_999  # six digits: more than a terminal's batch ever holds
MAX_AMOUNT = 10**15  # fen: far beyond a batch, within a BIGINT
MAX_LISTED = 10_000


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts and amounts (fen) of one card group, as a settlement request carries them."""

    debit_count: int = 0
    debit_amount: int = 0
    credit_count: int = 0
    credit_amount: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.debit_count + other.debit_count,
            self.debit_amount + other.debit_amount,
            self.credit_count + other.credit_count,
            self.credit_amount + other.credit_amount,
        )

    def side(self, side: str) -> tuple[int, int]:
        """(count, amount) of "debit" or "credit"."""
        if side == "debit":
            return self.debit_count, self.debit_amount
        return self.credit_count, self.credit_amount

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in TOTAL_FIELDS}


@dataclass(frozen=True, slots=True)
class Listed:
    """One transaction of the terminal's own list."""

    trace_no: str
    type: str
    amount: int
    foreign: bool = False

    @property
    def side(self) -> str:
        return SIDES[self.type]

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "trace_no": self.trace_no,
            "type": self.type,
            "amount": self.amount,
        }
        if self.foreign:
            found["foreign"] = True
        return found


@dataclass(frozen=True, slots=True)
class Report:
    """A terminal's batch close, checked."""

    merchant_no: str
    terminal_id: str
    batch_no: str
    currency: str
    totals: dict[str, Totals]  # {"all": …} or {"domestic": …, "foreign": …}
    transactions: tuple[Listed, ...] | None = None
    terminal_time: str | None = None
    operator: str | None = None

    @property
    def split(self) -> bool:
        """Whether the terminal split its totals into domestic and foreign cards."""
        return "all" not in self.totals

    @property
    def overall(self) -> Totals:
        return sum(self.totals.values(), Totals())

    def as_dict(self) -> dict[str, Any]:
        """The report in a canonical form: what is stored and hashed."""
        found: dict[str, Any] = {
            "merchant_no": self.merchant_no,
            "terminal_id": self.terminal_id,
            "batch_no": self.batch_no,
            "currency": self.currency,
            **self.overall.as_dict(),
        }
        if self.split:
            found["domestic"] = self.totals["domestic"].as_dict()
            found["foreign"] = self.totals["foreign"].as_dict()
        if self.transactions is not None:
            found["transactions"] = [t.as_dict() for t in self.transactions]
        if self.terminal_time:
            found["terminal_time"] = self.terminal_time
        if self.operator:
            found["operator"] = self.operator
        return found

    def digest(self) -> str:
        """SHA-256 of the canonical report: the same report twice has the same digest."""
        return hashlib.sha256(orjson.dumps(self.as_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _number(value: Any, field: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValidationError(
            field, _("expected a whole number from 0 to {maximum}"), maximum=limit
        )
    return value


def _totals(payload: Mapping[str, Any], prefix: str = "") -> Totals:
    missing = [name for name in TOTAL_FIELDS if payload.get(name) is None]
    if missing:
        raise ValidationError(
            prefix + missing[0],
            _("is required: expected the counts and amounts {fields}"),
            fields=", ".join(TOTAL_FIELDS),
        )
    counts = {
        name: _number(payload[name], prefix + name, MAX_AMOUNT if "amount" in name else MAX_COUNT)
        for name in TOTAL_FIELDS
    }
    for side in ("debit", "credit"):
        if (counts[f"{side}_count"] == 0) != (counts[f"{side}_amount"] == 0):
            raise ValidationError(
                f"{prefix}{side}_amount",
                _("expected an amount of 0 with a count of 0, and more than 0 otherwise"),
            )
    return Totals(**counts)


def _group(payload: Mapping[str, Any], name: str) -> Totals:
    value = payload.get(name)
    if value is None:
        return Totals()
    if not isinstance(value, Mapping):
        raise ValidationError(
            name, _("expected an object with {fields}"), fields=", ".join(TOTAL_FIELDS)
        )
    unknown = sorted(set(value) - set(TOTAL_FIELDS))
    if unknown:
        raise ValidationError(f"{name}.{str(unknown[0])[:40]}", _("is not a field of card totals"))
    return _totals(value, f"{name}.")


def _text(payload: Mapping[str, Any], name: str, pattern: Any, expected: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise ValidationError(name, _("expected {expected}"), expected=expected)
    return value


def _listed(value: Any) -> tuple[Listed, ...]:
    if not isinstance(value, list):
        raise ValidationError("transactions", _("expected a list of transactions"))
    if len(value) > MAX_LISTED:
        raise ValidationError(
            "transactions", _("expected at most {limit} transactions"), limit=MAX_LISTED
        )
    found: list[Listed] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"transactions[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(where, _("expected an object with trace_no, type and amount"))
        unknown = sorted(set(item) - LISTED_FIELDS)
        if unknown:
            raise ValidationError(
                f"{where}.{str(unknown[0])[:40]}", _("is not a field of a listed transaction")
            )
        trace = _text(item, "trace_no", SIX_DIGITS, _("6 digits"))
        if trace in seen:
            raise ValidationError(f"{where}.trace_no", _("expected each trace number once"))
        seen.add(trace)
        kind = item.get("type")
        if kind not in SIDES:
            raise ValidationError(
                f"{where}.type", _("expected one of {options}"), options=", ".join(SIDES)
            )
        amount = item.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
            raise ValidationError(
                f"{where}.amount", _("expected a whole number of fen (minor units), such as 1250")
            )
        foreign = item.get("foreign", False)
        if not isinstance(foreign, bool):
            raise ValidationError(f"{where}.foreign", _("expected true or false"))
        found.append(Listed(trace, str(kind), amount, foreign))
    return tuple(sorted(found, key=lambda t: t.trace_no))


def parse_report(payload: Any) -> Report:
    """Check a terminal's batch close; raise ``ValidationError`` naming the field."""
    if not isinstance(payload, Mapping):
        raise ValidationError("$", _("expected a JSON object"))
    unknown = sorted(str(k) for k in set(payload) - FIELDS)
    if unknown:
        raise ValidationError(unknown[0][:40], _("is not a field of a batch close"))
    merchant_no = _text(payload, "merchant_no", MERCHANT_NO, _("15 digits"))
    terminal_id = _text(payload, "terminal_id", TERMINAL_ID, _("8 characters, digits or capitals"))
    batch_no = _text(payload, "batch_no", SIX_DIGITS, _("6 digits"))
    currency = payload.get("currency", "CNY")
    if currency not in EXPONENTS:
        raise ValidationError("currency", _("expected an ISO 4217 code such as CNY"))
    split = payload.get("domestic") is not None or payload.get("foreign") is not None
    given = any(payload.get(name) is not None for name in TOTAL_FIELDS)
    totals: dict[str, Totals]
    if split:
        totals = {"domestic": _group(payload, "domestic"), "foreign": _group(payload, "foreign")}
        if given:
            overall = _totals(payload)
            if overall != totals["domestic"] + totals["foreign"]:
                raise ValidationError(
                    "debit_count",
                    _("expected the totals of all cards to equal domestic plus foreign"),
                )
    else:
        totals = {"all": _totals(payload)}
    transactions: tuple[Listed, ...] | None = None
    if payload.get("transactions") is not None:
        transactions = _listed(payload["transactions"])
        listed = Totals(
            sum(1 for t in transactions if t.side == "debit"),
            sum(t.amount for t in transactions if t.side == "debit"),
            sum(1 for t in transactions if t.side == "credit"),
            sum(t.amount for t in transactions if t.side == "credit"),
        )
        if listed != sum(totals.values(), Totals()):
            raise ValidationError(
                "transactions", _("expected the listed transactions to add up to the totals")
            )
    terminal_time: str | None = None
    if payload.get("terminal_time") is not None:
        terminal_time = parse_time(payload["terminal_time"]).isoformat()
    operator: str | None = None
    if payload.get("operator") is not None:
        operator = _text(payload, "operator", OPERATOR, _("1 to 16 letters, digits or _-."))
    return Report(
        merchant_no,
        terminal_id,
        batch_no,
        str(currency),
        totals,
        transactions,
        terminal_time,
        operator,
    )
