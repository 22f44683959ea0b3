"""The RD summary that comes with a UnionPay ZM file (中国银联全渠道商户交易汇总表).

A GBK text table for people: a title, 商户代码 / 清算日期 and the like, then tables of
counts and debit (借) / credit (贷) totals per transaction type and per card type, each
ending in a 总计 row. The first 总计 row gives the control totals of the ZM lines::

    交易类型   交易笔数   交易金额 借  贷   费用 借  贷   资金清算差额 借  贷
    总计            8      0.00  13227.00  79.36  0.00      0.00  13147.64

Transaction amount is credit − debit, the fee debit − credit (charged to the merchant),
the settlement difference credit − debit. A summary that cannot be read is not an
exception: its ``problem`` says why and the import reports a failed check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Final

from counterfoil.core.errors import ValidationError
from counterfoil.importers.text import count_of, to_fen

MAX_BYTES: Final = 1024 * 1024
_TOTAL: Final = re.compile(r"^\s*总计\s+(\d+)" + r"\s+(-?[\d,]+\.\d+)" * 6 + r"\s*$")


@dataclass(frozen=True)
class RdTotals:
    count: int = 0
    amount: int = 0  # fen, credit − debit
    fee: int = 0  # fen charged to the merchant, debit − credit
    net: int = 0  # fen settled to the merchant, credit − debit
    settle_date: date | None = None
    merchant_no: str | None = None
    problem: str = ""


def read_rd(stream: IO[bytes], *, file: str) -> RdTotals:
    """The control totals of an RD summary (never raises for its content)."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return RdTotals(problem=f"{file}: larger than {MAX_BYTES} bytes: not an RD summary")
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        return RdTotals(
            problem=f"{file}: byte 0x{data[exc.start]:02X} at offset {exc.start} is not GBK text"
        )
    settle = re.search(r"清算日期\s*[:：]\s*(\d{8})", text)
    merchant = re.search(r"商户代码\s*[:：]\s*(\w+)", text)
    settle_date = None
    if settle:
        try:
            settle_date = datetime.strptime(settle.group(1), "%Y%m%d").date()
        except ValueError:
            settle_date = None
    for line in text.splitlines():
        match = _TOTAL.match(line)
        if match:
            break
    else:
        return RdTotals(
            settle_date=settle_date,
            merchant_no=merchant.group(1) if merchant else None,
            problem=f"{file}: no 总计 row with a count and six amounts",
        )
    try:
        amt_d, amt_c, fee_d, fee_c, net_d, net_c = (
            to_fen(value, "RD") for value in match.groups()[1:]
        )
    except ValidationError as exc:
        return RdTotals(problem=f"{file}: {exc.render('en')}")
    rows = count_of(match.group(1))
    if rows is None:
        return RdTotals(problem=f"{file}: the 总计 count is not a number of rows")
    return RdTotals(
        count=rows,
        amount=amt_c - amt_d,
        fee=fee_d - fee_c,
        net=net_c - net_d,
        settle_date=settle_date,
        merchant_no=merchant.group(1) if merchant else None,
    )
