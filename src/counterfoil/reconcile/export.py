"""Break lists as CSV (UTF-8 with a BOM, for Excel) and XLSX (openpyxl), in the reader's
language. Amounts are written as yuan text with two decimals: no float is made."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from counterfoil.core.money import format_amount
from counterfoil.i18n import _, translate

COLUMNS = (
    ("break_id", _("Break")),
    ("status", _("Status")),
    ("outcome", _("Outcome")),
    ("explanation", _("Explanation")),
    ("entry_id", _("Journal entry")),
    ("line", _("Statement line")),
    ("amount_journal", _("Amount in journal")),
    ("amount_statement", _("Amount in statement")),
    ("occurred_at", _("Time")),
    ("scope", _("Scope")),
)
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cells(item: Mapping[str, Any], locale: str | None) -> list[str]:
    out: list[str] = []
    for name, _label in COLUMNS:
        value = item.get(name)
        if name.startswith("amount_") and isinstance(value, int):
            out.append(format_amount(value, grouping=False))
        elif name == "outcome":
            out.append(translate(str(item.get("outcome_label") or value), locale))
        else:
            out.append("" if value is None else str(value))
    return out


def _safe(text: str) -> str:
    """A cell a spreadsheet will not take for a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(items: Iterable[Mapping[str, Any]], locale: str | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([translate(label, locale) for _name, label in COLUMNS])
    for item in items:
        writer.writerow([_safe(c) for c in _cells(item, locale)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(items: Iterable[Mapping[str, Any]], locale: str | None = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(translate(_("Breaks"), locale)[:31])
    sheet.append([translate(label, locale) for _name, label in COLUMNS])
    for item in items:
        sheet.append([_safe(c) for c in _cells(item, locale)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(items: Iterable[Mapping[str, Any]], fmt: str, locale: str | None = None) -> bytes:
    if fmt == "xlsx":
        return to_xlsx(items, locale)
    return to_csv(items, locale)


def export_breaks(
    cf: Any,
    who: Any,
    fmt: str,
    *,
    merchant_no: str | None = None,
    locale: str | None = None,
    **filters: Any,
) -> bytes:
    """Every break the filters select, as ``fmt`` (csv or xlsx); the export is audited."""
    from counterfoil.core.errors import ValidationError
    from counterfoil.reconcile.views import MAX_PAGE, list_breaks
    from counterfoil.store import audit

    if fmt not in FORMATS:
        raise ValidationError("format", _("expected one of {options}"), options=", ".join(FORMATS))

    def job(conn: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            found = list_breaks(
                conn, who, merchant_no, page=page, per_page=MAX_PAGE, locale=locale, **filters
            )
            items += found["items"]
            if len(items) >= found["total"] or not found["items"]:
                break
            page += 1
        audit.record(
            conn,
            who.actor,
            "reconcile.export",
            object_type="recon_breaks",
            object_id=fmt,
            merchant_no=merchant_no,
            details={"breaks": len(items), **{k: v for k, v in filters.items() if v is not None}},
        )
        return items

    return export(cf.write(job), fmt, locale)
