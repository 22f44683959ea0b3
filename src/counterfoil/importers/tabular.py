"""Any bank's CSV or XLSX export, read through a mapping ``Profile``.

The header row is found by number or by a cell it contains; rows before it are titles,
rows from the footer on (a pattern on the first cell, or a count of last rows) are
totals, blank rows are nothing — every other row is a line or a rejected row. Amounts
are signed by the profile (one column and a sign convention, or debit and credit
columns: credit − debit). Unmapped columns are kept in ``extra``; free text is
scanned for card numbers. XLSX numbers are read from their shortest decimal form, so
0.1 + 0.2 = 0.30000000000000004 is refused, not rounded. When the balance column is
mapped, the running balance is checked.
"""

from __future__ import annotations

import warnings
import zipfile
from collections import deque
from collections.abc import Generator, Iterator
from datetime import date, datetime
from typing import IO, Any, Final

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.importers.delimited import (
    ColumnMap,
    Row,
    delimited_rows,
    is_blank,
    normalise_header,
    width_error,
)
from counterfoil.importers.errors import FormatMismatch
from counterfoil.importers.lines import (
    ControlCheck,
    Extra,
    LineError,
    StatementLine,
    check,
    rejected,
    scrub_pans,
)
from counterfoil.importers.profile import COLUMN_KEYS, Profile
from counterfoil.importers.result import Event, Info, ParseResult
from counterfoil.importers.text import (
    SHANGHAI,
    SNIFF_BYTES,
    Encoding,
    cn_time,
    peek,
    sniff_encoding,
    text_lines,
    to_fen,
)

SOURCE: Final = "csv_profile"
HEADER_SCAN: Final = 50
BATCH: Final = 500


def parse(
    stream: IO[bytes], *, file: str, profile: Profile, account: str | None = None
) -> ParseResult:
    """Read a CSV or XLSX export described by ``profile`` from ``stream``."""
    return ParseResult(SOURCE, file, _events(stream, file, profile, account))


def _is_xlsx(stream: IO[bytes], file: str, profile: Profile) -> bool:
    if profile.format != "auto":
        return profile.format == "xlsx"
    if file.lower().endswith((".xlsx", ".xlsm")):
        return True
    return zipfile.is_zipfile(stream)


def _events(stream: IO[bytes], file: str, profile: Profile, account: str | None) -> Iterator[Event]:
    title = profile.title or f"bank export ({profile.name})"
    yield Info("profile", profile.name)
    xlsx = _is_xlsx(stream, file, profile)
    stream.seek(0)
    rows: Iterator[Row | LineError]
    if xlsx:
        rows = _xlsx_rows(stream, file, profile, title)
    else:
        rows = yield from _csv_rows(stream, file, profile)
    header = yield from _header(rows, file, profile, title)
    columns = ColumnMap(header.cells, {k: (v,) for k, v in profile.columns.items()})
    missing = columns.missing(profile.columns)
    if missing:
        raise FormatMismatch(
            file,
            title,
            _("{file}: the header has no column {column} (profile {profile})"),
            column=profile.columns[missing[0]],
            profile=profile.name,
        )
    reader = _Reader(file, profile, columns, account)
    yield from reader.read(_until_footer(rows, profile))
    yield from reader.checks()


def _csv_rows(
    stream: IO[bytes], file: str, profile: Profile
) -> Generator[Info, None, Iterator[Row | LineError]]:
    """The CSV rows, after announcing the encoding chosen (use with ``yield from``)."""
    head, stream = peek(stream)
    if profile.encoding == "auto":
        encoding = sniff_encoding(
            head, file=file, default="utf-8", complete=len(head) < SNIFF_BYTES
        )
    else:
        bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        codec = {"gbk": "gb18030", "utf-8-sig": "utf-8"}.get(profile.encoding, profile.encoding)
        encoding = Encoding(codec, bom if codec == "utf-8" else 0, "the profile says")
    yield Info("encoding", f"{encoding.codec} ({encoding.how})")
    return delimited_rows(
        text_lines(stream, file=file, encoding=encoding), file=file, delimiter=profile.delimiter
    )


def _xlsx_rows(
    stream: IO[bytes], file: str, profile: Profile, title: str
) -> Iterator[Row | LineError]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles it cannot read
            book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:
        raise FormatMismatch(
            file,
            title,
            _("{file}: not a readable XLSX workbook ({problem})"),
            problem=f"{type(exc).__name__}: {str(exc)[:150]}",
        ) from None
    try:
        if profile.sheet and profile.sheet not in book.sheetnames:
            raise FormatMismatch(
                file, title, _("{file}: no sheet named {sheet}"), sheet=profile.sheet
            )
        sheet = book[profile.sheet] if profile.sheet else book.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        number = 0
        while True:
            batch: list[tuple[Any, ...]] = []
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for item in values:
                        batch.append(item)
                        if len(batch) >= BATCH:
                            break
            except Exception as exc:
                raise FormatMismatch(
                    file,
                    title,
                    _("{file}: the sheet cannot be read ({problem})"),
                    problem=f"{type(exc).__name__}: {str(exc)[:150]}",
                ) from None
            for item in batch:
                number += 1
                cells = [_cell_text(value) for value in item]
                yield Row(number, "\t".join(cells), cells)
            if len(batch) < BATCH:
                return
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as text; a number in its shortest exact decimal form."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)


def _header(
    rows: Iterator[Row | LineError], file: str, profile: Profile, title: str
) -> Generator[LineError, None, Row]:
    """Generator returning the header row; rows before it are titles (not data)."""
    for row in rows:
        if isinstance(row, LineError):
            yield row
            continue
        if profile.header_row is not None:
            if row.line_no == profile.header_row:
                return row
            if row.line_no > profile.header_row:
                break
            continue
        wanted = normalise_header(profile.header_contains or profile.columns["date"])
        if any(normalise_header(cell) == wanted for cell in row.cells):
            return row
        if row.line_no >= HEADER_SCAN:
            break
    raise FormatMismatch(
        file,
        title,
        _("{file}: no header row as profile {profile} describes it"),
        profile=profile.name,
    )


def _until_footer(rows: Iterator[Row | LineError], profile: Profile) -> Iterator[Row | LineError]:
    """Data rows: up to the footer pattern, and without the last ``footer_rows`` rows."""
    held: deque[Row] = deque()
    for row in rows:
        if isinstance(row, LineError):
            yield row
            continue
        first = next((c.strip() for c in row.cells if c.strip()), "")
        if profile.footer_pattern is not None and first and profile.footer_pattern.search(first):
            return
        if is_blank(row.cells):
            continue
        held.append(row)
        if len(held) > profile.footer_rows:
            yield held.popleft()


class _Reader:
    def __init__(
        self, file: str, profile: Profile, columns: ColumnMap, account: str | None
    ) -> None:
        self.file = file
        self.profile = profile
        self.columns = columns
        self.account = account
        self.at = {key: columns.at(key) for key in COLUMN_KEYS}
        self.extra = [(columns.names[i], i) for i in columns.unmapped]
        self.count = self.rejected = 0
        self.previous: tuple[int, int] | None = None
        self.breaks_forward = self.breaks_backward = 0
        self.balances = 0

    def read(self, rows: Iterator[Row | LineError]) -> Iterator[StatementLine | LineError]:
        for row in rows:
            if isinstance(row, LineError):
                yield row
                continue
            cells = self.columns.fit(row.cells)
            if cells is None:
                self.rejected += 1
                yield width_error(
                    self.file, row.line_no, row.raw, self.columns.width, len(row.cells)
                )
                continue
            try:
                line = self._build(row, cells)
            except ValidationError as exc:
                self.rejected += 1
                yield rejected(self.file, row.line_no, row.raw, exc)
                continue
            self.count += 1
            yield line

    def _cell(self, cells: list[str], key: str) -> str:
        value = cells[self.at[key]].strip()
        return "" if value in self.profile.empty else value

    def _money(self, cells: list[str], key: str) -> int:
        value = self._cell(cells, key)
        return to_fen(value, self.profile.columns[key], self.profile.currency) if value else 0

    def _build(self, row: Row, cells: list[str]) -> StatementLine:
        profile = self.profile
        if "amount" in profile.columns:
            if not self._cell(cells, "amount"):
                raise ValidationError(profile.columns["amount"], _("the amount is empty"))
            amount = self._money(cells, "amount")
            amount = amount if profile.sign == "credit_positive" else -amount
        else:
            debit, credit = abs(self._money(cells, "debit")), abs(self._money(cells, "credit"))
            if not (self._cell(cells, "debit") or self._cell(cells, "credit")):
                raise ValidationError(
                    profile.columns["debit"], _("both the debit and the credit cell are empty")
                )
            amount = credit - debit
        occurred_at = self._when(cells)
        if "balance" in profile.columns and self._cell(cells, "balance"):
            self._follow(self._money(cells, "balance"), amount)
        counterparty_account = scrub_pans(self._cell(cells, "counterparty_account"))
        extra = {name: scrub_pans(cells[i].strip()) for name, i in self.extra}
        extra.update({"counterparty_account": counterparty_account, "account": self.account or ""})
        return StatementLine(
            source=SOURCE,
            line_no=row.line_no,
            raw=scrub_pans(row.raw),
            occurred_at=occurred_at,
            amount=amount,
            currency=profile.currency,
            txn_type="credit" if amount >= 0 else "debit",
            status="booked",
            platform_id=self._cell(cells, "reference") or None,
            counterparty=scrub_pans(self._cell(cells, "counterparty")) or None,
            description=scrub_pans(self._cell(cells, "description")) or None,
            extra=Extra.of(extra),
        )

    def _when(self, cells: list[str]) -> datetime:
        profile, column = self.profile, self.profile.columns["date"]
        day, clock = self._cell(cells, "date"), self._cell(cells, "time")
        if not day:
            raise ValidationError(column, _("the date is empty"))
        if profile.date_format is None:
            if len(day) == 8 and day.isdecimal():
                day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
            return cn_time(f"{day} {clock}".strip(), column)
        try:
            parsed = datetime.strptime(day, profile.date_format)
            if clock:
                parsed = datetime.combine(
                    parsed.date(),
                    datetime.strptime(clock, profile.time_format or "%H:%M:%S").time(),
                )
        except ValueError:
            raise ValidationError(
                column,
                _("expected a date like {format}, got {value!r}"),
                format=profile.date_format,
                value=day[:40],
            ) from None
        return parsed.replace(tzinfo=SHANGHAI) if parsed.tzinfo is None else parsed

    def _follow(self, balance: int, amount: int) -> None:
        self.balances += 1
        if self.previous is not None:
            before, before_amount = self.previous
            if balance != before + amount:
                self.breaks_forward += 1
            if before != balance + before_amount:
                self.breaks_backward += 1
        self.previous = (balance, amount)

    def checks(self) -> Iterator[ControlCheck]:
        if self.balances > 1:
            yield check(
                "balance follows the amounts",
                0,
                min(self.breaks_forward, self.breaks_backward),
                detail="rows whose balance is not the previous balance ± the amount",
            )
