"""Reports: daily, weekly and monthly volume, fees and net per channel and per terminal,
and the month's summary for tax filing.

A report adds up settlement lists: each business day of the period as its list says
(a closed day as it was closed, with the late items it carries; a day still open as the
journal holds it now), so that a report and the lists it covers always agree. Weeks
start on Monday; a period's row is named by its first day (a week) or ``YYYY-MM``.
``reports.read`` reads them, for the reader's merchants.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from counterfoil.core.errors import ValidationError
from counterfoil.core.models import check_terminal_id
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.settlement import lists
from counterfoil.settlement.days import settings_of

PERIODS = ("daily", "weekly", "monthly")
MAX_DAYS = 400


@dataclass(slots=True)
class Figures:
    count: int = 0
    volume: int = 0
    fee: int = 0
    net: int = 0

    def add(self, count: int, volume: int, fee: int, net: int) -> None:
        self.count += count
        self.volume += volume
        self.fee += fee
        self.net += net

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "volume": self.volume, "fee": self.fee, "net": self.net}


@dataclass(slots=True)
class Row:
    period: str  # 2026-11-20, the week's Monday, or 2026-11
    total: Figures = field(default_factory=Figures)
    by_channel: dict[str, Figures] = field(default_factory=dict)
    by_terminal: dict[str, Figures] = field(default_factory=dict)
    sales: int = 0
    returns: int = 0
    late_net: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            **self.total.as_dict(),
            "sales": self.sales,
            "returns": self.returns,
            "late_net": self.late_net,
            "by_channel": {k: v.as_dict() for k, v in sorted(self.by_channel.items())},
            "by_terminal": {k: v.as_dict() for k, v in sorted(self.by_terminal.items())},
        }


def _key(day: date, period: str) -> str:
    if period == "daily":
        return day.isoformat()
    if period == "weekly":
        return (day - timedelta(days=day.weekday())).isoformat()
    return f"{day:%Y-%m}"


def check_range(first: date, last: date) -> None:
    if first > last:
        raise ValidationError("date_to", _("expected an end date on or after the start"))
    if (last - first).days >= MAX_DAYS:
        raise ValidationError("date_to", _("expected at most {limit} days"), limit=MAX_DAYS)


def month_range(month: str) -> tuple[date, date]:
    """'2026-11' → its first and last day."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ValidationError("month", _("expected a month as YYYY-MM")) from None
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


def report(
    conn: Connection,
    who: Principal,
    merchant_no: str | None,
    first: date,
    last: date,
    period: str = "daily",
    terminal: str | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Rows of ``period`` from ``first`` to ``last`` (business days), up to today."""
    if period not in PERIODS:
        raise ValidationError("period", _("expected one of {options}"), options=", ".join(PERIODS))
    check_range(first, last)
    merchant = who.default_merchant(merchant_no)
    if not merchant:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("reports.read", merchant)
    terminal = check_terminal_id(terminal) if terminal else None
    today = settings_of(conn, merchant).business_day(now or datetime.now(UTC))
    rows: dict[str, Row] = {}
    total = Row("total")
    day = first
    while day <= min(last, today):
        found = lists.compose(conn, merchant, day, terminal, now=now)
        row = rows.setdefault(_key(day, period), Row(_key(day, period)))
        for target in (row, total):
            _add_list(target, found)
        day += timedelta(days=1)
    return {
        "merchant_no": merchant,
        "terminal_id": terminal,
        "period": period,
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        "rows": [rows[k].as_dict() for k in sorted(rows)],
        "total": total.as_dict(),
    }


def _add_list(row: Row, found: lists.SettlementList) -> None:
    s = found.summary
    row.total.add(
        s["count"] + s["late_count"],
        s["volume"] + s["late_volume"],
        s["fee"] + s["late_fee"],
        s["net"] + s["late_net"],
    )
    row.sales += s["sales"]
    row.returns += s["returns"]
    row.late_net += s["late_net"]
    for line in found.by_channel:
        row.by_channel.setdefault(line.key, Figures()).add(
            line.count, line.volume, line.fee, line.net
        )
    for line in found.by_terminal:
        row.by_terminal.setdefault(line.key, Figures()).add(
            line.count, line.volume, line.fee, line.net
        )
    for item in found.late_items:
        if item.reason == "day_closed":
            row.by_channel.setdefault(item.channel, Figures()).add(
                1, item.volume, item.fee, item.net
            )
            row.by_terminal.setdefault(item.terminal_id, Figures()).add(
                1, item.volume, item.fee, item.net
            )


def tax_summary(monthly: dict[str, Any]) -> dict[str, Any]:
    """The month's figures a tax filing asks for: sales, returns, net turnover, fees paid
    (an expense), and turnover by channel."""
    total = monthly["total"]
    return {
        "merchant_no": monthly["merchant_no"],
        "month": monthly["date_from"][:7],
        "sales": total["sales"],
        "returns": total["returns"],
        "turnover": total["volume"],
        "fees": total["fee"],
        "net_received": total["net"],
        "by_channel": {k: v["volume"] for k, v in total["by_channel"].items()},
    }


# --- export ---------------------------------------------------------------------------------


def table(found: dict[str, Any], locale: str) -> tuple[list[str], list[list[Any]]]:
    """The report as a table: a row per period and channel, then per period and terminal."""
    header = [
        translate(x, locale)
        for x in (_("Period"), _("Group"), _("Name"), _("Count"), _("Amount"), _("Fee"), _("Net"))
    ]
    rows: list[list[Any]] = []
    for row in [*found["rows"], found["total"]]:
        period = row["period"] if row["period"] != "total" else translate(_("Total"), locale)
        rows.append([period, "", "", row["count"], row["volume"], row["fee"], row["net"]])
        for group, key in ((_("Channel"), "by_channel"), (_("Terminal"), "by_terminal")):
            for name, f in row[key].items():
                rows.append(
                    [
                        period,
                        translate(group, locale),
                        name,
                        f["count"],
                        f["volume"],
                        f["fee"],
                        f["net"],
                    ]
                )
    return header, rows


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def to_csv(found: dict[str, Any], locale: str) -> bytes:
    header, rows = table(found, locale)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([*r[:4], *(_yuan(int(x)) for x in r[4:])])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(found: dict[str, Any], locale: str) -> bytes:
    from decimal import Decimal

    from openpyxl import Workbook

    from counterfoil.settlement.render import fixed_zip

    header, rows = table(found, locale)
    book = Workbook()
    ws = book.active
    ws.title = "Report"
    ws.append(header)
    for r in rows:
        ws.append([*r[:4], *(Decimal(int(x)).scaleb(-2) for x in r[4:])])
        for column in range(5, 8):
            ws.cell(ws.max_row, column).number_format = "#,##0.00"
    stamp = datetime.fromisoformat(found["date_to"])
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "Counterfoil"
    raw = io.BytesIO()
    book.save(raw)
    return fixed_zip(raw.getvalue(), stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode())
