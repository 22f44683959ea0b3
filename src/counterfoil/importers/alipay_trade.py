"""Alipay trade bill (业务明细): the merchant's sales and refunds, GBK, with footer totals.

Header (25 columns, found by name; ``（元）`` may be written ``(元)``): 支付宝交易号,
商户订单号, 业务类型, 商品名称, 创建时间, 完成时间, 门店编号, 门店名称, 操作员, 终端号,
对方账户, 订单金额（元）, 商家实收（元）, 支付宝红包（元）, 集分宝（元）, 支付宝优惠（元）,
商家优惠（元）, 券核销金额（元）, 券名称, 商家红包消费金额（元）, 卡消费金额（元）,
退款批次号/请求号, 服务费（元）, 分润（元）, 备注.

业务类型 交易 is a ``sale`` of 订单金额, 退款 a ``refund`` of minus it (Alipay writes refund
amounts negative; a positive one is read as the same refund). The service fee is
charged on a sale and given back on a refund: ``fee`` is + then −. ``net`` is 商家实收
less the fee. The footer ``#交易合计：N笔，商家实收共X元，商家优惠共Y元`` and
``#退款合计：…`` are checked against the rows of each type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Final

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.importers.alipay_common import commented_events
from counterfoil.importers.delimited import ColumnMap, Row, width_error
from counterfoil.importers.lines import (
    ControlCheck,
    Extra,
    LineError,
    StatementLine,
    check,
    rejected,
    scrub_pans,
)
from counterfoil.importers.result import Event, ParseResult
from counterfoil.importers.text import cn_time, count_of, to_fen, to_fen_or_zero

SOURCE: Final = "alipay_trade"
TITLE: Final = "Alipay trade bill (业务明细)"
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "trade_no": ("支付宝交易号",),
    "order_no": ("商户订单号",),
    "kind": ("业务类型",),
    "goods": ("商品名称",),
    "created_at": ("创建时间",),
    "finished_at": ("完成时间",),
    "store_no": ("门店编号",),
    "store_name": ("门店名称",),
    "operator": ("操作员",),
    "terminal": ("终端号",),
    "counterparty": ("对方账户",),
    "order_amount": ("订单金额（元）", "订单金额"),
    "received": ("商家实收（元）", "商家实收"),
    "red_packet": ("支付宝红包（元）", "支付宝红包"),
    "jifenbao": ("集分宝（元）", "集分宝"),
    "alipay_discount": ("支付宝优惠（元）", "支付宝优惠"),
    "merchant_discount": ("商家优惠（元）", "商家优惠"),
    "voucher_amount": ("券核销金额（元）", "券核销金额"),
    "voucher_name": ("券名称",),
    "merchant_red_packet": ("商家红包消费金额（元）", "商家红包消费金额"),
    "card_amount": ("卡消费金额（元）", "卡消费金额"),
    "refund_no": ("退款批次号/请求号",),
    "service_fee": ("服务费（元）", "服务费"),
    "profit_share": ("分润（元）", "分润"),
    "remark": ("备注",),
}
REQUIRED: Final = ("trade_no", "kind", "order_amount")
EXTRA: Final = (
    "store_no",
    "store_name",
    "operator",
    "received",
    "red_packet",
    "jifenbao",
    "alipay_discount",
    "merchant_discount",
    "voucher_amount",
    "voucher_name",
    "merchant_red_packet",
    "card_amount",
    "service_fee",
    "profit_share",
    "created_at",
    "finished_at",
)
KINDS: Final = {"交易": ("sale", 1), "退款": ("refund", -1)}
FOOTER: Final = re.compile(
    r"(交易|退款)合计\s*[:：]\s*(\d+)\s*笔\s*[，,]\s*商家实收共\s*"
    r"([-+]?[\d,]*\.?\d*)\s*元\s*[，,]\s*商家优惠共\s*([-+]?[\d,]*\.?\d*)\s*元"
)


def parse(stream: IO[bytes], *, file: str) -> ParseResult:
    """Read an Alipay trade bill (业务明细) from ``stream``; ``file`` names it in errors."""
    return ParseResult(SOURCE, file, _events(stream, file))


def _is_header(names: list[str]) -> bool:
    return "支付宝交易号" in names and "业务类型" in names


def _events(stream: IO[bytes], file: str) -> Iterator[Event]:
    return commented_events(
        stream,
        file,
        title=TITLE,
        is_header=_is_header,
        columns=COLUMNS,
        required=REQUIRED,
        reader=_Bill,
    )


class _Bill:
    def __init__(self, file: str, columns: ColumnMap, account: str | None) -> None:
        self.file = file
        self.columns = columns
        self.account = account
        self.at = {key: columns.at(key) for key in COLUMNS}
        self.rejected = 0
        # kind → [rows, 商家实收 as written, 商家优惠 as written]
        self.totals = {"交易": [0, 0, 0], "退款": [0, 0, 0]}

    def line(self, row: Row) -> StatementLine | LineError:
        cells = self.columns.fit(row.cells)
        if cells is None:
            self.rejected += 1
            return width_error(self.file, row.line_no, row.raw, self.columns.width, len(row.cells))
        try:
            return self._build(row, cells)
        except ValidationError as exc:
            self.rejected += 1
            return rejected(self.file, row.line_no, row.raw, exc)

    def _build(self, row: Row, cells: list[str]) -> StatementLine:
        get = {key: cells[index] for key, index in self.at.items()}
        kind = KINDS.get(get["kind"])
        if kind is None:
            raise ValidationError(
                "业务类型", _("expected 交易 or 退款, got {value!r}"), value=get["kind"][:20]
            )
        txn_type, sign = kind
        amount = sign * abs(to_fen(get["order_amount"], "订单金额"))
        received = to_fen_or_zero(get["received"], "商家实收")
        discount = to_fen_or_zero(get["merchant_discount"], "商家优惠")
        fee = sign * abs(to_fen_or_zero(get["service_fee"], "服务费"))
        occurred_at = cn_time(get["finished_at"] or get["created_at"], "完成时间")
        totals = self.totals[get["kind"]]
        totals[0] += 1
        totals[1] += received
        totals[2] += discount
        extra = {key: get[key] for key in EXTRA}
        extra["voucher_name"] = scrub_pans(extra["voucher_name"])
        extra["remark"] = scrub_pans(get["remark"])
        if self.account:
            extra["account"] = self.account
        return StatementLine(
            source=SOURCE,
            line_no=row.line_no,
            raw=scrub_pans(row.raw),
            occurred_at=occurred_at,
            amount=amount,
            currency="CNY",
            txn_type=txn_type,
            status="success",
            terminal_id=get["terminal"] or None,
            merchant_no=self.account,
            order_no=get["order_no"] or None,
            platform_id=get["trade_no"] or None,
            refund_id=get["refund_no"] or None,
            fee=fee,
            net=sign * abs(received) - fee,
            counterparty=scrub_pans(get["counterparty"]) or None,
            description=scrub_pans(get["goods"]) or None,
            extra=Extra.of(extra),
        )

    def checks(self, comments: list[str]) -> Iterator[ControlCheck]:
        detail = f"{self.rejected} rejected row(s) are not in the lines" if self.rejected else ""
        footers = {m.group(1): m for text in comments if (m := FOOTER.search(text))}
        for kind, (count, received, discount) in self.totals.items():
            footer = footers.get(kind)
            if footer is None:
                if count:
                    yield ControlCheck(
                        f"#{kind}合计 present",
                        1,
                        0,
                        False,
                        detail="the footer total is missing: the file may be cut short",
                    )
                continue
            rows = count_of(footer.group(2)) or 0
            yield check(f"{kind}合计 笔数", rows, count, detail=detail)
            try:
                stated = to_fen(footer.group(3), "商家实收"), to_fen(footer.group(4), "商家优惠")
            except ValidationError as exc:
                yield ControlCheck(f"{kind}合计", 0, 0, False, detail=exc.render("en"))
                continue
            yield check(f"{kind}合计 商家实收", stated[0], received, unit="CNY", detail=detail)
            yield check(f"{kind}合计 商家优惠", stated[1], discount, unit="CNY", detail=detail)
