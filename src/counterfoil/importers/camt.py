"""ISO 20022 bank-to-customer statements: camt.053 (statement) and camt.054 (notification).

Versions .02 to .08 differ in namespace and in a few paths, so elements are found by
local name. ``Document/BkToCstmrStmt/Stmt`` (or ``…DbtCdtNtfctn/Ntfctn``) may repeat;
each entry ``Ntry`` becomes one line, numbered by its order in the file (the XML line
is in ``extra['xml_line']``). A zip bundle of such files reads as one file.

* amount: ``Amt`` with ``Ccy``, + for CRDT, − for DBIT; more decimals than the currency
  has must be zeros (``100.00000``), else the entry is rejected — never rounded;
* type: ``reversal`` when ``RvslInd`` is true, ``fee`` for a charges bank-transaction
  code (…/CHRG, …/FEES, …/COMM), otherwise ``credit`` / ``debit``;
* status: BOOK → booked, PDNG / FUTR → pending, INFO → info;
* time: ``BookgDt`` (``DtTm`` keeps its offset; a ``Dt`` is midnight in ``tz``, UTC by
  default), else ``ValDt``;
* ``platform_id`` the bank's reference (``AcctSvcrRef``), ``order_no`` the end-to-end id,
  ``counterparty`` the debtor of a credit / creditor of a debit, ``description`` the
  unstructured remittance text.

A batch booking — an entry with several ``TxDtls`` — becomes one line per ``TxDtls``
when every one of them states its amount in the entry's currency (``AmtDtls/TxAmt`` or
``Amt``, signed by its own ``CdtDbtInd``) and the parts add up to the entry: each part
keeps the entry's reference (``platform_id``, and ``extra['line_id']`` =
``{reference}/{part}`` so that parts are told apart), its own end-to-end id, party and
remittance text, and its ``TxDtls`` as ``raw``. Parts that do not add up leave the entry
whole and fail the statement's batch check; a batch whose parts state no amount stays
one line, as the bank booked it. Lines are numbered in file order, parts included.

Each statement's facts and control checks (balances, ``TxsSummry``) are in
``camt_statement``.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, tzinfo
from typing import IO, Final

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.importers.camt_statement import Statement, statement_end
from counterfoil.importers.errors import FormatMismatch
from counterfoil.importers.lines import (
    Extra,
    LineError,
    StatementLine,
    line_error,
    rejected,
    scrub_pans,
)
from counterfoil.importers.result import Event, Info, ParseResult
from counterfoil.importers.text import to_fen
from counterfoil.importers.xmlsafe import (
    Element,
    child,
    children,
    iterparse,
    local,
    text,
    to_text,
)
from counterfoil.importers.xmlsafe import zip_members as _zip_members

KINDS: Final = {
    "camt053": ("BkToCstmrStmt", "Stmt"),
    "camt054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
TITLES: Final = {
    "camt053": "ISO 20022 camt.053 bank statement",
    "camt054": "ISO 20022 camt.054 debit/credit notification",
}
STATUSES: Final = {"BOOK": "booked", "PDNG": "pending", "FUTR": "pending", "INFO": "info"}
FEE_CODES: Final = frozenset({"CHRG", "FEES", "COMM"})


def parse(stream: IO[bytes], *, file: str, kind: str = "camt053", tz: tzinfo = UTC) -> ParseResult:
    """Read a camt.053 or camt.054 file (or a zip of them) from ``stream``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    return ParseResult(kind, file, _events(stream, file, kind, tz))


def _events(stream: IO[bytes], file: str, kind: str, tz: tzinfo) -> Iterator[Event]:
    counter = _Counter()
    if zipfile.is_zipfile(stream):
        stream.seek(0)
        for name, member in _zip_members(stream, file=file):
            try:
                yield from _document(member, f"{file}!{name}", kind, tz, counter, name)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise FormatMismatch(
                    file,
                    TITLES[kind],
                    _("{file}: the member {member} is damaged ({problem})"),
                    member=name,
                    problem=str(exc)[:200],
                ) from None
    else:
        stream.seek(0)
        yield from _document(stream, file, kind, tz, counter, None)
    if counter.statements == 0:
        raise FormatMismatch(
            file,
            TITLES[kind],
            _("{file}: no statement in this {expected}: it has no {record} element"),
            record=KINDS[kind][1],
        )
    yield Info("statements", str(counter.statements))


class _Counter:
    def __init__(self) -> None:
        self.entries = 0
        self.lines = 0
        self.statements = 0


def _document(
    stream: IO[bytes], file: str, kind: str, tz: tzinfo, counter: _Counter, member: str | None
) -> Iterator[Event]:
    wrapper, record = KINDS[kind]
    title = TITLES[kind]
    depth = 0  # of the element just started, or of the parent of the one just ended
    current: Element | None = None  # the statement element being read
    statement: Statement | None = None  # made when its first balance or entry ends
    for event, element in iterparse(stream, file=file, expected=title):
        name = local(element)
        if event == "start":
            depth += 1
            if depth == 1 and name != "Document":
                raise FormatMismatch(
                    file,
                    title,
                    _("{file}: not an ISO 20022 document (root {root})"),
                    root=name[:40],
                )
            if depth == 2 and name != wrapper:
                raise FormatMismatch(
                    file,
                    title,
                    _("{file}: expected {wrapper}, found {found}"),
                    wrapper=wrapper,
                    found=name[:40],
                )
            if depth == 3 and name == record:
                counter.statements += 1
                current, statement = element, None
            continue
        depth -= 1
        if depth == 2 and name == "GrpHdr":
            yield from _group_header(element)
            element.clear()
        elif depth == 3 and current is not None and name in ("Bal", "TxsSummry", "Ntry"):
            if statement is None:  # Id and Acct come before these, so they are read
                statement = Statement(current, counter.statements)
            if name == "Bal":
                _balance(element, statement)
            elif name == "TxsSummry":
                statement.summary = element
            else:
                counter.entries += 1
                yield from _entry(element, statement, counter, file, kind, tz, member)
                element.clear()
                _drop_used(element)
        elif depth == 2 and name == record:
            yield from statement_end(statement or Statement(element, counter.statements))
            element.clear()
            current = statement = None


def _drop_used(element: Element) -> None:
    """Remove entries already read, so the tree does not grow with the file."""
    previous = element.getprevious()
    while previous is not None and local(previous) == "Ntry":
        parent = previous.getparent()
        before = previous.getprevious()
        if parent is not None:
            parent.remove(previous)
        previous = before


def _group_header(element: Element) -> Iterator[Info]:
    for key, path in (("message_id", ("MsgId",)), ("created_at", ("CreDtTm",))):
        value = text(element, *path)
        if value:
            yield Info(key, value)


def _minor_units(amount: Element | None, field: str) -> tuple[int, str]:
    if amount is None or not (amount.text or "").strip():
        raise ValidationError(field, _("the amount is missing"))
    currency = (amount.get("Ccy") or "").strip()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError(
            field, _("expected a three-letter currency in Ccy, got {value!r}"), value=currency[:10]
        )
    return to_fen((amount.text or "").strip(), field, currency), currency


def _balance(element: Element, statement: Statement) -> None:
    code = text(element, "Tp", "CdOrPrtry", "Cd") or text(element, "Tp", "CdOrPrtry", "Prtry")
    if not code:
        return
    try:
        value, currency = _minor_units(child(element, "Amt"), f"Bal {code}")
    except ValidationError as exc:
        statement.balances[code] = exc.render("en")
        return
    sign = -1 if text(element, "CdtDbtInd") == "DBIT" else 1
    statement.balances[code] = (sign * value, currency)
    day = text(element, "Dt", "Dt") or text(element, "Dt", "DtTm") or ""
    statement.facts[f"balance.{code}"] = f"{sign * value} {currency} {day}".strip()


def _entry(
    ntry: Element,
    statement: Statement,
    counter: _Counter,
    file: str,
    kind: str,
    tz: tzinfo,
    member: str | None,
) -> Iterator[StatementLine | LineError]:
    """The entry as one line, or as one line per part of a batch booking."""
    ordinal = counter.entries
    raw = scrub_pans(to_text(ntry))
    xml_line = ntry.sourceline or 0
    statement.entries += 1
    try:
        line = _entry_line(ntry, statement, counter.lines + 1, raw, kind, tz, member)
        parts = _batch_parts(ntry, line, statement, ordinal)
    except ValidationError as exc:
        counter.lines += 1  # numbered all the same: lines keep their entry's number
        statement.rejected += 1
        error = rejected(file, xml_line, raw, exc)
        yield line_error(
            file,
            xml_line,
            raw,
            _("entry {ordinal}: {problem}"),
            ordinal=ordinal,
            problem=error.reason,
        )
        return
    if line.status == "booked":
        statement.booked[line.currency] = statement.booked.get(line.currency, 0) + line.amount
    side = statement.counts["CRDT" if line.amount >= 0 else "DBIT"]
    side[0] += 1
    side[1] += abs(line.amount)
    if not parts:
        counter.lines += 1
        yield line
        return
    for number, (detail, amount) in enumerate(parts, 1):
        counter.lines += 1
        yield _part_line(line, detail, amount, number, len(parts), counter.lines)


def _batch_parts(
    ntry: Element, line: StatementLine, statement: Statement, ordinal: int
) -> list[tuple[Element, int]]:
    """The parts of a batch booking with their signed amounts, when the entry is to be
    split; else nothing. Parts that do not add up are noted in the statement's check."""
    details = [d for block in children(ntry, "NtryDtls") for d in children(block, "TxDtls")]
    if len(details) < 2:
        return []
    parts: list[tuple[Element, int]] = []
    for detail in details:
        amount = child(detail, "AmtDtls", "TxAmt", "Amt")
        if amount is None:
            amount = child(detail, "Amt")
        if amount is None or (amount.get("Ccy") or "").strip() != line.currency:
            return []  # a part without an amount in the entry's currency: kept whole
        indicator = text(detail, "CdtDbtInd") or ("CRDT" if line.amount >= 0 else "DBIT")
        try:
            value, _currency = _minor_units(amount, "TxDtls/Amt")
        except ValidationError as exc:
            statement.batches += 1
            statement.batch_problems.append(f"entry {ordinal}: {exc.render('en')}")
            return []
        parts.append((detail, value if indicator == "CRDT" else -value))
    total = sum(amount for _detail, amount in parts)
    statement.batches += 1
    if total != line.amount:
        statement.batch_problems.append(
            f"entry {ordinal}: the parts add up to {total}, the entry is {line.amount}"
        )
        return []
    return parts


def _part_line(
    entry: StatementLine, detail: Element, amount: int, number: int, count: int, line_no: int
) -> StatementLine:
    """Part ``number`` of ``count`` of a batch entry, as its own line."""
    party = "Dbtr" if amount >= 0 else "Cdtr"
    counterparty = _party(detail, party) or _party(detail, "Cdtr" if party == "Dbtr" else "Dbtr")
    end_to_end = text(detail, "Refs", "EndToEndId")
    remittance = " ".join(
        u.text.strip() for u in children(child(detail, "RmtInf"), "Ustrd") if u.text
    )
    reference = text(detail, "RmtInf", "Strd", "CdtrRefInf", "Ref")
    description = remittance or reference or entry.description
    extra = Extra.of(
        {
            **dict(entry.extra),
            "transactions": None,
            "line_id": f"{entry.platform_id}/{number}" if entry.platform_id else None,
            "part": f"{number}/{count}",
            "entry_amount": str(entry.amount),
            "entry_line": str(entry.line_no),
            "transaction_reference": text(detail, "Refs", "AcctSvcrRef"),
            "transaction_id": text(detail, "Refs", "TxId"),
            "xml_line": str(detail.sourceline or ""),
            "creditor_reference": reference,
        }
    )
    txn_type = entry.txn_type
    if txn_type in ("credit", "debit"):
        txn_type = "credit" if amount >= 0 else "debit"
    return replace(
        entry,
        line_no=line_no,
        raw=scrub_pans(to_text(detail)),
        amount=amount,
        txn_type=txn_type,
        order_no=end_to_end if end_to_end and end_to_end != "NOTPROVIDED" else None,
        counterparty=scrub_pans(counterparty) if counterparty else None,
        description=scrub_pans(description) if description else None,
        extra=extra,
    )


def _entry_line(
    ntry: Element,
    statement: Statement,
    line_no: int,
    raw: str,
    kind: str,
    tz: tzinfo,
    member: str | None,
) -> StatementLine:
    value, currency = _minor_units(child(ntry, "Amt"), "Amt")
    indicator = text(ntry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise ValidationError(
            "CdtDbtInd", _("expected CRDT or DBIT, got {value!r}"), value=(indicator or "")[:10]
        )
    status_code = text(ntry, "Sts") or text(ntry, "Sts", "Cd") or "BOOK"
    status = STATUSES.get(status_code)
    if status is None:
        raise ValidationError("Sts", _("unknown entry status {value!r}"), value=status_code[:10])
    booked = _when(child(ntry, "BookgDt"), tz)
    valued = _when(child(ntry, "ValDt"), tz)
    occurred_at = booked or valued
    if occurred_at is None:
        raise ValidationError("BookgDt", _("the entry has neither a booking nor a value date"))
    domain = child(ntry, "BkTxCd", "Domn")
    codes = [text(domain, "Cd"), text(domain, "Fmly", "Cd"), text(domain, "Fmly", "SubFmlyCd")]
    proprietary = text(ntry, "BkTxCd", "Prtry", "Cd")
    reversal = (text(ntry, "RvslInd") or "").lower() in ("true", "1")
    if reversal:
        txn_type = "reversal"
    elif FEE_CODES.intersection(c for c in codes[1:] if c):
        txn_type = "fee"
    else:
        txn_type = "credit" if indicator == "CRDT" else "debit"
    details = [d for block in children(ntry, "NtryDtls") for d in children(block, "TxDtls")]
    first = details[0] if details else None
    reference = text(ntry, "AcctSvcrRef") or text(first, "Refs", "AcctSvcrRef")
    end_to_end = text(first, "Refs", "EndToEndId")
    party = "Dbtr" if indicator == "CRDT" else "Cdtr"
    other = "Cdtr" if party == "Dbtr" else "Dbtr"
    counterparty = _party(first, party) or _party(first, other)
    remittance = " ".join(
        u.text.strip() for d in details for u in children(child(d, "RmtInf"), "Ustrd") if u.text
    )
    description = (
        remittance
        or text(ntry, "AddtlNtryInf")
        or text(first, "RmtInf", "Strd", "CdtrRefInf", "Ref")
    )
    return StatementLine(
        source=kind,
        line_no=line_no,
        raw=raw,
        occurred_at=occurred_at,
        amount=value if indicator == "CRDT" else -value,
        currency=currency,
        txn_type=txn_type,
        status=status,
        platform_id=reference,
        order_no=end_to_end if end_to_end and end_to_end != "NOTPROVIDED" else None,
        counterparty=scrub_pans(counterparty) if counterparty else None,
        description=scrub_pans(description) if description else None,
        extra=Extra.of(
            {
                "account": statement.account,
                "statement_id": statement.id,
                "booking_date": booked.isoformat() if booked else None,
                "value_date": valued.isoformat() if valued else None,
                "bank_tx_code": "/".join(c for c in codes if c) or proprietary,
                "reversal": "true" if reversal else None,
                "transactions": str(len(details)) if len(details) > 1 else None,
                "xml_line": str(ntry.sourceline or ""),
                "member": member,
                "creditor_reference": text(first, "RmtInf", "Strd", "CdtrRefInf", "Ref"),
            }
        ),
    )


def _party(details: Element | None, role: str) -> str | None:
    party = child(details, "RltdPties", role)
    return text(party, "Nm") or text(party, "Pty", "Nm")  # v08 nests the party in Pty


def _when(element: Element | None, tz: tzinfo) -> datetime | None:
    if element is None:
        return None
    stamp = text(element, "DtTm")
    day = text(element, "Dt")
    try:
        if stamp:
            parsed = datetime.fromisoformat(stamp)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
        if day:
            return datetime.combine(datetime.fromisoformat(day).date(), time(0), tz)
    except ValueError:
        raise ValidationError(
            local(element),
            _("expected an ISO date, got {value!r}"),
            value=(stamp or day or "")[:40],
        ) from None
    return None
