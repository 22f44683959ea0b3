"""Settlement and report routes.

``settlement.read``: a day's list as data (``GET /api/v1/settlement``), a copy of it as a
document (``POST /api/v1/settlement/issue``: recorded; the first is the original, later
ones reprints), the copies issued. ``settlement.close``: close a day. ``reports.read``:
daily, weekly and monthly reports (JSON, CSV, XLSX), the tax summary and the chart of a
month (SVG, PNG). The services confine each to the caller's merchants.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.api.responses import JSON
from counterfoil.api.transactions import read_json
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.settlement import charts, lists, reports

router = APIRouter(prefix="/api/v1", tags=["settlement"])
Reader = Annotated[Principal, Depends(requires("settlement.read"))]
Closer = Annotated[Principal, Depends(requires("settlement.close"))]
ReportReader = Annotated[Principal, Depends(requires("reports.read"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
Day = Annotated[str, Query(max_length=10)]
Terminal = Annotated[str | None, Query(max_length=8)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value or None
    raise ValidationError(name, _("expected text"))


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request, 4096)
    if not isinstance(body, dict):
        raise ValidationError("$", _("expected a JSON object"))
    return body


@router.get("/settlement", summary="A business day's settlement list, as data")
async def settlement_list(
    request: Request, who: Reader, date: Day, merchant: MerchantNo = None, terminal: Terminal = None
) -> dict[str, Any]:
    found = await asyncio.to_thread(
        cf_of(request).read, lambda conn: lists.build(conn, who, merchant, date, terminal)
    )
    return found.as_dict()


@router.post(
    "/settlement/issue",
    summary="Issue a copy of a day's list: {merchant, date, terminal?, format, locale}",
    responses={200: {"description": "The document, with X-Issue-No (0: the original)"}},
)
async def issue(request: Request, who: Reader) -> Response:
    body = await _object(request)
    issued = await asyncio.to_thread(
        lists.issue,
        cf_of(request),
        who,
        _text(body, "merchant"),
        _text(body, "date"),
        _text(body, "terminal"),
        fmt=_text(body, "format") or "text80",
        locale=_text(body, "locale") or locale_of(request),
    )
    return Response(
        issued.content,
        media_type=issued.media_type,
        headers={
            "X-Issue-No": str(issued.issue_no),
            "Content-Disposition": f'attachment; filename="{issued.file_name}"',
        },
    )


@router.post("/settlement/close", summary="Close a business day: {merchant, date}")
async def close(request: Request, who: Closer) -> JSON:
    body = await _object(request)
    closed = await asyncio.to_thread(
        lists.close_day, cf_of(request), who, _text(body, "merchant"), _text(body, "date")
    )
    return JSON(
        {
            "business_day": closed.day.isoformat(),
            "closed_at": closed.closed_at.isoformat(),
            "through_seq": closed.through_seq,
            "settles_on": closed.settles_on.isoformat(),
        },
        status_code=201,
    )


@router.get("/settlement/issues", summary="The copies issued of a day's lists")
async def issues(
    request: Request, who: Reader, date: Day, merchant: MerchantNo = None
) -> dict[str, Any]:
    items = await asyncio.to_thread(
        cf_of(request).read, lambda conn: lists.issues_of(conn, who, merchant, date)
    )
    return {"items": items}


def _range(month: str | None, date_from: str | None, date_to: str | None) -> tuple[Any, Any]:
    if month:
        return reports.month_range(month)
    if not date_from or not date_to:
        raise ValidationError("month", _("expected a month, or date_from and date_to"))
    return lists.check_day(date_from), lists.check_day(date_to)


@router.get("/reports", summary="Volume, fees and net by day, week or month (json, csv, xlsx)")
async def report(
    request: Request,
    who: ReportReader,
    merchant: MerchantNo = None,
    month: Annotated[str | None, Query(max_length=7)] = None,
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
    period: Annotated[str, Query(max_length=10)] = "daily",
    terminal: Terminal = None,
    format: Annotated[str, Query(max_length=5)] = "json",
) -> Response:
    first, last = _range(month, date_from, date_to)
    found = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: reports.report(conn, who, merchant, first, last, period, terminal),
    )
    name = f"report-{found['merchant_no']}-{first.isoformat()}-{last.isoformat()}-{period}"
    if format == "csv":
        return Response(
            reports.to_csv(found, locale_of(request)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        return Response(
            reports.to_xlsx(found, locale_of(request)),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    if format != "json":
        raise ValidationError("format", _("expected one of {options}"), options="json, csv, xlsx")
    return JSON(found)


@router.get("/reports/tax", summary="A month's summary for tax filing")
async def tax(
    request: Request,
    who: ReportReader,
    month: Annotated[str, Query(max_length=7)],
    merchant: MerchantNo = None,
) -> dict[str, Any]:
    first, last = reports.month_range(month)
    found = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: reports.report(conn, who, merchant, first, last, "monthly"),
    )
    return reports.tax_summary(found)


@router.get("/reports/chart", summary="A month's daily volume and fees as SVG or PNG")
async def chart(
    request: Request,
    who: ReportReader,
    month: Annotated[str, Query(max_length=7)],
    merchant: MerchantNo = None,
    terminal: Terminal = None,
    format: Annotated[str, Query(max_length=4)] = "svg",
) -> Response:
    first, last = reports.month_range(month)
    found = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: reports.report(conn, who, merchant, first, last, "daily", terminal),
    )
    if format == "png":
        return Response(charts.png(found["rows"]), media_type="image/png")
    if format != "svg":
        raise ValidationError("format", _("expected one of {options}"), options="svg, png")
    locale = locale_of(request)
    svg = charts.svg(
        found["rows"],
        translate(_("Daily volume and fees"), locale),
        translate(_("Volume"), locale),
        translate(_("Fees"), locale),
    )
    return Response(svg, media_type="image/svg+xml")
