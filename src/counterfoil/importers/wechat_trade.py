"""WeChat Pay trade bill (交易账单): ALL, SUCCESS and REFUND bills, current and older layouts.

A header row, data rows whose every cell starts with a backtick, then a summary title
row (总交易单数, 应结订单总金额, …) and its value row. Columns are found by header name,
so the current 27-column ALL bill, the older 24-column one (总金额, 代金券或立减优惠金额),
the 20-column SUCCESS bill and the REFUND bill (退款申请时间, 退款成功时间) read alike.

What a row becomes:

* a payment (交易状态 SUCCESS, REVOKED, CLOSED, NOTPAY, USERPAYING, PAYERROR) is a
  ``sale`` of 订单金额 (or, without that column, 应结订单金额 / 总金额), with the status
  mapped (SUCCESS → success, REVOKED → revoked, CLOSED → closed, PAYERROR → failed, the
  rest pending);
* a refund (交易状态 REFUND, every row of a REFUND bill) is a ``refund`` of minus
  申请退款金额 (or 退款金额), dated 退款成功时间 / 退款申请时间 when the bill has them, with
  its status from 退款状态 (SUCCESS → success, PROCESSING → pending, others failed).

The fee is stated to 0.00001 yuan (``0.05940``); WeChat charges it rounded half-up to
the fen, which is ``fee`` (negative on a refund: the fee given back); the exact text is
kept in ``extra['fee_exact']``. ``net`` is what is settled: 应结订单金额 − fee, or
−退款金额 − fee. The summary row is checked against the columns it totals, the fee total
exactly. An id a spreadsheet turned into ``4.2E+27`` is rejected: it no longer matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from operator import itemgetter
from typing import IO, Any, Final

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.importers.delimited import (
    ColumnMap,
    Row,
    delimited_rows,
    find_header,
    header_columns,
    is_blank,
    normalise_header,
    width_error,
)
from counterfoil.importers.lines import (
    ControlCheck,
    Extra,
    LineError,
    StatementLine,
    check,
    line_error,
    rejected,
    scrub_row,
)
from counterfoil.importers.result import Event, Info, ParseResult
from counterfoil.importers.text import (
    CN_OFFSET,
    SNIFF_BYTES,
    cn_time,
    count_of,
    peek,
    sniff_encoding,
    text_lines,
    to_fen,
    to_fen_or_zero,
    to_units,
)

SOURCE: Final = "wechat_trade"
TITLE: Final = "WeChat Pay trade bill (交易账单)"

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "time": ("交易时间",),
    "appid": ("公众账号ID",),
    "merchant_no": ("商户号",),
    "sub_merchant_no": ("特约商户号", "子商户号"),
    "device": ("设备号",),
    "transaction_id": ("微信订单号",),
    "order_no": ("商户订单号",),
    "openid": ("用户标识",),
    "trade_type": ("交易类型",),
    "trade_state": ("交易状态",),
    "bank": ("付款银行",),
    "currency": ("货币种类",),
    "settlement_amount": ("应结订单金额", "总金额"),
    "coupon_amount": ("代金券金额", "代金券或立减优惠金额", "企业红包金额"),
    "refund_requested_at": ("退款申请时间",),
    "refund_succeeded_at": ("退款成功时间",),
    "refund_id": ("微信退款单号",),
    "merchant_refund_no": ("商户退款单号",),
    "refund_amount": ("退款金额",),
    "coupon_refund_amount": ("充值券退款金额", "代金券或立减优惠退款金额", "企业红包退款金额"),
    "refund_type": ("退款类型",),
    "refund_status": ("退款状态",),
    "goods": ("商品名称",),
    "attach": ("商户数据包",),
    "fee": ("手续费",),
    "rate": ("费率",),
    "order_amount": ("订单金额",),
    "refund_requested": ("申请退款金额",),
    "rate_note": ("费率备注",),
}
REQUIRED: Final = ("time", "transaction_id", "trade_state", "settlement_amount")

#: Summary title → the column it totals (None: the number of rows).
SUMMARY: Final[dict[str, str | None]] = {
    "总交易单数": None,
    "应结订单总金额": "settlement_amount",
    "总交易额": "settlement_amount",
    "退款总金额": "refund_amount",
    "总退款金额": "refund_amount",
    "充值券退款总金额": "coupon_refund_amount",
    "总代金券或立减优惠退款金额": "coupon_refund_amount",
    "总企业红包退款金额": "coupon_refund_amount",
    "手续费总金额": "fee",
    "订单总金额": "order_amount",
    "申请退款总金额": "refund_requested",
}
SUMMED: Final = (
    "settlement_amount", "refund_amount", "coupon_refund_amount", "order_amount",
    "refund_requested",
)  # fmt: skip

PAYMENT_STATUS: Final = {
    "SUCCESS": "success",
    "REVOKED": "revoked",
    "CLOSED": "closed",
    "PAYERROR": "failed",
    "NOTPAY": "pending",
    "USERPAYING": "pending",
}
REFUND_STATUS: Final = {
    "SUCCESS": "success",
    "": "success",
    "PROCESSING": "pending",
    "FAIL": "failed",
    "FAILED": "failed",
    "CHANGE": "failed",
    "ABNORMAL": "failed",
    "REFUNDCLOSE": "failed",
    "CLOSED": "failed",
}
#: Columns kept in ``extra`` (the fee as written under the name ``fee_exact``).
EXTRA: Final = (
    "appid", "sub_merchant_no", "trade_type", "bank", "coupon_amount", "merchant_refund_no",
    "coupon_refund_amount", "refund_type", "attach", "rate", "rate_note", "settlement_amount",
    "refund_amount", "order_amount", "refund_requested", "refund_requested_at",
    "refund_succeeded_at", "fee",
)  # fmt: skip
EXTRA_NAMES: Final = (*EXTRA[:-1], "fee_exact")
#: The cells a row is made of, in the order ``_Bill._build`` unpacks them.
PICKED: Final = (
    "time", "transaction_id", "order_no", "trade_state", "currency", "settlement_amount",
    "refund_amount", "coupon_refund_amount", "order_amount", "refund_requested", "fee",
    "refund_status", "refund_succeeded_at", "refund_requested_at", "device", "merchant_no",
    "refund_id", "openid", "goods", "attach",
)  # fmt: skip
FEE_PLACES: Final = 5  # the fee is stated to 0.00001 yuan: 1000 units per fen


def parse(stream: IO[bytes], *, file: str) -> ParseResult:
    """Read a WeChat Pay trade bill from ``stream`` (bytes); ``file`` names it in errors."""
    return ParseResult(SOURCE, file, _events(stream, file))


def _is_header(names: list[str]) -> bool:
    return "交易时间" in names and "微信订单号" in names


def _events(stream: IO[bytes], file: str) -> Iterator[Event]:
    head, stream = peek(stream)
    encoding = sniff_encoding(head, file=file, default="utf-8", complete=len(head) < SNIFF_BYTES)
    yield Info("encoding", f"{encoding.codec} ({encoding.how})")
    rows = delimited_rows(
        text_lines(stream, file=file, encoding=encoding), file=file, backticks=True
    )
    header = yield from find_header(rows, _is_header, file=file, expected=TITLE)
    columns = header_columns(header, COLUMNS, REQUIRED, file=file, expected=TITLE)
    refund_bill = "refund_requested_at" in columns.index
    yield Info("layout", f"{columns.width} columns{', REFUND bill' if refund_bill else ''}")
    bill = _Bill(file, columns, refund_bill)
    summary: dict[str, str] | None = None
    titles: list[str] | None = None
    line = bill.line
    for row in rows:
        if isinstance(row, LineError):
            yield row
        elif titles is None and row.cells[0][:1].isdigit():  # the usual data row, first
            yield line(row)
        elif titles is not None and summary is None:
            if not is_blank(row.cells):
                summary = dict(zip(titles, (c.strip() for c in row.cells), strict=False))
        elif is_blank(row.cells):
            continue
        elif titles is not None:
            yield line_error(file, row.line_no, row.raw, _("unexpected row after the summary"))
        elif normalise_header(row.cells[0]) == "总交易单数":
            titles = [normalise_header(c) for c in row.cells]
        else:
            yield line(row)
    yield from bill.checks(summary)


class _Bill:
    """The columns of one bill, the rows read so far and the totals they add up to."""

    def __init__(self, file: str, columns: ColumnMap, refund_bill: bool) -> None:
        self.file = file
        self.columns = columns
        self.refund_bill = refund_bill
        self.sums = [0] * len(SUMMED)
        self.fee_units = 0
        self.count = 0
        self.rejected = 0
        at = columns.at
        self.pick = itemgetter(*(at(key) for key in PICKED))
        self.extra_values = itemgetter(*(at(key) for key in EXTRA))
        self.has_order_amount = "order_amount" in columns.index
        self.width = columns.width

    def line(self, row: Row) -> StatementLine | LineError:
        """The row as a statement line, or why it is not one. Runs once per row: kept flat."""
        line_no, raw, cells = row
        if len(cells) == self.width:
            cells.append("")
        elif self.columns.fit(cells) is None:
            self.rejected += 1
            return width_error(self.file, line_no, raw, self.width, len(cells))
        (
            when,
            platform_id,
            order_no,
            state,
            currency,
            settlement_text,
            refund_text,
            coupon_refund_text,
            order_text,
            requested_text,
            fee_text,
            refund_state,
            refund_succeeded,
            refund_requested,
            device,
            merchant_no,
            refund_id,
            openid,
            goods,
            attach,
        ) = self.pick(cells)
        currency = currency or "CNY"
        try:
            if "E+" in platform_id or "E+" in order_no or "E+" in refund_id:
                _check_ids(platform_id, order_no, refund_id)
            settlement = to_fen(settlement_text, "应结订单金额", currency)
            refund = (
                0 if refund_text == "0.00" else to_fen_or_zero(refund_text, "退款金额", currency)
            )
            order = to_fen_or_zero(order_text, "订单金额", currency)
            requested = (
                0
                if requested_text == "0.00"
                else to_fen_or_zero(requested_text, "申请退款金额", currency)
            )
            coupon_refund = (
                0
                if coupon_refund_text == "0.00"
                else to_fen_or_zero(coupon_refund_text, "充值券退款金额", currency)
            )
            head, _dot, tail = fee_text.partition(".")
            if len(tail) == FEE_PLACES and head.isdigit() and tail.isdigit():
                fee_units = int(head + tail)  # the usual '0.28608'
            else:
                fee_units = to_units(fee_text, FEE_PLACES, "手续费") if fee_text else 0
            # Charged rounded half-up to the fen (away from zero: a refund gives it back).
            fee = (fee_units + 500) // 1000 if fee_units >= 0 else -((500 - fee_units) // 1000)
            if state == "REFUND" or self.refund_bill:
                status = REFUND_STATUS.get(refund_state.strip())
                if status is None:
                    raise ValidationError(
                        "退款状态", _("unknown refund status {value!r}"), value=refund_state[:40]
                    )
                txn_type = "refund"
                amount = -(requested or refund)
                net = -refund - fee
                when = refund_succeeded.strip() or refund_requested.strip() or when
            else:
                status = PAYMENT_STATUS.get(state.strip())
                if status is None:
                    raise ValidationError(
                        "交易状态", _("unknown trade status {value!r}"), value=state[:40]
                    )
                txn_type = "sale"
                amount = order if order_text and self.has_order_amount else settlement
                net = settlement - fee
            try:
                occurred_at = datetime.fromisoformat(when + CN_OFFSET)  # '2021-01-28 17:07:11'
            except ValueError:
                occurred_at = cn_time(when, "交易时间")
            if len(when) != 19:  # fromisoformat also reads forms a bill does not use
                occurred_at = cn_time(when, "交易时间")
        except ValidationError as exc:
            self.rejected += 1
            return rejected(self.file, line_no, raw, exc)
        sums = self.sums
        sums[0] += settlement
        sums[1] += refund
        sums[2] += coupon_refund
        sums[3] += order
        sums[4] += requested
        self.fee_units += fee_units
        self.count += 1
        if len(goods) >= 13 or len(attach) >= 13:
            raw = scrub_row(raw, goods, attach)
            # extra is picked from the cells when read: their card numbers go as well
            cells = [scrub_row(cell, cell) if cell in (goods, attach) else cell for cell in cells]
            goods = scrub_row(goods, goods)
        return StatementLine.fast(
            {
                "source": SOURCE,
                "line_no": line_no,
                "raw": raw,
                "occurred_at": occurred_at,
                "amount": amount,
                "currency": currency,
                "txn_type": txn_type,
                "status": status,
                "rrn": None,
                "trace_no": None,
                "terminal_id": device or None,
                "merchant_no": merchant_no or None,
                "order_no": order_no or None,
                "platform_id": platform_id or None,
                "refund_id": refund_id if refund_id and refund_id != "0" else None,
                "fee": fee,
                "net": net,
                "card_masked": None,
                "card_last4": None,
                "counterparty": openid or None,
                "description": goods or None,
                "extra": _RowExtra(cells, self.extra_values),
            }
        )

    def checks(self, summary: dict[str, str] | None) -> Iterator[ControlCheck]:
        detail = f"{self.rejected} rejected row(s) are not in the lines" if self.rejected else ""
        if summary is None:
            yield ControlCheck(
                "summary rows present",
                1,
                0,
                False,
                detail="the bill ends without 总交易单数…: it may be cut short",
            )
            return
        for title, text in summary.items():
            if title not in SUMMARY:
                continue
            column = SUMMARY[title]
            try:
                if column is None:
                    stated = count_of(text)
                    if stated is None:
                        raise ValueError(text)
                    yield check(title, stated, self.count, detail=detail)
                elif column == "fee":
                    yield check(
                        title,
                        to_units(text, FEE_PLACES, title),
                        self.fee_units,
                        unit="CNY/100000",
                        detail=detail,
                    )
                else:
                    yield check(
                        title,
                        to_fen(text, title),
                        self.sums[SUMMED.index(column)],
                        unit="CNY",
                        detail=detail,
                    )
            except (ValidationError, ValueError):
                yield ControlCheck(title, 0, 0, False, detail=f"unreadable value {text[:40]!r}")


class _RowExtra(Extra):
    """The columns kept in ``extra``, picked from the row's cells only when read."""

    __slots__ = ("_cells", "_pick")

    def __init__(self, cells: list[str], pick: itemgetter[Any]) -> None:  # no super(): hot
        self._dict = None
        self._cells, self._pick = cells, pick

    def _materialise(self) -> dict[str, str]:
        if self._dict is None:
            self._names, self._values = EXTRA_NAMES, tuple(self._pick(self._cells))
            self._dict = super()._materialise()
        return self._dict

    def plus(self, name: str, value: str) -> Extra:
        self._materialise()
        return super().plus(name, value)


def _check_ids(*ids: str) -> None:
    for value in ids:
        if "E+" in value:
            raise ValidationError(
                "微信订单号",
                _("{value!r} was turned into a number by a spreadsheet; the id is lost"),
                value=value[:40],
            )
