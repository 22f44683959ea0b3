"""The dashboard's figures: today by channel and by terminal, thirty days of volume and
fees, and the latest transactions — confined to what the reader may see.

Volume is the signed gross (fee + net: sales and completions add, voids and refunds
take away, pre-authorisations move nothing). A day is the merchant's calendar day in
its own zone. Each day of the chart is one indexed range query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from counterfoil.services.access import Principal
from counterfoil.services.lookups import Search, business_day, day_bounds, search_for
from counterfoil.services.merchants import get_merchant
from counterfoil.store.schema import journal_entries

j = journal_entries.c
CHART_DAYS = 30


@dataclass(frozen=True, slots=True)
class Line:
    key: str
    count: int
    volume: int  # fen, signed
    fees: int  # fen, signed


def _where(
    merchant_no: str, terminals: tuple[str, ...] | None, first: date, last: date, zone: str
) -> Any:
    start, _ = day_bounds(first, zone)
    _, end = day_bounds(last, zone)
    where = [
        j.merchant_no == merchant_no,
        j.kind.in_(("transaction", "recovered")),
        j.terminal_time >= start,
        j.terminal_time < end,
    ]
    if terminals is not None:
        where.append(j.terminal_id.in_(terminals))
    return and_(*where)


def _grouped(conn: Connection, column: Any, condition: Any) -> list[Line]:
    rows = conn.execute(
        select(
            column,
            func.count(),
            func.coalesce(func.sum(j.fee + j.net), 0),
            func.coalesce(func.sum(j.fee), 0),
        )
        .where(condition)
        .group_by(column)
        .order_by(column)
    )
    return [Line(str(key), int(n), int(volume), int(fees)) for key, n, volume, fees in rows]


def summary(
    conn: Connection, who: Principal, merchant_no: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Today's lines by channel and terminal, the chart's days, the latest transactions."""
    who.require("dashboard.read", merchant_no)
    merchant = get_merchant(conn, merchant_no)
    zone = merchant.timezone
    today = business_day(now or datetime.now(UTC), zone)
    terminals = who.terminals_of(merchant_no)
    condition = _where(merchant_no, terminals, today, today, zone)
    by_channel = _grouped(conn, j.channel, condition)
    by_terminal = _grouped(conn, j.terminal_id, condition)
    days: list[Line] = []
    if not who.today_only:
        for back in range(CHART_DAYS - 1, -1, -1):
            day = today - timedelta(days=back)
            lines = _grouped(conn, j.currency, _where(merchant_no, terminals, day, day, zone))
            days.append(
                Line(
                    day.isoformat(),
                    sum(x.count for x in lines),
                    sum(x.volume for x in lines),
                    sum(x.fees for x in lines),
                )
            )
    recent = search_for(conn, who, Search(merchant_no, per_page=10))
    return {
        "merchant": merchant.as_dict(),
        "today": today.isoformat(),
        "by_channel": by_channel,
        "by_terminal": by_terminal,
        "total": Line(
            "total",
            sum(x.count for x in by_channel),
            sum(x.volume for x in by_channel),
            sum(x.fees for x in by_channel),
        ),
        "days": days,
        "recent": recent["items"],
    }


def chart(days: list[Line], width: int = 640, height: int = 180) -> dict[str, Any]:
    """Bar geometry for the thirty-day chart (volume bars, fee line), in whole pixels."""
    if not days:
        return {"bars": [], "width": width, "height": height, "top": 0}
    top = max(max(d.volume for d in days), 1)
    fee_top = max(max(d.fees for d in days), 1)
    step = width // len(days)
    bars = []
    for i, d in enumerate(days):
        h = max(d.volume, 0) * (height - 20) // top
        fh = max(d.fees, 0) * (height - 20) // fee_top
        bars.append(
            {
                "x": i * step + 2,
                "y": height - h,
                "w": max(step - 4, 1),
                "h": h,
                "fee_y": height - fh,
                "fee_x": i * step + step // 2,
                "line": d,
            }
        )
    return {"bars": bars, "width": width, "height": height, "top": top, "fee_top": fee_top}
