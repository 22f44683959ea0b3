"""Alipay account statement (账务明细): every movement of the merchant's Alipay balance.

GBK, ``#`` comment lines like the trade bill. Columns (by name): 账务流水号, 业务流水号,
商户订单号, 商品名称, 发生时间, 对方账号, 收入金额（+元）, 支出金额（-元）, 账户余额（元）,
交易渠道, 业务类型, 备注; newer exports add 业务描述 and 业务基础订单号.

A row is a ``booked`` movement of 收入 − 支出 (支出 may be written with or without its
minus sign). 账务流水号 is the row's own id (``extra['line_id']``), 业务流水号 the Alipay
transaction (``platform_id``). The type comes from 业务类型: 退款 → refund, 提现 →
payout, 服务费 / 手续费 / 收费 → fee, 交易 / 在线支付 / 收款 → sale (on money in),
otherwise credit or debit. Checked: the footer ``#收入合计：N笔，共X元`` and
``#支出合计：…``, and the running 账户余额 (each balance is the one before plus the row).
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

SOURCE: Final = "alipay_account"
TITLE: Final = "Alipay account statement (账务明细)"
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "flow_no": ("账务流水号",),
    "trade_no": ("业务流水号",),
    "order_no": ("商户订单号",),
    "goods": ("商品名称",),
    "time": ("发生时间",),
    "counterparty": ("对方账号",),
    "income": ("收入金额（+元）", "收入金额（元）", "收入金额"),
    "expense": ("支出金额（-元）", "支出金额（元）", "支出金额"),
    "balance": ("账户余额（元）", "账户余额"),
    "channel": ("交易渠道",),
    "kind": ("业务类型",),
    "remark": ("备注",),
    "description": ("业务描述",),
    "base_order_no": ("业务基础订单号",),
}
REQUIRED: Final = ("flow_no", "time", "income", "expense")
TYPES: Final = (
    ("退款", "refund"),
    ("提现", "payout"),
    ("服务费", "fee"),
    ("手续费", "fee"),
    ("收费", "fee"),
    ("交易", "sale"),
    ("在线支付", "sale"),
    ("收款", "sale"),
)
FOOTER: Final = re.compile(
    r"(收入|支出)合计\s*[:：]\s*(\d+)\s*笔\s*[，,]\s*共\s*"
    r"([-+]?[\d,]*\.?\d*)\s*元"
)


def parse(stream: IO[bytes], *, file: str) -> ParseResult:
    """Read an Alipay account statement (账务明细) from ``stream``."""
    return ParseResult(SOURCE, file, _events(stream, file))


def _is_header(names: list[str]) -> bool:
    return "账务流水号" in names and "发生时间" in names


def _events(stream: IO[bytes], file: str) -> Iterator[Event]:
    return commented_events(
        stream,
        file,
        title=TITLE,
        is_header=_is_header,
        columns=COLUMNS,
        required=REQUIRED,
        reader=_Ledger,
    )


class _Ledger:
    def __init__(self, file: str, columns: ColumnMap, account: str | None) -> None:
        self.file = file
        self.columns = columns
        self.account = account
        self.at = {key: columns.at(key) for key in COLUMNS}
        self.rejected = 0
        self.totals = {"收入": [0, 0], "支出": [0, 0]}  # direction → [rows, fen]
        self.previous: tuple[int, int] | None = None
        self.breaks_forward = self.breaks_backward = 0

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
        income = abs(to_fen_or_zero(get["income"], "收入金额"))
        expense = abs(to_fen_or_zero(get["expense"], "支出金额"))
        if income and expense:
            raise ValidationError("收入金额", _("a row is either money in or money out, not both"))
        amount = income - expense
        kind = get["kind"]
        txn_type = next(
            (ours for word, ours in TYPES if word in kind), "credit" if amount >= 0 else "debit"
        )
        if txn_type == "sale" and amount < 0:
            txn_type = "debit"  # money out on a 交易 row is a payment by the merchant
        occurred_at = cn_time(get["time"], "发生时间")
        if get["balance"]:
            self._follow(to_fen(get["balance"], "账户余额"), amount)
        direction = "收入" if amount >= 0 else "支出"
        self.totals[direction][0] += 1
        self.totals[direction][1] += abs(amount)
        remark = scrub_pans(get["remark"])
        return StatementLine(
            source=SOURCE,
            line_no=row.line_no,
            raw=scrub_pans(row.raw),
            occurred_at=occurred_at,
            amount=amount,
            currency="CNY",
            txn_type=txn_type,
            status="booked",
            merchant_no=self.account,
            order_no=get["order_no"] or None,
            platform_id=get["trade_no"] or None,
            counterparty=scrub_pans(get["counterparty"]) or None,
            description=scrub_pans(get["goods"]) or remark or None,
            extra=Extra.of(
                {
                    "line_id": get["flow_no"],
                    "balance": get["balance"],
                    "channel": get["channel"],
                    "business_type": kind,
                    "remark": remark,
                    "business_description": scrub_pans(get["description"]),
                    "base_order_no": get["base_order_no"],
                    "account": self.account,
                }
            ),
        )

    def _follow(self, balance: int, amount: int) -> None:
        if self.previous is not None:
            before, before_amount = self.previous
            if balance != before + amount:
                self.breaks_forward += 1
            if before != balance + before_amount:
                self.breaks_backward += 1
        self.previous = (balance, amount)

    def checks(self, comments: list[str]) -> Iterator[ControlCheck]:
        detail = f"{self.rejected} rejected row(s) are not in the lines" if self.rejected else ""
        yield check(
            "账户余额 follows the rows",
            0,
            min(self.breaks_forward, self.breaks_backward),
            detail="rows whose balance is not the previous balance ± the amount",
        )
        footers = {m.group(1): m for text in comments if (m := FOOTER.search(text))}
        for direction, (count, total) in self.totals.items():
            footer = footers.get(direction)
            if footer is None:
                if count:
                    yield ControlCheck(
                        f"#{direction}合计 present",
                        1,
                        0,
                        False,
                        detail="the footer total is missing: the file may be cut short",
                    )
                continue
            stated = count_of(footer.group(2)) or 0
            yield check(f"{direction}合计 笔数", stated, count, detail=detail)
            try:
                stated = abs(to_fen(footer.group(3), direction))
            except ValidationError as exc:
                yield ControlCheck(f"{direction}合计", 0, 0, False, detail=exc.render("en"))
                continue
            yield check(f"{direction}合计 金额", stated, total, unit="CNY", detail=detail)
