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
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Final, Protocol

from counterfoil.i18n import _
from counterfoil.importers.delimited import (
    ColumnMap,
    Row,
    TextLine,
    delimited_rows,
    find_header,
    header_columns,
    is_blank,
)
from counterfoil.importers.lines import LineError, line_error
from counterfoil.importers.result import Event, Info
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


class TableReader(Protocol):
    """One export's reading of its rows: a line each, then its footer checks."""

    def line(self, row: Row) -> Event: ...

    def checks(self, comments: list[str]) -> Iterator[Event]: ...


def commented_events(
    stream: IO[bytes],
    file: str,
    *,
    title: str,
    is_header: Callable[[list[str]], bool],
    columns: dict[str, tuple[str, ...]],
    required: Iterable[str],
    reader: Callable[[str, ColumnMap, str | None], TableReader],
) -> Iterator[Event]:
    """Find the header, read every row with ``reader``, then the footer checks."""
    source = Commented(stream, file=file)
    rows = source.rows()
    header = yield from find_header(rows, is_header, file=file, expected=title)
    mapped = header_columns(header, columns, tuple(required), file=file, expected=title)
    table = reader(file, mapped, source.account())
    for row in rows:
        if isinstance(row, LineError):
            yield row
        elif is_blank(row.cells):
            continue
        elif source.table_ended:
            yield line_error(file, row.line_no, row.raw, _("a row after the end of the table"))
        else:
            yield table.line(row)
    yield from source.info()
    yield Info("layout", f"{mapped.width} columns")
    yield from table.checks([text for _no, text in source.comments])
