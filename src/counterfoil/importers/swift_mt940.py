"""SWIFT MT940 customer statements, read with the ``mt-940`` library.

A file holds one or more statements, each starting at ``:20:``: ``:25:`` the account,
``:28C:`` (old ``:28:``) the statement number, ``:60F:``/``:60M:`` the opening balance,
pairs of ``:61:`` (the movement) and ``:86:`` (free text, different at every bank),
then ``:62F:``/``:62M:`` the closing balance. Bank preambles before ``:20:`` and the
``-`` separators are ignored, as the library does. The file is read statement by
statement, so memory follows the largest statement, not the file.

Each ``:61:`` becomes a line numbered by its physical line: ``credit`` / ``debit`` (C, D),
``reversal`` (RC, RD), ``fee`` for the SWIFT type codes CHG and COM; dated by its entry
(booking) date, else its value date, at midnight in ``tz`` (UTC unless told). The
customer reference is ``order_no`` (NONREF is none), the bank reference
``platform_id``, the ``:86:`` text ``description`` (for a structured ``:86:``, its
posting text and purpose). Per statement, opening balance + movements must give the
closing balance; where the bank states the number and sum of the debit (``:90D:``) and
credit (``:90C:``) entries, they must match the movements (credits are those that
bring money in, reversals of debits included).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import IO, Any, Final

import mt940

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.importers.lines import (
    ControlCheck,
    Extra,
    LineError,
    StatementLine,
    check,
    line_error,
    rejected,
    scrub_pans,
)
from counterfoil.importers.result import Event, Info, ParseResult
from counterfoil.importers.text import (
    SNIFF_BYTES,
    Encoding,
    count_of,
    peek,
    sniff_encoding,
    text_lines,
    to_fen,
)

SOURCE: Final = "mt940"
TITLE: Final = "SWIFT MT940 statement"
TYPES: Final = {"C": "credit", "D": "debit", "RC": "reversal", "RD": "reversal"}
FEE_CODES: Final = frozenset({"CHG", "COM"})
OPENING: Final = ("final_opening_balance", "intermediate_opening_balance", "opening_balance")
CLOSING: Final = ("final_closing_balance", "intermediate_closing_balance", "closing_balance")
KEPT: Final = ("statement_number", "sequence_number", "transaction_reference", "related_reference")
DETAILS: Final = (
    "extra_details",
    "funds_code",
    "applicant_iban",
    "applicant_bin",
    "posting_text",
    "purpose",
    "end_to_end_reference",
)

_TAG: Final = re.compile(r"^:(?!86:)[0-9]{2}[A-Z]?:")  # a tag that ends a movement's text

Block = list[tuple[int, str]]


def parse(
    stream: IO[bytes], *, file: str, tz: tzinfo = UTC, encoding: str | None = None
) -> ParseResult:
    """Read an MT940 file from ``stream``. ``encoding`` overrides the detection (UTF-8 /
    GB18030), e.g. ``latin-1`` for a European bank's file."""
    return ParseResult(SOURCE, file, _events(stream, file, tz, encoding))


def _events(stream: IO[bytes], file: str, tz: tzinfo, codec: str | None) -> Iterator[Event]:
    head, stream = peek(stream)
    encoding = (
        Encoding(codec, 0, "given")
        if codec
        else sniff_encoding(head, file=file, complete=len(head) < SNIFF_BYTES)
    )
    yield Info("encoding", f"{encoding.codec} ({encoding.how})")
    block: Block = []
    statements = 0
    for item in text_lines(stream, file=file, encoding=encoding):
        if isinstance(item, LineError):
            yield item
            continue
        if item[1].startswith(":20:"):
            if block:
                statements += 1
                yield from _statement(block, file, tz, statements)
            block = []
        if block or item[1].startswith(":20:"):
            block.append(item)
    if block:
        statements += 1
        yield from _statement(block, file, tz, statements)
    yield Info("statements", str(statements))


def _statement(block: Block, file: str, tz: tzinfo, number: int) -> Iterator[Event]:
    starts = [i for i, (_no, text) in enumerate(block) if text.startswith(":61:")]
    tags = [i for i, (_no, text) in enumerate(block) if _TAG.match(text)]
    try:
        transactions = mt940.models.Transactions()
        transactions.parse("\n".join(text for _no, text in block))
    except Exception as exc:
        for i in starts or [0]:
            yield line_error(
                file,
                block[i][0],
                block[i][1],
                _("the statement could not be read: {problem}"),
                problem=str(exc)[:200] or type(exc).__name__,
            )
        return
    data = transactions.data
    yield from _facts(data, number)
    scope = (
        f"statement {data.get('statement_number', '?')}/"
        f"{data.get('sequence_number') or '-'} ({data.get('transaction_reference', '')})"
    )
    exact = len(starts) == len(transactions)
    moved: dict[str, int] = {}
    sides = {"C": [0, 0], "D": [0, 0]}  # credits and debits: [movements, minor units]
    rejected_count = 0
    for index, transaction in enumerate(transactions):
        first = starts[index] if exact else 0
        after = next((i for i in tags if i > first), len(block)) if exact else len(block)
        line_no, raw = block[first][0], "\n".join(text for _no, text in block[first:after])
        try:
            line = _line(transaction.data, data, line_no, scrub_pans(raw), tz)
        except ValidationError as exc:
            rejected_count += 1
            yield rejected(file, line_no, raw, exc)
            continue
        moved[line.currency] = moved.get(line.currency, 0) + line.amount
        side = sides["C" if line.amount >= 0 else "D"]
        side[0] += 1
        side[1] += abs(line.amount)
        yield line
    yield from _balance_check(data, moved, scope, rejected_count)
    yield from _sum_checks(data, sides, set(moved), scope, rejected_count)


def _facts(data: dict[str, Any], number: int) -> Iterator[Info]:
    """``statement.N.key`` → text: references, account, and balances as 'minor ccy date'."""
    for key in (
        "transaction_reference",
        "account_identification",
        "statement_number",
        "sequence_number",
    ):
        if data.get(key):
            yield Info(f"statement.{number}.{key}", scrub_pans(str(data[key]).strip()))
    for key in (*OPENING, *CLOSING, "available_balance", "forward_available_balance"):
        balance = data.get(key)
        amount = getattr(balance, "amount", None)
        try:
            minor, currency = _fen(amount, key)
        except ValidationError:
            continue
        day = getattr(balance, "date", None)
        when = day.isoformat() if isinstance(day, date) else ""
        yield Info(f"statement.{number}.{key}", f"{minor} {currency} {when}".strip())


def _fen(amount: Any, field: str) -> tuple[int, str]:
    """An mt940 Amount (a Decimal and a currency) as minor units, exactly."""
    value, currency = getattr(amount, "amount", None), getattr(amount, "currency", None)
    if not isinstance(value, Decimal) or not isinstance(currency, str) or len(currency) != 3:
        raise ValidationError(field, _("the amount or its currency is missing"))
    return to_fen(format(value, "f"), field, currency), currency


def _day(value: Any, tz: tzinfo) -> datetime | None:
    return datetime.combine(value, time(0), tz) if isinstance(value, date) else None


def _line(
    tx: dict[str, Any], statement: dict[str, Any], line_no: int, raw: str, tz: tzinfo
) -> StatementLine:
    amount, currency = _fen(tx.get("amount"), ":61: amount")
    status = str(tx.get("status") or "")
    txn_type = TYPES.get(status)
    if txn_type is None:
        raise ValidationError(
            ":61: mark", _("expected C, D, RC or RD, got {value!r}"), value=status[:4]
        )
    code = str(tx.get("id") or "")
    if code[1:] in FEE_CODES and txn_type != "reversal":
        txn_type = "fee"
    booked, valued = _day(tx.get("entry_date"), tz), _day(tx.get("date"), tz)
    occurred_at = booked or valued
    if occurred_at is None:
        raise ValidationError(":61: date", _("the movement has no date"))
    reference = str(tx.get("customer_reference") or "").strip()
    bank_reference = str(tx.get("bank_reference") or "").strip()
    details = str(tx.get("transaction_details") or "").strip() or " ".join(
        str(tx[key]).strip() for key in ("posting_text", "purpose") if tx.get(key)
    )
    counterparty = str(tx.get("applicant_name") or tx.get("extra_details") or "").strip()
    extra = {key: str(statement.get(key) or "").strip() for key in KEPT}
    extra.update({key: scrub_pans(str(tx.get(key) or "").strip()) for key in DETAILS})
    extra.update(
        {
            "account": str(statement.get("account_identification") or "").strip(),
            "value_date": valued.date().isoformat() if valued else "",
            "entry_date": booked.date().isoformat() if booked else "",
            "type_code": code,
            "customer_reference": reference,
        }
    )
    return StatementLine(
        source=SOURCE,
        line_no=line_no,
        raw=raw,
        occurred_at=occurred_at,
        amount=amount,
        currency=currency,
        txn_type=txn_type,
        status="booked",
        platform_id=bank_reference if bank_reference and bank_reference != "NONREF" else None,
        order_no=reference if reference and reference != "NONREF" else None,
        counterparty=scrub_pans(counterparty) or None,
        description=scrub_pans(details) or None,
        extra=Extra.of(extra),
    )


def _balance_check(
    data: dict[str, Any], moved: dict[str, int], scope: str, rejected_count: int
) -> Iterator[ControlCheck]:
    opening = next((data[k] for k in OPENING if data.get(k) is not None), None)
    closing = next((data[k] for k in CLOSING if data.get(k) is not None), None)
    if opening is None or closing is None:
        yield ControlCheck(
            "opening and closing balance present",
            2,
            (opening is not None) + (closing is not None),
            False,
            scope=scope,
        )
        return
    try:
        start, start_currency = _fen(getattr(opening, "amount", None), "opening balance")
        end, end_currency = _fen(getattr(closing, "amount", None), "closing balance")
    except ValidationError as exc:
        yield ControlCheck("balances readable", 1, 0, False, scope=scope, detail=exc.render("en"))
        return
    currencies = {start_currency, end_currency, *moved}
    total = start + sum(moved.values())
    problems = []
    if rejected_count:
        problems.append(f"{rejected_count} rejected movement(s) not counted")
    if len(currencies) > 1:
        problems.append(f"currencies differ: {', '.join(sorted(currencies))}")
    yield ControlCheck(
        "opening balance + movements = closing balance",
        end,
        total,
        len(currencies) == 1 and end == total,
        unit=end_currency,
        scope=scope,
        detail="; ".join(problems),
    )


SUMS: Final = {"C": ("sum_credit_entries", ":90C:"), "D": ("sum_debit_entries", ":90D:")}


def _sum_checks(
    data: dict[str, Any],
    sides: dict[str, list[int]],
    currencies: set[str],
    scope: str,
    rejected_count: int,
) -> Iterator[ControlCheck]:
    """``:90C:`` / ``:90D:``, where the bank gives them, against the movements read."""
    problems = [f"{rejected_count} rejected movement(s) not counted"] if rejected_count else []
    for side, (key, tag) in SUMS.items():
        stated = data.get(key)
        if stated is None:
            continue
        count, total = sides[side]
        try:
            minor, currency = _fen(stated, tag)
        except ValidationError as exc:
            yield ControlCheck(f"{tag} readable", 1, 0, False, scope=scope, detail=exc.render("en"))
            continue
        number = count_of(str(getattr(stated, "number", "") or ""))
        if number is not None:
            yield check(
                f"{tag} number of entries", number, count, scope=scope, detail="; ".join(problems)
            )
        others = sorted(currencies - {currency})
        detail = [*problems, f"currencies differ: {', '.join(others)}"] if others else problems
        yield ControlCheck(
            f"{tag} sum of entries",
            abs(minor),
            total,
            not others and abs(minor) == total,
            unit=currency,
            scope=scope,
            detail="; ".join(detail),
        )
