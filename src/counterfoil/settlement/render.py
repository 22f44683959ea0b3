"""A settlement list as printer text (58 and 80 mm), PDF, CSV, XLSX and JSON, in Chinese
or English.

The list is first laid out as a ``Sheet``: a title, the reprint marking, facts (label
and value) and tables (a heading, column names, rows of text). Every format renders the
same sheet, so they say the same thing; JSON gives the list's data (integer fen) with
the marking beside it. Nothing depends on when or where a copy is made: two copies of
one list differ only in their reprint marking.

- Text: the slip's column rules (``documents/text.py``: wide characters take two
  columns); a row whose cells do not fit on one line puts its figures on the next.
- PDF: A4, the system's Chinese font (the slip's, ``documents/pdf.py``), fixed dates and
  document id, no compression.
- XLSX: openpyxl, the workbook's dates fixed to the day's close, the zip's entries stored
  (not deflated) with a fixed time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from counterfoil.core.errors import ValidationError
from counterfoil.core.labels import LABELS
from counterfoil.documents.text import centred, display_width, wrap
from counterfoil.i18n import _, normalise_locale, translate
from counterfoil.settlement.lists import SettlementList

#: What the other sections call their rows.
GROUP_LABELS: dict[str, str] = {
    "domestic": _("Domestic cards"),
    "foreign": _("Foreign cards"),
    "unknown": _("Cards of unknown origin"),
    "transaction": _("Terminal transactions"),
    "recovered": _("Recovered entries"),
    "adjustment": _("Adjustments"),
    "day_closed": _("Arrived after its day was closed"),
    "batch_closed": _("Arrived after its batch was closed"),
    "d0": _("D+0 (same day)"),
    "t1_calendar": _("T+1 (next calendar day)"),
    "t1_business": _("T+1 (next business day)"),
}


def yuan(fen: int) -> str:
    """1234567 → '12,345.67'; negative with a minus sign. Exact: integers only."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


@dataclass(frozen=True, slots=True)
class Table:
    heading: str
    columns: list[str]
    rows: list[list[str]]
    key: str  # a name for CSV and the JSON of a section


@dataclass(frozen=True, slots=True)
class Sheet:
    title: str
    mark: str
    facts: list[tuple[str, str]]
    tables: list[Table] = field(default_factory=list)
    stamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)  # the document's date: the close
    fingerprint: str = ""  # what identifies the list (not the copy)


def _label(code: str, locale: str) -> str:
    text = LABELS.get(code) or GROUP_LABELS.get(code) or code or "—"
    return translate(text, locale)


def _local(moment: datetime, found: SettlementList) -> str:
    return moment.astimezone(found.settings.zone).strftime("%Y-%m-%d %H:%M")


def sheet(found: SettlementList, locale: str, mark: str) -> Sheet:
    """The list laid out in ``locale``, with the reprint marking ``mark`` ("" if original)."""
    loc = normalise_locale(locale)

    def tr(message: str, **params: Any) -> str:
        return translate(message, loc, **params)

    s = found.summary
    closed = found.closed
    facts = [
        (tr(_("Merchant")), found.merchant_name),
        (tr(_("Merchant no.")), found.merchant_no),
        (tr(_("Terminal")), found.terminal_id or tr(_("All terminals"))),
        (tr(_("Business day")), found.day.isoformat()),
        (
            tr(_("Period")),
            f"{_local(found.start, found)} – {_local(found.end, found)}",
        ),
        (tr(_("Cut-off")), f"{found.settings.cutoff} {found.settings.timezone}"),
        (
            tr(_("Closed at")),
            _local(closed.closed_at, found) if closed else tr(_("Not closed (provisional)")),
        ),
        (tr(_("Settlement cycle")), _label(found.settings.cycle, loc)),
        (tr(_("Expected settlement date")), found.settles_on.isoformat()),
        (tr(_("Currency")), found.currency),
    ]
    money_cols = [tr(_("Count")), tr(_("Amount")), tr(_("Fee")), tr(_("Net"))]

    def rows(lines: list[Any]) -> list[list[str]]:
        return [
            [_label(x.key, loc), str(x.count), yuan(x.volume), yuan(x.fee), yuan(x.net)]
            for x in lines
        ]

    tables = [
        Table(
            tr(_("By transaction type")), [tr(_("Type")), *money_cols], rows(found.by_type), "type"
        ),
        Table(
            tr(_("By channel")), [tr(_("Channel")), *money_cols], rows(found.by_channel), "channel"
        ),
    ]
    if found.by_card_group:
        tables.append(
            Table(tr(_("Cards")), [tr(_("Cards")), *money_cols], rows(found.by_card_group), "cards")
        )
    if found.terminal_id is None and found.by_terminal:
        tables.append(
            Table(
                tr(_("By terminal")),
                [tr(_("Terminal")), *money_cols],
                [
                    [x.key or "—", *r[1:]]
                    for x, r in zip(found.by_terminal, rows(found.by_terminal), strict=True)
                ],
                "terminal",
            )
        )
    if found.other_kinds:
        tables.append(
            Table(
                tr(_("Other entries")),
                [tr(_("Kind")), *money_cols],
                rows(found.other_kinds),
                "other",
            )
        )
    if found.late_items:
        tables.append(
            Table(
                tr(_("Late items")),
                [
                    tr(_("Entry")),
                    tr(_("Business day")),
                    tr(_("Type")),
                    tr(_("Amount")),
                    tr(_("Net")),
                    tr(_("Why")),
                ],
                [
                    [
                        f"{x.terminal_id or '—'} {x.batch_no}/{x.trace_no} #{x.seq}".strip(),
                        x.business_day.isoformat(),
                        f"{_label(x.type, loc)} {_label(x.channel, loc)}",
                        yuan(x.volume),
                        yuan(x.net),
                        _label(x.reason, loc),
                    ]
                    for x in found.late_items
                ],
                "late",
            )
        )
    if found.schedule:
        tables.append(
            Table(
                tr(_("Fee schedule")),
                [tr(_("Channel")), tr(_("Rate")), tr(_("Cap"))],
                [
                    [_label(c, loc), rate, yuan(cap) if cap is not None else "—"]
                    for c, rate, cap in found.schedule
                ],
                "fees",
            )
        )
    tables.append(
        Table(
            tr(_("Totals")),
            [tr(_("Item")), tr(_("Count")), tr(_("Amount"))],
            [
                [tr(_("Sales")), str(s["sales_count"]), yuan(s["sales"])],
                [tr(_("Voids and refunds")), str(s["returns_count"]), yuan(s["returns"])],
                [tr(_("Net volume")), str(s["count"]), yuan(s["volume"])],
                [tr(_("Fees")), "", yuan(s["fee"])],
                [tr(_("Net amount")), "", yuan(s["net"])],
                [tr(_("Late items (net)")), str(s["late_count"]), yuan(s["late_net"])],
                [tr(_("To settle")), "", yuan(s["to_settle"])],
            ],
            "totals",
        )
    )
    title = tr(_("Settlement list"))
    if found.provisional:
        title += " · " + tr(_("provisional"))
    stamp = closed.closed_at if closed else found.end
    fingerprint = hashlib.sha256(
        orjson.dumps(found.as_dict(), option=orjson.OPT_SORT_KEYS) + loc.encode()
    ).hexdigest()
    return Sheet(title, mark, facts, tables, stamp, fingerprint)


# --- text for the printer ---------------------------------------------------------------------


def _pair(label: str, value: str, width: int) -> list[str]:
    gap = width - display_width(label) - display_width(value)
    if gap >= 1:
        return [label + " " * gap + value]
    return wrap(label, width) + [
        " " * max(0, width - display_width(v)) + v for v in wrap(value, width)
    ]


def _row(cells: list[str], width: int) -> list[str]:
    """The first cell on the left and the figures right-aligned: on one line if they fit,
    else the figures on the lines below."""
    first, rest = cells[0], [c for c in cells[1:] if c]
    figures = "  ".join(rest)
    if display_width(first) + 1 + display_width(figures) <= width:
        return _pair(first, figures, width)
    lines = wrap(first, width)
    line = ""
    for cell in rest:
        candidate = f"{line}  {cell}" if line else cell
        if display_width(candidate) > width and line:
            lines.append(" " * (width - display_width(line)) + line)
            candidate = cell
        line = candidate
    if line:
        lines.append(" " * max(0, width - display_width(line)) + line)
    return lines


def render_text(page: Sheet, width: int) -> str:
    lines = list(centred(page.title, width))
    if page.mark:
        lines += list(centred(page.mark, width))
    rule = "-" * width
    lines.append(rule)
    for label, value in page.facts:
        lines += _pair(label, value, width)
    for table in page.tables:
        lines.append(rule)
        lines += list(centred(table.heading, width))
        lines += _row(table.columns, width)
        for row in table.rows:
            lines += _row(row, width)
    lines.append(rule)
    if page.mark:
        lines += list(centred(page.mark, width))
    return "".join(f"{line.rstrip()}\n" for line in lines)


# --- CSV, XLSX, JSON ---------------------------------------------------------------------


def render_csv(page: Sheet) -> bytes:
    """UTF-8 with BOM (so that a spreadsheet reads the Chinese), CRLF: section, then cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([page.title])
    if page.mark:
        writer.writerow(["reprint", page.mark])
    for label, value in page.facts:
        writer.writerow(["facts", label, value])
    for table in page.tables:
        writer.writerow([table.key, *table.columns])
        for row in table.rows:
            writer.writerow([table.key, *row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: str) -> Any:
    """A figure as a number (Decimal: exact), anything else as text."""
    plain = value.replace(",", "")
    if plain.lstrip("-").isdigit():
        return int(plain)
    head, _dot, cents = plain.partition(".")
    if _dot and len(cents) == 2 and head.lstrip("-").isdigit() and cents.isdigit():
        return Decimal(plain)
    return value


#: A fixed time for the zip's entries: the bytes do not depend on when they were made.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def render_xlsx(page: Sheet) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    ws.title = "Settlement"
    bold = Font(bold=True)
    ws.append([page.title])
    ws["A1"].font = bold
    ws.append([page.mark or ""])
    for label, value in page.facts:
        ws.append([label, value])
    for table in page.tables:
        ws.append([])
        ws.append([table.heading])
        ws.cell(ws.max_row, 1).font = bold
        ws.append(table.columns)
        for row in table.rows:
            ws.append([_cell(v) for v in row])
            for column in range(2, len(row) + 1):
                if isinstance(ws.cell(ws.max_row, column).value, Decimal):
                    ws.cell(ws.max_row, column).number_format = "#,##0.00"
    ws.column_dimensions["A"].width = 28
    for letter in "BCDEF":
        ws.column_dimensions[letter].width = 16
    stamp = page.stamp.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    book.properties.created = stamp
    book.properties.modified = stamp
    book.properties.creator = "Counterfoil"
    book.properties.title = page.title
    raw = io.BytesIO()
    book.save(raw)
    return fixed_zip(raw.getvalue(), stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode())


#: openpyxl stamps ``dcterms:modified`` with the moment of saving, whatever was set.
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def fixed_zip(data: bytes, stamp: bytes) -> bytes:
    """The same zip with every entry stored, in the same order, at ``ZIP_TIME``, and the
    workbook's modified time the document's own ``stamp``."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, ZIP_TIME)
            entry.external_attr = 0o600 << 16
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            target.writestr(entry, content)
    return out.getvalue()


def render_json(found: SettlementList, mark: str, locale: str) -> bytes:
    document = {
        "document": "settlement_list",
        "reprint": mark or None,
        "locale": normalise_locale(locale),
        **found.as_dict(),
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


MEDIA = {
    "text58": ("text/plain; charset=utf-8", "txt"),
    "text80": ("text/plain; charset=utf-8", "txt"),
    "pdf": ("application/pdf", "pdf"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "json": ("application/json", "json"),
}


def render(found: SettlementList, fmt: str, locale: str, mark: str) -> tuple[bytes, str, str]:
    """The list in ``fmt``: (bytes, media type, file suffix)."""
    if fmt not in MEDIA:
        raise ValidationError("format", _("expected one of {options}"), options=", ".join(MEDIA))
    media, suffix = MEDIA[fmt]
    if fmt == "json":
        return render_json(found, mark, locale), media, suffix
    page = sheet(found, locale, mark)
    if fmt in ("text58", "text80"):
        width = 32 if fmt == "text58" else 48
        return render_text(page, width).encode("utf-8"), media, suffix
    if fmt == "csv":
        return render_csv(page), media, suffix
    if fmt == "xlsx":
        return render_xlsx(page), media, suffix
    from counterfoil.settlement.pdf import render_pdf

    return render_pdf(page), media, suffix
