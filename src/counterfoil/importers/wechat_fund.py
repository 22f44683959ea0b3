"""WeChat Pay fund-flow bill (资金账单): every movement of the merchant's WeChat balance.

The layout is built from public descriptions of the bill (no real file was available):
a header row — 记账时间, 微信支付业务单号, 资金流水单号, 业务名称, 业务类型, 收支类型,
收支金额（元）, 账户结余（元）, 资金变更提交申请人, 备注, 业务凭证号 — rows whose cells start with
a backtick like the trade bill, then a summary title row (资金流水总笔数, 收入笔数, 收入金额,
支出笔数, 支出金额) and its values. Columns are found by header name.

Each row is a ``booked`` movement: + for 收入, − for 支出. The type comes from 业务类型
(or 业务名称): 交易 → sale, 退款 → refund, 提现 → payout, 手续费 → fee, otherwise credit
or debit. 资金流水单号 is the row's own id (``extra['line_id']``), 微信支付业务单号 the
transaction it belongs to (``platform_id``). Besides the summary, the running balance
is checked: each 账户结余 is the one before plus this movement (in either time order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Final

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
    scrub_pans,
)
from counterfoil.importers.result import Event, Info, ParseResult
from counterfoil.importers.text import (
    SNIFF_BYTES,
    cn_time,
    count_of,
    peek,
    sniff_encoding,
    text_lines,
    to_fen,
)

SOURCE: Final = "wechat_fund"
TITLE: Final = "WeChat Pay fund-flow bill (资金账单)"
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "time": ("记账时间",),
    "transaction_id": ("微信支付业务单号",),
    "flow_id": ("资金流水单号",),
    "business_name": ("业务名称",),
    "business_type": ("业务类型",),
    "direction": ("收支类型",),
    "amount": ("收支金额（元）", "收支金额"),
    "balance": ("账户结余（元）", "账户结余"),
    "submitter": ("资金变更提交申请人",),
    "remark": ("备注",),
    "voucher_no": ("业务凭证号",),
}
REQUIRED: Final = ("time", "flow_id", "direction", "amount")
TYPES: Final = (("退款", "refund"), ("提现", "payout"), ("手续费", "fee"), ("交易", "sale"))
SIGNS: Final = {"收入": 1, "支出": -1}


def parse(stream: IO[bytes], *, file: str) -> ParseResult:
    """Read a WeChat Pay fund-flow bill from ``stream``; ``file`` names it in errors."""
    return ParseResult(SOURCE, file, _events(stream, file))


def _is_header(names: list[str]) -> bool:
    return "记账时间" in names and "资金流水单号" in names


def _events(stream: IO[bytes], file: str) -> Iterator[Event]:
    head, stream = peek(stream)
    encoding = sniff_encoding(head, file=file, default="utf-8", complete=len(head) < SNIFF_BYTES)
    yield Info("encoding", f"{encoding.codec} ({encoding.how})")
    rows = delimited_rows(
        text_lines(stream, file=file, encoding=encoding), file=file, backticks=True
    )
    header = yield from find_header(rows, _is_header, file=file, expected=TITLE)
    columns = header_columns(header, COLUMNS, REQUIRED, file=file, expected=TITLE)
    flow = _Flow(file, columns)
    titles: list[str] | None = None
    summary: dict[str, str] | None = None
    for row in rows:
        if isinstance(row, LineError):
            yield row
        elif is_blank(row.cells):
            continue
        elif titles is not None and summary is None:
            summary = dict(zip(titles, (c.strip() for c in row.cells), strict=False))
        elif titles is not None:
            yield line_error(file, row.line_no, row.raw, _("unexpected row after the summary"))
        elif normalise_header(row.cells[0]) == "资金流水总笔数":
            titles = [normalise_header(c) for c in row.cells]
        else:
            yield flow.line(row)
    yield from flow.checks(summary)


class _Flow:
    """The rows read so far: counts, sums and the running balance."""

    def __init__(self, file: str, columns: ColumnMap) -> None:
        self.file = file
        self.columns = columns
        self.at = {key: columns.at(key) for key in COLUMNS}
        self.count = self.rejected = 0
        self.totals = {"收入": [0, 0], "支出": [0, 0]}  # direction → [count, fen]
        self.previous: tuple[int, int] | None = None  # (balance, signed amount)
        self.breaks_forward = self.breaks_backward = 0

    def line(self, row: Row) -> StatementLine | LineError:
        cells = self.columns.fit(row.cells)
        if cells is None:
            self.rejected += 1
            return width_error(self.file, row.line_no, row.raw, self.columns.width, len(row.cells))
        try:
            line = self._build(row, cells)
        except ValidationError as exc:
            self.rejected += 1
            return rejected(self.file, row.line_no, row.raw, exc)
        self.count += 1
        return line

    def _build(self, row: Row, cells: list[str]) -> StatementLine:
        get = {key: cells[index].strip() for key, index in self.at.items()}
        direction = get["direction"]
        sign = SIGNS.get(direction)
        if sign is None:
            raise ValidationError(
                "收支类型", _("expected 收入 or 支出, got {value!r}"), value=direction[:20]
            )
        amount = sign * abs(to_fen(get["amount"], "收支金额"))
        kind = get["business_type"] or get["business_name"]
        txn_type = next(
            (ours for word, ours in TYPES if word in kind), "credit" if sign > 0 else "debit"
        )
        occurred_at = cn_time(get["time"], "记账时间")
        if get["balance"]:
            self._follow(to_fen(get["balance"], "账户结余"), amount)
        totals = self.totals[direction]
        totals[0] += 1
        totals[1] += abs(amount)
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
            platform_id=get["transaction_id"] or None,
            description=remark or get["business_name"] or None,
            extra=Extra.of(
                {
                    "line_id": get["flow_id"],
                    "business_name": get["business_name"],
                    "business_type": get["business_type"],
                    "balance": get["balance"],
                    "submitter": get["submitter"],
                    "remark": remark,
                    "voucher_no": get["voucher_no"],
                }
            ),
        )

    def _follow(self, balance: int, amount: int) -> None:
        """Count breaks of the running balance, reading the rows forwards and backwards."""
        if self.previous is not None:
            before, before_amount = self.previous
            if balance != before + amount:
                self.breaks_forward += 1
            if before != balance + before_amount:
                self.breaks_backward += 1
        self.previous = (balance, amount)

    def checks(self, summary: dict[str, str] | None) -> Iterator[ControlCheck]:
        detail = f"{self.rejected} rejected row(s) are not in the lines" if self.rejected else ""
        breaks = min(self.breaks_forward, self.breaks_backward)
        yield check(
            "账户结余 follows 收支金额",
            0,
            breaks,
            detail="rows whose balance is not the previous balance ± the amount",
        )
        if summary is None:
            yield ControlCheck(
                "summary rows present",
                1,
                0,
                False,
                detail="the bill ends without 资金流水总笔数…: it may be cut short",
            )
            return
        wanted = {
            "资金流水总笔数": (self.count, "count"),
            "收入笔数": (self.totals["收入"][0], "count"),
            "收入金额": (self.totals["收入"][1], "CNY"),
            "支出笔数": (self.totals["支出"][0], "count"),
            "支出金额": (self.totals["支出"][1], "CNY"),
        }
        for title, text in summary.items():
            name = title.replace("（元）", "")
            if name not in wanted:
                continue
            actual, unit = wanted[name]
            try:
                expected = count_of(text) if unit == "count" else abs(to_fen(text, name))
                if expected is None:
                    raise ValueError(text)
            except (ValidationError, ValueError):
                yield ControlCheck(
                    name, 0, actual, False, unit=unit, detail=f"unreadable value {text[:40]!r}"
                )
                continue
            yield check(name, expected, actual, unit=unit, detail=detail)
