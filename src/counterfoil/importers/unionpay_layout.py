"""The fixed-width layout of a UnionPay ZM line: 42 fields, their widths in bytes, names.

Widths are from FORMATS.md; the names follow the public ACP file-interface list (the
Chinese names in the comments). Fields are separated by one space; a line is 607 bytes.
"""

from __future__ import annotations

import struct
from operator import itemgetter
from typing import Final

from counterfoil.importers.lines import Extra, scrub_pans

FIELDS: Final = (
    ("trade_code", 3),  # 交易代码 (S56 = consumption)
    ("acquirer_code", 11),  # 代理机构标识码
    ("sender_code", 11),  # 发送机构标识码
    ("trace_no", 6),  # 系统跟踪号
    ("transmitted_at", 10),  # 交易传输时间 MMDDhhmmss
    ("card", 19),  # 账号 (masked)
    ("amount", 12),  # 交易金额, fen
    ("mcc", 4),  # 商户类别
    ("terminal_type", 2),  # 终端类型
    ("query_id", 21),  # 查询流水号
    ("old_pay_type", 2),  # 支付方式（旧）
    ("order_no", 32),  # 商户订单号
    ("card_type", 2),  # 支付卡类型
    ("orig_trace_no", 6),  # 原始交易的系统跟踪号
    ("orig_transmitted_at", 10),  # 原始交易日期时间
    ("merchant_fee", 13),  # 商户手续费, C/D + 12 digits
    ("settlement_amount", 13),  # 结算金额, C/D + 12 digits
    ("pay_method", 4),  # 支付方式
    ("group_merchant_no", 15),  # 集团商户代码
    ("txn_type_code", 2),  # 交易类型
    ("txn_subtype", 2),  # 交易子类
    ("biz_type", 6),  # 业务类型
    ("account_type", 2),  # 账号类型
    ("bill_type", 4),  # 账单类型
    ("bill_no", 32),  # 账单号码
    ("interaction_mode", 1),  # 交互方式
    ("orig_query_id", 21),  # 原交易查询流水号
    ("merchant_no", 15),  # 商户代码
    ("split_mode", 1),  # 分账入账方式
    ("sub_merchant_no", 15),  # 二级商户代码
    ("sub_merchant_name", 32),  # 二级商户简称
    ("sub_merchant_amount", 13),  # 二级商户分账入账金额
    ("settle_net", 13),  # 清算净额
    ("terminal_id", 8),  # 终端号
    ("merchant_reserved", 32),  # 商户自定义域
    ("discount_amount", 13),  # 优惠金额
    ("invoice_amount", 13),  # 发票金额
    ("installment_fee", 12),  # 分期付款附加手续费
    ("installment_count", 2),  # 分期付款期数
    ("trade_media", 1),  # 交易介质
    ("reserved_1", 32),  # 保留
    ("reserved_2", 98),  # 保留
)
NAMES: Final = tuple(name for name, _width in FIELDS)
WIDTHS: Final = tuple(width for _name, width in FIELDS)
LINE_BYTES: Final = sum(WIDTHS) + len(WIDTHS) - 1  # 607
#: (start, end) byte offsets of each field in a line.
SPANS: Final = tuple((sum(WIDTHS[:i]) + i, sum(WIDTHS[: i + 1]) + i) for i in range(len(WIDTHS)))
#: Free-text fields, where a card number could hide; scrubbed in ``raw`` and ``extra``.
FREE_TEXT: Final = tuple(
    NAMES.index(n) for n in ("sub_merchant_name", "merchant_reserved", "reserved_1", "reserved_2")
)
#: The fields a line is built from, in the order of the line (the parser unpacks them so).
PICKED: Final = (
    "trade_code", "trace_no", "transmitted_at", "card", "amount", "query_id", "order_no",
    "merchant_fee", "settlement_amount", "txn_type_code", "merchant_no", "sub_merchant_name",
    "terminal_id", "merchant_reserved", "reserved_1", "reserved_2",
)  # fmt: skip


def _unpacker() -> struct.Struct:
    """A struct format that skips the fields not picked: one C call cuts a line."""
    parts, position = [], 0
    for name in PICKED:
        start, end = SPANS[NAMES.index(name)]
        parts.append(
            f"{start - position}x{end - start}s" if start > position else f"{end - start}s"
        )
        position = end
    return struct.Struct("".join(parts))


#: ``UNPACK(line)`` → the picked fields as bytes, in ``PICKED`` order.
UNPACK: Final = _unpacker().unpack_from
#: ``PICK(text)`` → the picked fields of a line that is all ASCII, unstripped.
PICK: Final = itemgetter(*(slice(*SPANS[NAMES.index(name)]) for name in PICKED))
#: The fields kept in ``extra``: all but those that became the line's own fields.
KEPT: Final = tuple(i for i, name in enumerate(NAMES) if name not in PICKED or i in FREE_TEXT)


_KEPT_NAMES: Final = tuple(NAMES[i] for i in KEPT)
_KEPT_SPANS: Final = tuple(SPANS[i] for i in KEPT)
_KEPT_CUT: Final = itemgetter(*(slice(start, end) for start, end in _KEPT_SPANS))
_FREE_NAMES: Final = frozenset(NAMES[i] for i in FREE_TEXT)


class LazyExtra(Extra):
    """The fields kept in ``extra``, cut from the line only when someone reads them."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:  # no super().__init__: one call less per line
        self._names, self._values, self._dict = (), (), None
        self._data = data

    def _materialise(self) -> dict[str, str]:
        if self._dict is None:
            data = self._data
            # bytes are characters: decode once, cut in one C call; else a GB18030 name
            # moves the character offsets: cut the bytes
            cells = _KEPT_CUT(data.decode("ascii")) if data.isascii() else _gb18030_cells(data)
            kept: dict[str, str] = {}
            for name, cell in zip(_KEPT_NAMES, cells, strict=True):
                value = cell.strip()
                if value:
                    kept[name] = scrub_pans(value) if name in _FREE_NAMES else value
            self._dict = kept
        return self._dict


def _gb18030_cells(data: bytes) -> tuple[str, ...]:
    """The kept fields of a line that is not all ASCII, each decoded on its own. The
    fields are joined by a NUL byte and decoded at once (a decode per field cost 40 µs a
    line): no GB18030 character has a NUL byte, so where every field holds whole
    characters and no NUL the cells are the same; any other line is cut field by field."""
    try:
        cells = b"\x00".join(_KEPT_CUT(data)).decode("gb18030").split("\x00")
    except UnicodeDecodeError:
        cells = []
    if len(cells) == len(_KEPT_SPANS):
        return tuple(cells)
    return tuple(data[start:end].decode("gb18030", errors="replace") for start, end in _KEPT_SPANS)
