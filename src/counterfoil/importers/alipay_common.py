"""What Alipay's two merchant exports share: ``#`` comment lines around a CSV table.

Both the trade bill (业务明细) and the account statement (账务明细) are GBK text: comment
lines starting with ``#`` (the title, ``#账号：[2088…]``, the period, a dashed
``…列表…`` line), the header, the rows, another dashed ``…列表结束…`` line, the footer
totals (``#交易合计：3笔，商家实收共300.00元…``) and ``#导出时间：[…]``. Comment lines
are set aside as they pass (the footer is read at the end); id cells end with a tab,
so every cell is stripped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import IO, Final

from counterfoil.importers.delimited import Row, TextLine, delimited_rows
from counterfoil.importers.lines import LineError
from counterfoil.importers.result import Info
from counterfoil.importers.text import SNIFF_BYTES, peek, sniff_encoding, text_lines

MAX_COMMENTS: Final = 1000
ACCOUNT: Final = re.compile(r"账号\s*[:：]\s*\[?\s*([^\]\s]+)")
PERIOD: Final = re.compile(r"起始日期\s*[:：]\s*\[([^\]]*)\].*?终止日期\s*[:：]\s*\[([^\]]*)\]")
EXPORTED: Final = re.compile(r"导出时间\s*[:：]\s*\[([^\]]*)\]")


class Commented:
    """The rows of an Alipay export, with its comment lines collected on the way."""

    def __init__(self, stream: IO[bytes], *, file: str) -> None:
        head, self.stream = peek(stream)
        self.file = file
        self.encoding = sniff_encoding(
            head, file=file, default="gb18030", complete=len(head) < SNIFF_BYTES
        )
        self.comments: list[tuple[int, str]] = []
        self.table_ended = False

    def _uncommented(self, lines: Iterable[TextLine | LineError]) -> Iterator[TextLine | LineError]:
        for item in lines:
            if not isinstance(item, LineError) and item[1].lstrip().startswith("#"):
                text = item[1].strip().lstrip("#").strip()
                if "结束" in text and "列表" in text:
                    self.table_ended = True
                if len(self.comments) < MAX_COMMENTS:
                    self.comments.append((item[0], text))
                continue
            yield item

    def rows(self) -> Iterator[Row | LineError]:
        lines = text_lines(self.stream, file=self.file, encoding=self.encoding)
        for row in delimited_rows(self._uncommented(lines), file=self.file):
            if isinstance(row, Row):
                row.cells[:] = [cell.strip() for cell in row.cells]
            yield row

    def info(self) -> Iterator[Info]:
        yield Info("encoding", f"{self.encoding.codec} ({self.encoding.how})")
        for _line_no, text in self.comments:
            if match := ACCOUNT.search(text):
                yield Info("account", match.group(1))
            elif match := PERIOD.search(text):
                yield Info("period_start", match.group(1).strip())
                yield Info("period_end", match.group(2).strip())
            elif match := EXPORTED.search(text):
                yield Info("exported_at", match.group(1).strip())

    def account(self) -> str | None:
        for _line_no, text in self.comments:
            if match := ACCOUNT.search(text):
                return match.group(1)
        return None
