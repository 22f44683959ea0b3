"""Delimited text (CSV) rows with their line numbers, and columns found by header name.

Statement CSVs are mostly plain: no quotes, one record per line. Those lines are split
directly (the csv module costs twice as much on a million rows); a line with quotes
goes through ``csv`` and may continue over several physical lines. A quote that is
never closed rejects its first line after ``MAX_RECORD_LINES`` and the lines after it
are read again, so one stray quote cannot swallow the rest of a file.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Final, NamedTuple

from counterfoil.i18n import _
from counterfoil.importers.errors import FormatMismatch
from counterfoil.importers.lines import LineError, line_error

MAX_RECORD_LINES: Final = 50

TextLine = tuple[int, str]


class Row(NamedTuple):
    line_no: int  # the first physical line of the record
    raw: str  # the record as written (several lines joined by "\n" when quoted)
    cells: list[str]


def _row(line_no: int, raw: str, cells: list[str]) -> Row:
    return _new_tuple(Row, (line_no, raw, cells))  # C-level: a third of Row(...)'s cost


_new_tuple = tuple.__new__


def _split_quoted(text: str, delimiter: str, backticks: bool) -> list[str] | None:
    try:
        cells = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # e.g. a line break in a cell that is not quoted
        return None
    if backticks:
        cells = [c[1:] if c.startswith("`") else c for c in cells]
    return cells


def delimited_rows(
    lines: Iterable[TextLine | LineError],
    *,
    file: str,
    delimiter: str = ",",
    backticks: bool = False,
) -> Iterator[Row | LineError]:
    """Records of delimited text. ``backticks`` drops the '`' that starts a WeChat cell."""
    source = iter(lines)
    back: deque[TextLine | LineError] = deque()  # lines to read again after a bad quote
    tick = delimiter + "`"
    new_tuple = _new_tuple
    width = -1  # cells in the last row split on ",`" that was checked cell by cell

    def pull() -> TextLine | LineError | None:
        return back.popleft() if back else next(source, None)

    def quoted(number: int, text: str) -> Iterator[Row | LineError]:
        """A row with quotes: csv reads it, over several lines when a cell continues."""
        if text.count('"') % 2 == 0:
            cells = _split_quoted(text, delimiter, backticks)
            yield (
                Row(number, text, cells)
                if cells is not None
                else line_error(file, number, text, _("the quotes of this row do not pair up"))
            )
            return
        pending: list[TextLine] = [(number, text)]
        quotes = text.count('"')
        closed = False
        while len(pending) < MAX_RECORD_LINES:
            follow = pull()
            if follow is None:
                break
            if isinstance(follow, LineError):  # an undecodable line cannot continue a cell
                back.appendleft(follow)
                break
            pending.append(follow)
            quotes += follow[1].count('"')
            if quotes % 2 == 0:
                closed = True
                break
        joined = "\n".join(t for _, t in pending)
        record = _split_quoted(joined, delimiter, backticks) if closed else None
        if record is not None:
            yield Row(number, joined, record)
        else:
            yield line_error(file, number, text, _("a quoted cell is never closed"))
            back.extendleft(reversed(pending[1:]))

    def slow(first: TextLine | LineError) -> Iterator[Row | LineError]:
        """Anything but a plain row: an undecodable line, quotes, lines read again."""
        item: TextLine | LineError | None = first
        while item is not None:
            if isinstance(item, LineError):
                yield item
            elif '"' in item[1]:
                yield from quoted(*item)
            elif backticks:
                body = item[1].replace(tick, delimiter)
                yield Row(
                    item[0], item[1], (body[1:] if body[:1] == "`" else body).split(delimiter)
                )
            else:
                yield Row(item[0], item[1], item[1].split(delimiter))
            item = back.popleft() if back else None

    for item in source:
        if type(item) is tuple and '"' not in item[1]:  # the plain row: kept quick
            number, text = item
            if backticks:
                # Every cell starts with '`': split on ",`" unless some cell lacks it (a
                # row as wide as the last one that was checked is taken as it is).
                cells = text[1:].split(tick) if text[:1] == "`" else []
                if len(cells) != width:
                    if len(cells) == text.count(delimiter) + 1:
                        width = len(cells)
                    else:
                        body = text.replace(tick, delimiter)
                        cells = (body[1:] if body[:1] == "`" else body).split(delimiter)
                yield new_tuple(Row, (number, text, cells))
            else:
                yield new_tuple(Row, (number, text, text.split(delimiter)))
        else:
            yield from slow(item)


def normalise_header(name: str) -> str:
    """Header text compared loosely: no spaces, BOM, backtick or tab; full-width brackets."""
    cleaned = name.replace("\ufeff", "").replace("`", "").replace("\t", "")
    cleaned = "".join(cleaned.split())
    return cleaned.replace("(", "（").replace(")", "）")


class ColumnMap:
    """Where each wanted column is, by header name (with aliases), in one header row.

    ``index[key]`` is the position of the column; ``at(key)`` is -1 when it is absent,
    which reads the empty cell that ``fit`` appends to every row.
    """

    def __init__(self, header: Sequence[str], wanted: Mapping[str, Sequence[str]]) -> None:
        self.names = [normalise_header(cell) for cell in header]
        self.width = len(header)
        self.index: dict[str, int] = {}
        positions = {name: i for i, name in reversed(list(enumerate(self.names)))}
        for key, aliases in wanted.items():
            for alias in aliases:
                position = positions.get(normalise_header(alias))
                if position is not None:
                    self.index[key] = position
                    break
        used = set(self.index.values())
        self.unmapped = [i for i, name in enumerate(self.names) if i not in used and name]

    def at(self, key: str) -> int:
        return self.index.get(key, -1)

    def missing(self, required: Iterable[str]) -> list[str]:
        return [key for key in required if key not in self.index]

    def fit(self, cells: list[str]) -> list[str] | None:
        """The row's cells plus one empty cell, or None when it has too few or too many
        (blank cells past the header's width are tolerated)."""
        width = self.width
        if len(cells) != width:
            if len(cells) < width or "".join(cells[width:]).strip():
                return None
            del cells[width:]
        cells.append("")
        return cells


def header_columns(
    header: Row,
    wanted: Mapping[str, Sequence[str]],
    required: Iterable[str],
    *,
    file: str,
    expected: str,
) -> ColumnMap:
    """The header's columns; without a required one, the file is not the format expected."""
    columns = ColumnMap(header.cells, wanted)
    missing = columns.missing(required)
    if missing:
        raise FormatMismatch(
            file,
            expected,
            _("{file}: the header of a {expected} has no column {column}"),
            column=wanted[missing[0]][0],
        )
    return columns


def width_error(file: str, line_no: int, raw: str, width: int, found: int) -> LineError:
    """A row with more or fewer cells than the header: reported, never guessed at."""
    return line_error(
        file,
        line_no,
        raw,
        _("expected {expected} columns, found {found}"),
        expected=width,
        found=found,
    )


def is_blank(cells: Sequence[str]) -> bool:
    return not "".join(cells).strip(" \t`")


def find_header(
    rows: Iterator[Row | LineError],
    is_header: Callable[[list[str]], bool],
    *,
    file: str,
    expected: str,
    limit: int = 20,
) -> Generator[LineError, None, Row]:
    """Skip title lines until the header row (``is_header`` sees normalised names).

    Undecodable lines on the way are passed on; no header in ``limit`` non-blank rows
    means the file is not the format expected.
    """
    seen = 0
    for row in rows:
        if isinstance(row, LineError):
            yield row
            continue
        if is_blank(row.cells):
            continue
        if is_header([normalise_header(cell) for cell in row.cells]):
            return row
        seen += 1
        if seen >= limit:
            break
    raise FormatMismatch(
        file,
        expected,
        _(
            "{file}: this is not a {expected}: no header row "
            "with its columns in the first {limit} lines"
        ),
        limit=limit,
    )
