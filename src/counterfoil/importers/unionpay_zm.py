"""UnionPay merchant reconciliation file (ZM, 全渠道商户对账文件) and its RD summary.

``INN{yyMMdd}88ZM_{merchant_no}``: GBK text, CRLF, one fixed-width line per
transaction, 42 fields separated by single spaces (607 bytes). Widths are in bytes, so
a line is cut as bytes before its fields are decoded. The transmission time
``MMDDhhmmss`` has no year: it is the year of the settle date in the file name, or the
one before or after when the months straddle New Year (a 12-31 settlement holding a
01-01 transmission, or the other way round). Times are China Standard Time.

The amount is unsigned fen; the sign comes from the transaction type (交易类型: 01 sale,
02 pre-auth, 03 completion, 04 refund, 31 void, 32 pre-auth cancel, 33 completion void).
The merchant fee and the settlement amount are a sign letter and 12 digits:
``D`` is charged to the merchant, ``C`` credited. ``fee`` is positive when charged,
``net`` positive when credited, and every line should satisfy amount − fee = net.

The RD file (中国银联全渠道商户交易汇总表), in the downloaded zip or passed alongside,
gives counts and debit/credit totals; its 总计 row is checked against the lines.
The layout of a line is in ``unionpay_layout``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Final

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.importers.errors import FormatMismatch
from counterfoil.importers.lines import (
    ControlCheck,
    LineError,
    StatementLine,
    check,
    line_error,
    mask_card,
    rejected,
    scrub_pans,
)
from counterfoil.importers.result import Event, Info, ParseResult
from counterfoil.importers.text import CN_OFFSET, physical_lines
from counterfoil.importers.unionpay_layout import LINE_BYTES, PICK, UNPACK, LazyExtra
from counterfoil.importers.unionpay_rd import RdTotals, read_rd

SOURCE: Final = "unionpay_zm"
TITLE: Final = "UnionPay reconciliation file (ZM)"
NAME: Final = re.compile(r"INN(\d{6})(\d{2})ZM_(\w+)")
#: 交易类型 → (our type, sign of the amount).
TXN_TYPES: Final = {
    "01": ("sale", 1),
    "02": ("preauth", 1),
    "03": ("completion", 1),
    "04": ("refund", -1),
    "31": ("void", -1),
    "32": ("preauth_cancel", -1),
    "33": ("void", -1),
}
TRADE_CODES: Final = {"S56": ("sale", 1)}  # when 交易类型 is blank


def settle_date_from_name(name: str) -> tuple[date, str] | None:
    """``INN150905 88ZM_802310048993424`` → (2015-09-05, '802310048993424')."""
    match = NAME.search(name)
    if not match:
        return None
    try:
        settled = datetime.strptime(match.group(1), "%y%m%d").date()
    except ValueError:
        return None
    return settled, match.group(3)


def parse(
    stream: IO[bytes], *, file: str, settle_date: date | None = None, rd: IO[bytes] | None = None
) -> ParseResult:
    """Read a ZM file, or the zip it comes in (with its RD summary) from ``stream``.

    ``settle_date`` is needed only when ``file`` is not named ``INN{yyMMdd}88ZM_…``;
    ``rd`` is the RD summary when it was downloaded separately.
    """
    if zipfile.is_zipfile(stream):
        stream.seek(0)
        return _from_zip(stream, file, settle_date)
    stream.seek(0)
    rd_totals = read_rd(rd, file=f"{file} (RD)") if rd is not None else None
    return ParseResult(SOURCE, file, _events(stream, file, settle_date, rd_totals))


def _from_zip(stream: IO[bytes], file: str, settle_date: date | None) -> ParseResult:
    archive = zipfile.ZipFile(stream)
    names = [n for n in archive.namelist() if not n.endswith("/")]
    zm = [n for n in names if NAME.search(n.rsplit("/", 1)[-1])]
    if len(zm) != 1:
        archive.close()
        raise FormatMismatch(
            file,
            TITLE,
            _("{file}: expected one INN…ZM_… file in the zip, found {count}"),
            count=len(zm),
        )
    rd_names = [n for n in names if n.rsplit("/", 1)[-1].startswith("RD")]
    rd_totals = None
    if rd_names:
        with archive.open(rd_names[0]) as rd:
            rd_totals = read_rd(rd, file=f"{file}!{rd_names[0]}")
    member = archive.open(zm[0])

    def close() -> None:
        member.close()
        archive.close()

    return ParseResult(
        SOURCE,
        f"{file}!{zm[0]}",
        _events(member, zm[0], settle_date, rd_totals, shown=f"{file}!{zm[0]}"),
        on_close=close,
    )


def _events(
    stream: IO[bytes],
    name: str,
    settle_date: date | None,
    rd: RdTotals | None,
    shown: str | None = None,
) -> Iterator[Event]:
    file = shown or name
    from_name = settle_date_from_name(name)
    settled = settle_date or (from_name[0] if from_name else None)
    if settled is None:
        raise FormatMismatch(
            file,
            TITLE,
            _(
                "{file}: the settle date is not known: name the "
                "file INN{{yyMMdd}}88ZM_{{merchant}} or give it"
            ),
        )
    yield Info("settle_date", settled.isoformat())
    if from_name:
        yield Info("merchant_no", from_name[1])
    totals = _Totals()
    years = {f"{month:02d}": str(_year(settled, month)) for month in range(1, 13)}
    for line_no, _offset, data in physical_lines(stream):
        if not data or data.isspace():
            continue
        yield _line(file, line_no, data, years, totals)
    yield from totals.checks(rd, settled, from_name[1] if from_name else None)


class _Totals:
    """What the lines read so far add up to."""

    def __init__(self) -> None:
        self.count = self.amount = self.fee = self.net = self.unbalanced = self.rejected = 0

    def checks(
        self, rd: RdTotals | None, settled: date, merchant_no: str | None
    ) -> Iterator[ControlCheck]:
        detail = f"{self.rejected} rejected line(s) are not in the lines" if self.rejected else ""
        yield check(
            "lines where amount − fee = settlement",
            self.count,
            self.count - self.unbalanced,
            detail=detail,
        )
        if rd is None:
            return
        scope = "RD 总计"
        if rd.problem:
            yield ControlCheck("RD summary readable", 1, 0, False, scope=scope, detail=rd.problem)
            return
        yield check("交易笔数", rd.count, self.count, scope=scope, detail=detail)
        yield check(
            "交易金额 (贷 − 借)", rd.amount, self.amount, unit="CNY", scope=scope, detail=detail
        )
        yield check("费用 (借 − 贷)", rd.fee, self.fee, unit="CNY", scope=scope, detail=detail)
        yield check(
            "资金清算差额 (贷 − 借)", rd.net, self.net, unit="CNY", scope=scope, detail=detail
        )
        if rd.settle_date is not None:
            yield check(
                "清算日期",
                int(f"{rd.settle_date:%Y%m%d}"),
                int(f"{settled:%Y%m%d}"),
                unit="date",
                scope=scope,
            )
        if rd.merchant_no and merchant_no and rd.merchant_no != merchant_no:
            yield ControlCheck(
                "商户代码",
                0,
                0,
                False,
                unit="id",
                scope=scope,
                detail=f"RD {rd.merchant_no}, ZM {merchant_no}",
            )


def _year(settled: date, month: int) -> int:
    if settled.month == 12 and month == 1:
        return settled.year + 1
    if settled.month == 1 and month == 12:
        return settled.year - 1
    return settled.year


def _fee_and_net(fee_text: str, settlement_text: str) -> tuple[int, int]:
    """'D000000002861', 'C000000473939' → (2861, 473939): the fee charged (D) is +, the
    settlement credited (C) is +."""
    for field, text in (("商户手续费", fee_text), ("结算金额", settlement_text)):
        if len(text) != 13 or text[0] not in "CD" or not text[1:].isdecimal():
            raise ValidationError(
                field, _("expected C or D and 12 digits, got {value!r}"), value=text[:20]
            )
    fee = int(fee_text[1:])
    net = int(settlement_text[1:])
    return (fee if fee_text[0] == "D" else -fee), (net if settlement_text[0] == "C" else -net)


def _line(
    file: str, line_no: int, data: bytes, years: dict[str, str], totals: _Totals
) -> StatementLine | LineError:
    if len(data) != LINE_BYTES:
        if len(data) > LINE_BYTES and data[LINE_BYTES:].strip():
            totals.rejected += 1
            return line_error(
                file,
                line_no,
                data.decode("gb18030", errors="replace"),
                _("a ZM line is {expected} bytes, this one {found}"),
                expected=LINE_BYTES,
                found=len(data),
            )
        data = data[:LINE_BYTES].ljust(LINE_BYTES)  # trailing blanks trimmed by an editor
    if data.isascii():  # the usual case
        raw = data.decode("ascii")
        values = PICK(raw)  # a byte is a character: cut the text (stripped in _build)
    else:
        try:
            raw = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            totals.rejected += 1
            return line_error(
                file,
                line_no,
                data.decode("gb18030", errors="replace"),
                _("byte 0x{byte} at byte {position} of the line is not GBK"),
                byte=f"{data[exc.start]:02X}",
                position=exc.start + 1,
            )
        try:
            values = tuple(v.strip().decode("gb18030") for v in UNPACK(data))
        except UnicodeDecodeError:  # a two-byte character cut by a field boundary
            totals.rejected += 1
            return line_error(
                file,
                line_no,
                raw,
                _(
                    "a character straddles two fixed-width "
                    "fields: the line is not 607 bytes of "
                    "fields"
                ),
            )
    try:
        return _build(line_no, raw, data, values, years, totals)
    except ValidationError as exc:
        totals.rejected += 1
        return rejected(file, line_no, raw, exc)


def _build(
    line_no: int,
    raw: str,
    data: bytes,
    values: tuple[str, ...],
    years: dict[str, str],
    totals: _Totals,
) -> StatementLine:
    """The line from its fields, counted in ``totals``; ``years`` gives the year of each
    transmission month. Only the padded fields are stripped (a strip per field costs)."""
    (
        trade_code,
        trace_no,
        when,
        card,
        amount_text,
        query_id,
        order_no,
        fee_text,
        settlement_text,
        type_code,
        merchant_no,
        sub_merchant_name,
        terminal_id,
        *free_text,
    ) = values
    card = card.strip()
    order_no, query_id, trace_no = order_no.strip(), query_id.strip(), trace_no.strip()
    merchant_no, terminal_id = merchant_no.strip(), terminal_id.strip()
    kind = TXN_TYPES.get(type_code) or TRADE_CODES.get(trade_code)
    if kind is None:
        raise ValidationError(
            "交易类型",
            _("unknown transaction type {code!r} (trade code {trade!r})"),
            code=type_code,
            trade=trade_code,
        )
    txn_type, sign = kind
    if not (len(amount_text) == 12 and amount_text.isdecimal()):
        raise ValidationError(
            "交易金额", _("expected 12 digits of fen, got {value!r}"), value=amount_text
        )
    try:
        if not (len(when) == 10 and when.isdecimal()):
            raise ValueError(when)
        year = years.get(when[:2])
        if year is None:
            raise ValueError(when)
        occurred_at = datetime.fromisoformat(
            f"{year}-{when[:2]}-{when[2:4]} {when[4:6]}:{when[6:8]}:{when[8:10]}{CN_OFFSET}"
        )
    except ValueError:
        raise ValidationError(
            "交易传输时间",
            _("expected MMDDhhmmss of a real date and time, got {value!r}"),
            value=when,
        ) from None
    if len(card) - card.count("*") < 13:  # masked as UnionPay sends it: 622609******0048
        card_masked, last4 = card or None, card[-4:] if card[-4:].isdecimal() else None
    else:
        card_masked, last4 = mask_card(card)
    if card_masked != (card or None) or (sub_merchant_name + "".join(free_text)).strip():
        raw = scrub_pans(raw)  # a full card number, or free text that may hold one
    fee, net = _fee_and_net(fee_text, settlement_text)
    amount = sign * int(amount_text)
    totals.count += 1
    totals.amount += amount
    totals.fee += fee
    totals.net += net
    if amount - fee != net:
        totals.unbalanced += 1
    return StatementLine.fast(
        {
            "source": SOURCE,
            "line_no": line_no,
            "raw": raw,
            "occurred_at": occurred_at,
            "amount": amount,
            "currency": "CNY",
            "txn_type": txn_type,
            "status": "success",
            "rrn": None,
            "trace_no": trace_no or None,
            "terminal_id": terminal_id or None,
            "merchant_no": merchant_no or None,
            "order_no": order_no or None,
            "platform_id": query_id or None,
            "refund_id": None,
            "fee": fee,
            "net": net,
            "card_masked": card_masked,
            "card_last4": last4,
            "counterparty": None,
            "description": None,
            "extra": LazyExtra(data),
        }
    )
